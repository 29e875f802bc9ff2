//! patch-deps in CI, end to end: the built-in tool runs on a checkout of
//! the fixture repositories (Rust, npm, Python) through `airlock run
//! --workspace`, under the example CI policy (examples/ci/patch-deps.cedar,
//! with the test issuer standing in for GitHub's), with the OSV records
//! mounted read-only. The expected edits land; a compromised patch-deps
//! that also edits the CI workflow and plants a symlink, or hangs, changes
//! nothing at all; the dry-run patch applies with `git apply`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::audit::{Out, airlock};
use super::mcp::{ISSUER, Setup};
use super::programs;
use super::workspace::{audited_workspace, snapshot};

/// The repositories patched, each a directory of the checkout.
const REPOS: [&str; 3] = ["rust", "npm", "python"];
/// The files patch-deps is expected to change, sorted.
const CHANGED: [&str; 4] =
    ["npm/package-lock.json", "npm/package.json", "python/requirements.txt", "rust/Cargo.toml"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/patch-deps")
}

fn example_policy() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci/patch-deps.cedar");
    let policy = std::fs::read_to_string(path).expect("example policy");
    policy.replace("https://token.actions.githubusercontent.com", ISSUER)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// A checkout with the three fixture repositories and a CI workflow.
fn setup() -> Setup {
    let setup = Setup::with(&example_policy(), "");
    let checkout = setup.path("checkout");
    for repo in REPOS {
        copy_tree(&fixtures().join(repo), &checkout.join(repo));
    }
    std::fs::create_dir_all(checkout.join(".github/workflows")).expect("mkdir");
    std::fs::write(checkout.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    setup
}

/// The claims GitHub puts in the remediate.yml job's token.
fn ci_token(setup: &Setup) -> String {
    setup.token_with(
        "repo:acme/app:ref:refs/heads/main",
        json!({
            "repository": "acme/app", "repository_id": "424242", "ref": "refs/heads/main",
            "ref_protected": "true", "runner_environment": "github-hosted",
            "job_workflow_ref": "acme/app/.github/workflows/remediate.yml@refs/heads/main",
        }),
    )
}

fn run(setup: &Setup, tool: &str, input: Value, extra: &[&str]) -> Out {
    let token = ci_token(setup);
    let checkout = setup.path("checkout");
    let advisories = format!("{}:/advisories:ro", fixtures().join("advisories").display());
    let input = input.to_string();
    let mut args = vec![
        "run",
        tool,
        "--token",
        &token,
        "--workspace",
        checkout.to_str().expect("utf-8 path"),
        "--mount",
        &advisories,
        "--input",
        &input,
    ];
    args.extend(extra);
    airlock(setup, &args)
}

fn patch_all() -> Value {
    json!({ "directories": REPOS })
}

fn read(setup: &Setup, file: &str) -> String {
    std::fs::read_to_string(setup.path("checkout").join(file)).expect("read")
}

#[test]
fn patch_deps_applies_the_fixes_the_advisories_name_and_nothing_else() {
    let setup = setup();
    let before = snapshot(&setup.path("checkout"));
    let out = run(&setup, "patch-deps", patch_all(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: Value = serde_json::from_str(&out.stdout).expect("json");

    let changed: Vec<String> = result["output"]["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .map(|c| format!("{} {} {}->{}", c["file"].as_str().unwrap_or("?"), c["package"], c["from"], c["to"]))
        .collect();
    assert_eq!(
        changed,
        [
            "npm/package-lock.json \"lodash\" \"4.17.15\"->\"4.17.21\"",
            "npm/package-lock.json \"minimist\" \"1.2.5\"->\"1.2.6\"",
            "npm/package.json \"lodash\" \"4.17.15\"->\"4.17.21\"",
            "npm/package.json \"minimist\" \"1.2.5\"->\"1.2.6\"",
            "python/requirements.txt \"Jinja2\" \"2.10\"->\"2.10.1\"",
            "python/requirements.txt \"requests\" \"2.19.0\"->\"2.20.0\"",
            "python/requirements.txt \"urllib3\" \"1.24.1\"->\"1.24.2\"",
            "rust/Cargo.toml \"smallvec\" \"1.4.0\"->\"1.6.1\"",
            "rust/Cargo.toml \"time\" \"0.1.42\"->\"0.2.23\"",
        ]
    );
    let unfixed: Vec<&str> = result["output"]["unfixed"]
        .as_array()
        .expect("unfixed")
        .iter()
        .filter_map(|u| u["package"].as_str())
        .collect();
    assert_eq!(unfixed, ["qs", "ansi_term", "regex"], "sorted by file, then package");

    // What landed: exactly the four files, each as reported.
    assert_eq!(result["workspace"]["status"], "applied");
    let paths: Vec<&str> = result["workspace"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths, CHANGED);
    let after = snapshot(&setup.path("checkout"));
    for (path, entry) in &before {
        if !CHANGED.contains(&path.as_str()) {
            assert_eq!(after.get(path), Some(entry), "{path} changed");
        }
    }
    assert_eq!(after.len(), before.len(), "files appeared or vanished");
    assert!(
        read(&setup, "rust/Cargo.toml").contains("smallvec = \"1.6.1\"   # keep the patch level explicit\n")
    );
    assert!(read(&setup, "npm/package.json").contains("    \"lodash\": \"^4.17.21\",\n"));
    assert!(read(&setup, "python/requirements.txt").contains("requests==2.20.0    # HTTP client\n"));
    for change in result["workspace"]["changes"].as_array().expect("changes") {
        let path = change["path"].as_str().expect("path");
        assert_eq!(change["sha256"], airlock_audit::sha256_hex(read(&setup, path).as_bytes()), "{path}");
    }
    assert_eq!(audited_workspace(&setup), result["workspace"], "the audit event records the same changeset");

    // Cargo still reads the edited manifest.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = std::process::Command::new(cargo)
        .args(["metadata", "--offline", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(setup.path("checkout/rust/Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));

    // Run again: nothing left to patch.
    let again = run(&setup, "patch-deps", patch_all(), &[]);
    assert_eq!(again.code, 20, "{}", again.stderr);
}

#[test]
fn a_compromised_patch_deps_has_its_whole_changeset_refused() {
    let setup = setup();
    let before = snapshot(&setup.path("checkout"));
    let out = run(&setup, programs::PATCH_DEPS_MALICIOUS, json!({}), &[]);
    assert_eq!(out.code, 21, "{}\n{}", out.stdout, out.stderr);
    for refused in [
        ".github/workflows/ci.yml: fs.write on /workspace/.github/workflows/ci.yml forbidden by ci-never-git-or-workflows",
        "deploy-key: creates a symlink (to `../.ssh/id_ed25519`)",
    ] {
        assert!(out.stderr.contains(refused), "`{refused}` missing from:\n{}", out.stderr);
    }
    assert_eq!(snapshot(&setup.path("checkout")), before, "the checkout changed");
    let audited = audited_workspace(&setup);
    assert_eq!(audited["status"], "refused");
    let mut refused: Vec<&str> =
        audited["refused"].as_array().expect("refused").iter().filter_map(|r| r["path"].as_str()).collect();
    refused.dedup(); // the symlink breaks a rule and is not permitted either: two reasons
    assert_eq!(
        refused,
        [".github/workflows/ci.yml", "deploy-key"],
        "the manifest edits were permitted, but land only with the rest"
    );
}

#[test]
fn a_compromised_patch_deps_that_hangs_half_way_changes_nothing() {
    let setup = setup();
    let before = snapshot(&setup.path("checkout"));
    let out = run(&setup, programs::PATCH_DEPS_MALICIOUS, json!({ "spin": true }), &["--timeout", "2s"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(snapshot(&setup.path("checkout")), before);
    assert_eq!(audited_workspace(&setup)["status"], "discarded");
}

#[test]
fn the_dry_run_patch_applies_with_git_and_reproduces_the_fix() {
    let dry = setup();
    let before = snapshot(&dry.path("checkout"));
    let patch = dry.path("fix.patch");
    let out = run(&dry, "patch-deps", patch_all(), &["--dry-run", patch.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(snapshot(&dry.path("checkout")), before, "a dry run applied something");
    let status = std::process::Command::new("git")
        .args(["apply", "--check", "--verbose"])
        .arg(&patch)
        .current_dir(dry.path("checkout"))
        .status()
        .expect("git runs");
    assert!(status.success(), "git apply --check failed");
    let status = std::process::Command::new("git")
        .arg("apply")
        .arg(&patch)
        .current_dir(dry.path("checkout"))
        .status()
        .expect("git runs");
    assert!(status.success(), "git apply failed:\n{}", std::fs::read_to_string(&patch).unwrap_or_default());

    let applied = setup();
    assert_eq!(run(&applied, "patch-deps", patch_all(), &[]).code, 0);
    for file in CHANGED {
        assert_eq!(read(&dry, file), read(&applied, file), "{file}: the patch differs from the applied fix");
    }
}

#[test]
fn a_tool_name_that_is_not_built_in_is_a_usage_error() {
    let setup = setup();
    let out = run(&setup, "patch-dep", patch_all(), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no built-in tool `patch-dep`") && out.stderr.contains("patch-deps"),
        "{}",
        out.stderr
    );
}
