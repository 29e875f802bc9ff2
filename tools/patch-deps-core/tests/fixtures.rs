//! patch-deps on the fixture repositories (tests/fixtures/patch-deps),
//! natively: each vulnerable pin is raised to the lowest fixed version, the
//! files keep every byte the fix does not touch, what cannot be fixed is
//! reported with the command that would, and a second run finds nothing.

use std::path::{Path, PathBuf};

use airlock_patch_deps::{Input, Output, load_advisories, patch};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/patch-deps")
}

/// A temporary checkout holding a copy of one fixture repository.
fn checkout(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixtures().join(name), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn run(root: &Path) -> Output {
    let advisories = fixtures().join("advisories");
    let input = Input { advisories: Some(advisories.display().to_string()), ..Input::default() };
    let db = load_advisories(root, &input).expect("advisories load");
    patch(root, &input, &db).expect("patch-deps runs")
}

fn read(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join(name)).expect("read")
}

/// The original fixture file with exactly these replacements made.
fn expected(fixture: &str, file: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(fixtures().join(fixture).join(file)).expect("read fixture");
    for (old, new) in edits {
        assert_eq!(text.matches(old).count(), 1, "`{old}` is not unique in {fixture}/{file}");
        text = text.replace(old, new);
    }
    text
}

fn changes(output: &Output) -> Vec<(String, String, String, String)> {
    output.changed.iter().map(|c| (c.file.clone(), c.package.clone(), c.from.clone(), c.to.clone())).collect()
}

fn row(file: &str, package: &str, from: &str, to: &str) -> (String, String, String, String) {
    (file.into(), package.into(), from.into(), to.into())
}

#[test]
fn rust_pins_are_raised_in_cargo_toml_and_the_rest_is_reported() {
    let dir = checkout("rust");
    let output = run(dir.path());
    assert_eq!(
        changes(&output),
        [row("Cargo.toml", "smallvec", "1.4.0", "1.6.1"), row("Cargo.toml", "time", "0.1.42", "0.2.23")]
    );
    assert_eq!(output.changed[0].advisories, ["RUSTSEC-2021-0003"]);
    assert_eq!(
        read(dir.path(), "Cargo.toml"),
        expected(
            "rust",
            "Cargo.toml",
            &[
                ("smallvec = \"1.4.0\"", "smallvec = \"1.6.1\""),
                ("version = \"0.1.42\"", "version = \"0.2.23\"")
            ]
        ),
        "only the two requirements change; comments, spacing and order stay"
    );
    assert_eq!(
        read(dir.path(), "Cargo.lock"),
        expected("rust", "Cargo.lock", &[]),
        "the lock is left to cargo"
    );

    let unfixed: Vec<(&str, &str)> =
        output.unfixed.iter().map(|u| (u.package.as_str(), u.reason.as_str())).collect();
    assert_eq!(unfixed.len(), 2, "{unfixed:?}");
    assert_eq!(unfixed[0].0, "ansi_term");
    assert!(unfixed[0].1.contains("RUSTSEC-2021-0139 has no fixed version"), "{}", unfixed[0].1);
    assert_eq!(unfixed[1].0, "regex");
    assert!(unfixed[1].1.contains("cargo update -p regex@1.5.4 --precise 1.5.5"), "{}", unfixed[1].1);
    assert!(
        output.notes.iter().any(|n| n.contains("cargo update -p smallvec@1.4.0 --precise 1.6.1")),
        "{:?}",
        output.notes
    );
    assert_eq!(output.files, ["Cargo.toml", "Cargo.lock"]);

    // Cargo itself still reads the edited manifest.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = std::process::Command::new(cargo)
        .args(["metadata", "--offline", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(dir.path().join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).expect("metadata JSON");
    let deps = &metadata["packages"][0]["dependencies"];
    let req = |name: &str| {
        deps.as_array().expect("deps").iter().find(|d| d["name"] == name).expect("declared")["req"].clone()
    };
    assert_eq!(req("smallvec"), "^1.6.1");
    assert_eq!(req("time"), "^0.2.23");

    assert!(run(dir.path()).changed.is_empty(), "a second run finds nothing left to raise");
}

const LODASH_INTEGRITY: &str = "\n      \"integrity\": \"sha512-8xOcRHvCjnocdS5cpwXQXVzmmh5e5+saE2QGoeQmbKmRS6J3VQppPOIt0MnmE+4xlZoumy0GPG0D0MVIQbNA1A==\"";
const MINIMIST_INTEGRITY: &str = "\n      \"integrity\": \"sha512-FM9nNUYrRBAELZQT3xeZQ7fmMOBg6nWNmJKTcgsJeaLstP/UODVpGsr5OhXhhXg6f+qtJ8uiZ+PUxkDWcgIXLw==\"";

#[test]
fn npm_direct_dependencies_are_raised_in_the_manifest_and_the_lock() {
    let dir = checkout("npm");
    let output = run(dir.path());
    assert_eq!(
        changes(&output),
        [
            row("package-lock.json", "lodash", "4.17.15", "4.17.21"),
            row("package-lock.json", "minimist", "1.2.5", "1.2.6"),
            row("package.json", "lodash", "4.17.15", "4.17.21"),
            row("package.json", "minimist", "1.2.5", "1.2.6"),
        ]
    );
    assert_eq!(output.changed[0].advisories, ["GHSA-35jh-r3h4-6jhm", "GHSA-p6mc-m468-83gw"]);
    assert_eq!(
        read(dir.path(), "package.json"),
        expected(
            "npm",
            "package.json",
            &[
                ("\"lodash\": \"^4.17.15\"", "\"lodash\": \"^4.17.21\""),
                ("\"minimist\": \"1.2.5\"", "\"minimist\": \"1.2.6\"")
            ]
        )
    );
    let lock = read(dir.path(), "package-lock.json");
    let want = expected(
        "npm",
        "package-lock.json",
        &[
            ("\"lodash\": \"^4.17.15\"", "\"lodash\": \"^4.17.21\""),
            ("\"minimist\": \"1.2.5\"", "\"minimist\": \"1.2.6\""),
            ("\"version\": \"4.17.15\"", "\"version\": \"4.17.21\""),
            ("\"version\": \"1.2.5\"", "\"version\": \"1.2.6\""),
            ("lodash-4.17.15.tgz\",", "lodash-4.17.21.tgz\""),
            ("minimist-1.2.5.tgz\",", "minimist-1.2.6.tgz\""),
            (LODASH_INTEGRITY, ""),
            (MINIMIST_INTEGRITY, ""),
        ],
    );
    assert_eq!(lock, want, "versions and tarballs move, integrity goes, nothing else changes");

    // The manifest and the lock agree.
    let manifest: serde_json::Value = serde_json::from_str(&read(dir.path(), "package.json")).expect("JSON");
    let lock: serde_json::Value = serde_json::from_str(&lock).expect("lock is JSON");
    for (name, spec) in manifest["dependencies"].as_object().expect("deps") {
        assert_eq!(&lock["packages"][""]["dependencies"][name], spec);
        let installed =
            lock["packages"][format!("node_modules/{name}")]["version"].as_str().expect("installed");
        let req = semver::VersionReq::parse(spec.as_str().expect("spec")).expect("spec parses");
        assert!(
            req.matches(&semver::Version::parse(installed).expect("version")),
            "{name} {spec} {installed}"
        );
    }

    assert_eq!(output.unfixed.len(), 1, "{:?}", output.unfixed);
    assert_eq!(output.unfixed[0].package, "qs");
    assert!(
        output.unfixed[0].reason.contains("\"overrides\": {\"qs\": \"6.11.1\"}"),
        "{}",
        output.unfixed[0].reason
    );
    assert!(run(dir.path()).changed.is_empty());
}

#[test]
fn python_pins_are_replaced_in_place() {
    let dir = checkout("python");
    let output = run(dir.path());
    assert_eq!(
        changes(&output),
        [
            row("requirements.txt", "Jinja2", "2.10", "2.10.1"),
            row("requirements.txt", "requests", "2.19.0", "2.20.0"),
            row("requirements.txt", "urllib3", "1.24.1", "1.24.2"),
        ]
    );
    assert_eq!(
        read(dir.path(), "requirements.txt"),
        expected(
            "python",
            "requirements.txt",
            &[("==2.19.0", "==2.20.0"), ("== 2.10\n", "== 2.10.1\n"), ("==1.24.1", "==1.24.2")]
        )
    );
    assert!(output.unfixed.is_empty(), "{:?}", output.unfixed);
    assert!(output.notes.iter().any(|n| n.contains("`flask` is not pinned")), "{:?}", output.notes);
    assert!(run(dir.path()).changed.is_empty());
}

#[test]
fn bad_input_is_named() {
    let dir = checkout("rust");
    std::fs::write(dir.path().join("Cargo.lock"), "[[package]\nname = ").expect("write");
    let input =
        Input { advisories: Some(fixtures().join("advisories").display().to_string()), ..Input::default() };
    let db = load_advisories(dir.path(), &input).expect("advisories");
    let err = patch(dir.path(), &input, &db).expect_err("bad lock").to_string();
    assert!(err.contains("Cargo.lock does not parse"), "{err}");

    let escape = Input { directories: Some(vec!["../etc".into()]), ..Input::default() };
    let err = patch(dir.path(), &escape, &db).expect_err("escape").to_string();
    assert!(err.contains("without `..`"), "{err}");

    let none = Input { advisories: Some("no-such-dir".into()), ..Input::default() };
    let err = load_advisories(dir.path(), &none).expect_err("missing advisories").to_string();
    assert!(err.contains("no advisories at") && err.contains("no-such-dir"), "{err}");
}
