//! `patch-deps` on generated checkouts: Cargo, npm and pip manifests with
//! their lock files, written in the spellings people use (string and table
//! dependencies, comments, odd spacing, markers), against generated OSV
//! advisories, and now and then a manifest with any bytes spliced in.
//!
//! - Never a panic.
//! - Only manifests change: `Cargo.lock` and every other file keep their
//!   bytes, and a manifest not named in the report keeps its bytes. The
//!   npm lock moves with its manifest (by design): only its entries'
//!   versions, tarball URLs and integrity hashes, and the root package's
//!   specs, may change.
//! - Only the declared versions change: a changed manifest has the same
//!   lines, and a line that differs differs only in version characters
//!   (digits, `.`, and the operators `^ ~ = < > *`), so names, comments,
//!   features and layout are kept.
//! - Every change raises an affected version to one no advisory affects,
//!   and a Cargo or pip requirement written admits the version named.
#![no_main]

use std::path::Path;

use airlock_patch_deps::advisory::Record;
use airlock_patch_deps::version::Ecosystem;
use airlock_patch_deps::{Advisories, Input, patch};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// Package names, by how each ecosystem spells them in manifests.
const CRATES: &[&str] = &["alpha", "beta_x", "gamma-y", "delta"];
const NPM: &[&str] = &["alpha", "@scope/beta", "gamma", "delta"];
const PYPI: &[&str] = &["Alpha", "beta_x", "Gamma.Y", "delta"];
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

#[derive(Arbitrary, Debug, Clone, Copy)]
struct V(u8, u8, u8);

impl V {
    fn text(self) -> String {
        format!("{}.{}.{}", self.0 % 4, self.1 % 4, self.2 % 4)
    }
}

#[derive(Arbitrary, Debug)]
enum Spelling {
    Bare,
    Caret,
    Tilde,
    Exact,
    AtLeast,
    Star,
    Any(String),
}

#[derive(Arbitrary, Debug)]
struct Dependency {
    name: u8,
    installed: V,
    spelling: Spelling,
    /// Cargo: `name = { version = …, features = [...] }`; npm:
    /// `devDependencies`; pip: an environment marker.
    table: bool,
    /// Cargo: `[dev-dependencies]`.
    dev: bool,
    comment: bool,
    spaces: u8,
}

#[derive(Arbitrary, Debug)]
struct Advisory {
    ecosystem: u8,
    name: u8,
    introduced: Option<V>,
    fixed: Option<V>,
    last_affected: Option<V>,
    versions: Vec<V>,
    withdrawn: bool,
}

#[derive(Arbitrary, Debug)]
struct Checkout {
    cargo: Vec<Dependency>,
    npm: Vec<Dependency>,
    pip: Vec<Dependency>,
    advisories: Vec<Advisory>,
    /// Any bytes spliced into one manifest: (which, where, what).
    splice: Option<(u8, u16, Vec<u8>)>,
}

fn requirement(spelling: &Spelling, v: V) -> String {
    let v = v.text();
    match spelling {
        Spelling::Bare => v,
        Spelling::Caret => format!("^{v}"),
        Spelling::Tilde => format!("~{v}"),
        Spelling::Exact => format!("={v}"),
        Spelling::AtLeast => format!(">={v}"),
        Spelling::Star => "*".to_owned(),
        Spelling::Any(text) => text.replace(['"', '\\', '\n', '\r'], ""),
    }
}

fn name(names: &[&'static str], n: u8) -> &'static str {
    names[usize::from(n) % names.len()]
}

fn cargo_files(deps: &[Dependency]) -> (String, String) {
    let mut manifest =
        String::from("# fuzz\n[package]\nname = \"fz\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    let mut lock = String::from("version = 3\n\n[[package]]\nname = \"fz\"\nversion = \"0.1.0\"\n");
    for (section, dev) in [("dependencies", false), ("dev-dependencies", true)] {
        manifest.push_str(&format!("\n[{section}]\n"));
        let mut seen = Vec::new();
        for dep in deps.iter().filter(|d| d.dev == dev) {
            let name = name(CRATES, dep.name);
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let pad = " ".repeat(usize::from(dep.spaces % 3));
            let req = requirement(&dep.spelling, dep.installed);
            if dep.table {
                manifest.push_str(&format!(
                    "{name}{pad}= {{ version = \"{req}\", default-features = false, features = [\"x\"] }}"
                ));
            } else {
                manifest.push_str(&format!("{name} ={pad}\"{req}\""));
            }
            if dep.comment {
                manifest.push_str("   # pinned 1.0 for now");
            }
            manifest.push('\n');
            lock.push_str(&format!(
                "\n[[package]]\nname = \"{name}\"\nversion = \"{}\"\nsource = \"{CRATES_IO}\"\n",
                dep.installed.text()
            ));
        }
    }
    (manifest, lock)
}

fn npm_files(deps: &[Dependency]) -> (String, String) {
    let mut dependencies = serde_json::Map::new();
    let mut dev = serde_json::Map::new();
    let mut packages = serde_json::Map::new();
    for dep in deps {
        let name = name(NPM, dep.name);
        if dependencies.contains_key(name) || dev.contains_key(name) {
            continue;
        }
        let req = requirement(&dep.spelling, dep.installed);
        if dep.table { &mut dev } else { &mut dependencies }.insert(name.to_owned(), json!(req));
        packages.insert(format!("node_modules/{name}"), json!({ "version": dep.installed.text() }));
    }
    let root =
        json!({ "name": "fz", "version": "1.0.0", "dependencies": dependencies, "devDependencies": dev });
    packages.insert(String::new(), root.clone());
    let lock = json!({ "name": "fz", "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": packages });
    let manifest = serde_json::to_string_pretty(&root).unwrap_or_default();
    (manifest + "\n", serde_json::to_string_pretty(&lock).unwrap_or_default())
}

fn pip_file(deps: &[Dependency]) -> String {
    let mut text = String::from("# Runtime dependencies.\n");
    for dep in deps {
        let name = name(PYPI, dep.name);
        let pad = " ".repeat(usize::from(dep.spaces % 3));
        let req = match dep.spelling {
            Spelling::Exact | Spelling::Bare => format!("=={pad}{}", dep.installed.text()),
            ref other => requirement(other, dep.installed),
        };
        text.push_str(&format!("{name}{pad}{req}"));
        if dep.table {
            text.push_str(" ; python_version >= \"3.8\"");
        }
        if dep.comment {
            text.push_str("    # HTTP 1.1 client");
        }
        text.push('\n');
    }
    text
}

fn record(i: usize, advisory: &Advisory) -> Option<Record> {
    let (ecosystem, names) = match advisory.ecosystem % 3 {
        0 => (Ecosystem::CratesIo, CRATES),
        1 => (Ecosystem::Npm, NPM),
        _ => (Ecosystem::PyPi, PYPI),
    };
    let package = ecosystem.normalize(name(names, advisory.name));
    let mut events = vec![json!({ "introduced": advisory.introduced.map_or("0".to_owned(), V::text) })];
    if let Some(fixed) = advisory.fixed {
        events.push(json!({ "fixed": fixed.text() }));
    }
    if let Some(last) = advisory.last_affected {
        events.push(json!({ "last_affected": last.text() }));
    }
    let kind = if ecosystem == Ecosystem::PyPi { "ECOSYSTEM" } else { "SEMVER" };
    let mut value = json!({
        "id": format!("FUZZ-{i}"),
        "affected": [{
            "package": { "ecosystem": ecosystem.osv_name(), "name": package },
            "ranges": [{ "type": kind, "events": events }],
            "versions": advisory.versions.iter().map(|v| v.text()).collect::<Vec<_>>(),
        }],
    });
    if advisory.withdrawn {
        value["withdrawn"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(value).ok()
}

const MANIFESTS: [&str; 3] = ["Cargo.toml", "package.json", "requirements.txt"];

static SELF_CHECK: std::sync::Once = std::sync::Once::new();

/// One vulnerable pin per ecosystem is raised: the properties are checked
/// against runs that change something.
fn self_check() {
    let dep = |name, table| Dependency {
        name,
        installed: V(1, 0, 0),
        spelling: Spelling::Bare,
        table,
        dev: false,
        comment: true,
        spaces: 1,
    };
    let advisory = |ecosystem| Advisory {
        ecosystem,
        name: 0,
        introduced: None,
        fixed: Some(V(1, 2, 0)),
        last_affected: None,
        versions: vec![],
        withdrawn: false,
    };
    let checkout = Checkout {
        cargo: vec![dep(0, true)],
        npm: vec![dep(0, false)],
        pip: vec![dep(0, true)],
        advisories: vec![advisory(0), advisory(1), advisory(2)],
        splice: None,
    };
    let changed = run(&checkout).expect("the self-check checkout patches");
    // npm reports the lock it moves with the manifest.
    assert_eq!(changed.len(), 4, "one change per ecosystem, and the npm lock: {changed:?}");
}

fuzz_target!(|checkout: Checkout| {
    SELF_CHECK.call_once(self_check);
    run(&checkout);
});

/// Patches `checkout` and checks the properties; the number of changes
/// (`None` when patching refused the checkout).
fn run(checkout: &Checkout) -> Option<Vec<airlock_patch_deps::Change>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let (cargo, cargo_lock) = cargo_files(&checkout.cargo);
    let (npm, npm_lock) = npm_files(&checkout.npm);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("Cargo.toml", cargo.into_bytes()),
        ("Cargo.lock", cargo_lock.into_bytes()),
        ("package.json", npm.into_bytes()),
        ("package-lock.json", npm_lock.into_bytes()),
        ("requirements.txt", pip_file(&checkout.pip).into_bytes()),
        (".gitignore", b"target/\n".to_vec()),
    ];
    if let Some((which, at, bytes)) = &checkout.splice {
        let text = &mut files
            .iter_mut()
            .find(|(n, _)| *n == MANIFESTS[usize::from(*which) % 3])
            .expect("manifest")
            .1;
        let at = usize::from(*at) % (text.len() + 1);
        text.splice(at..at, bytes.iter().copied());
    }
    for (name, bytes) in &files {
        std::fs::write(root.join(name), bytes).expect("write the checkout");
    }
    let records: Vec<Record> =
        checkout.advisories.iter().enumerate().filter_map(|(i, a)| record(i, a)).collect();
    let advisories = Advisories::new(records);
    let output = patch(root, &Input::default(), &advisories).ok()?;
    check(root, &files, &output, &advisories);
    Some(output.changed)
}

/// An npm lock without what raising a version changes in it.
fn versionless_lock(mut value: serde_json::Value) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for key in ["version", "resolved", "integrity"] {
                    map.remove(key);
                }
                for (key, member) in map.iter_mut() {
                    if key.ends_with("ependencies")
                        && let Some(specs) = member.as_object_mut()
                    {
                        specs.values_mut().filter(|v| v.is_string()).for_each(|v| *v = json!(""));
                    }
                    strip(member);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

fn check(
    root: &Path,
    before: &[(&str, Vec<u8>)],
    output: &airlock_patch_deps::Output,
    advisories: &Advisories,
) {
    for (name, old) in before {
        let new = std::fs::read(root.join(name)).expect("read back");
        let changed = output.changed.iter().any(|c| c.file == *name);
        if *name == "package-lock.json" && output.changed.iter().any(|c| c.file == "package.json") {
            let parse =
                |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).map(versionless_lock);
            let (old, new) = (parse(old), parse(&new));
            assert!(old.is_ok() && new.is_ok(), "{name}: no longer JSON");
            assert_eq!(old.ok(), new.ok(), "{name}: more than versions changed");
            continue;
        }
        if !MANIFESTS.contains(name) || !changed {
            assert_eq!(&new, old, "{name} changed, and it is not a manifest the report names");
            continue;
        }
        let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(&new));
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
        assert_eq!(old_lines.len(), new_lines.len(), "{name}: lines added or removed:\n{old}\n---\n{new}");
        let versionless = |line: &str| -> String {
            line.chars().filter(|c| !(c.is_ascii_digit() || ".^~=<>*".contains(*c))).collect()
        };
        for (a, b) in old_lines.iter().zip(&new_lines) {
            if a != b {
                assert_eq!(versionless(a), versionless(b), "{name}: more than a version changed:\n{a}\n{b}");
            }
        }
    }
    for change in &output.changed {
        let ecosystem = change.ecosystem;
        let from = ecosystem.parse(&change.from).expect("the installed version parses");
        let to = ecosystem.parse(&change.to).expect("the version written parses");
        assert!(to > from, "{change:?}: not a raise");
        assert!(
            !advisories.affecting(ecosystem, &change.package, &from).is_empty(),
            "{change:?}: was not affected"
        );
        assert!(
            advisories.affecting(ecosystem, &change.package, &to).is_empty(),
            "{change:?}: still affected"
        );
        let manifest = std::fs::read_to_string(root.join(&change.file)).expect("read back");
        match ecosystem {
            Ecosystem::CratesIo => {
                let table: toml::Table = manifest.parse().expect("a patched Cargo.toml is TOML");
                let written = ["dependencies", "dev-dependencies"]
                    .iter()
                    .filter_map(|s| table.get(*s)?.get(&change.package))
                    .filter_map(|d| d.as_str().or_else(|| d.get("version")?.as_str()))
                    .collect::<Vec<_>>();
                let to = semver::Version::parse(&change.to).expect("semver");
                assert!(
                    written.iter().any(|r| semver::VersionReq::parse(r).is_ok_and(|r| r.matches(&to))),
                    "{change:?}: no requirement written admits it: {written:?}"
                );
            }
            Ecosystem::PyPi => {
                let wanted = ecosystem.normalize(&change.package);
                let admits = manifest.lines().any(|line| {
                    let line =
                        line.split('#').next().unwrap_or_default().split(';').next().unwrap_or_default();
                    line.split_once("==").is_some_and(|(n, v)| {
                        ecosystem.normalize(n.trim()) == wanted && ecosystem.parse(v) == Some(to.clone())
                    })
                });
                assert!(admits, "{change:?}: no `==` pin of the version written:\n{manifest}");
            }
            Ecosystem::Npm => {}
        }
    }
}
