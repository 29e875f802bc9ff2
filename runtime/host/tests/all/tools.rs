//! The `grep` tool gives the same results as ripgrep on a fixture tree.

use std::path::Path;
use std::process::Command;

use airlock_policy::{Access, Limits};
use serde_json::json;

use crate::fixture::{grants, tool};

/// A tree with nesting, hidden files, a binary file, a symlink and a few
/// encodings of "match".
fn fixture(root: &Path) {
    let files: &[(&str, &[u8])] = &[
        ("README.md", b"# Fixture\nTODO: write the readme\nnothing here\n"),
        ("src/main.rs", b"fn main() {\n    // TODO: handle errors\n    let todo = 1;\n}\n"),
        ("src/lib.rs", b"//! lib\n// todo lower case\npub fn f() {}\n// TODO twice TODO\n"),
        ("src/nested/deep/mod.rs", b"// TODO deep\n\n\nTODO at line 4"),
        ("src/nested/data.json", b"{\"TODO\": true}\n"),
        ("docs/guide.txt", b"line one\r\nTODO with CRLF\r\n"),
        ("docs/empty.txt", b""),
        (".hidden/secret.rs", b"// TODO hidden dir\n"),
        ("src/.hidden.rs", b"// TODO hidden file\n"),
        ("assets/blob.bin", b"\x00\x01TODO binary\n"),
        ("unicode.txt", "caf\u{e9} TODO \u{1f600}\n".as_bytes()),
    ];
    for (path, content) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    std::os::unix::fs::symlink("src/main.rs", root.join("link.rs")).expect("symlink");
}

/// `rg` output lines `path:line:text`, sorted.
fn ripgrep(root: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new("rg")
        .current_dir(root)
        .args(["--no-ignore", "--no-heading", "--line-number", "--color=never", "--no-config"])
        .args(args)
        .output()
        .expect("ripgrep (`rg`) must be installed to run this test; .ci/run installs it");
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "rg failed: {out:?}");
    let mut lines: Vec<String> =
        String::from_utf8_lossy(&out.stdout).split_terminator('\n').map(str::to_owned).collect();
    lines.sort();
    lines
}

async fn airlock_grep(root: &Path, input: serde_json::Value) -> Vec<String> {
    let grep = tool(airlock_tools::GREP_PATH).await;
    let grants = grants(&grep, &[(root, "/workspace", Access::ReadOnly)], &[], Limits::default());
    let outcome = grep.call(&grants, &input.to_string()).await.expect("call");
    let out: serde_json::Value =
        serde_json::from_str(outcome.result.as_deref().expect("grep ok")).expect("json");
    let mut lines: Vec<String> = out["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| {
            format!(
                "{}:{}:{}",
                m["path"].as_str().expect("path"),
                m["line"],
                m["text"].as_str().expect("text")
            )
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn grep_matches_ripgrep() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let cases: &[(serde_json::Value, &[&str])] = &[
        (json!({ "pattern": "TODO" }), &["TODO"]),
        (json!({ "pattern": "todo", "case_insensitive": true }), &["-i", "todo"]),
        (json!({ "pattern": "TODO", "include": ["*.rs"] }), &["-g", "*.rs", "TODO"]),
        (json!({ "pattern": "TODO", "include": ["src/nested/**"] }), &["-g", "src/nested/**", "TODO"]),
        (json!({ "pattern": "^\\s*//" }), &["^\\s*//"]),
        (json!({ "pattern": "TODO", "path": "src" }), &["TODO", "src"]),
        (json!({ "pattern": "\\p{Emoji_Presentation}" }), &["\\p{Emoji_Presentation}"]),
        (json!({ "pattern": "no such text anywhere" }), &["no such text anywhere"]),
    ];
    for (input, rg_args) in cases {
        let expected = ripgrep(dir.path(), rg_args);
        let actual = airlock_grep(dir.path(), input.clone()).await;
        assert_eq!(actual, expected, "grep {input} vs rg {rg_args:?}");
    }
    // Sanity: the fixture does exercise the skips (hidden, binary, symlink).
    let all = airlock_grep(dir.path(), json!({ "pattern": "TODO" })).await;
    assert!(
        !all.iter().any(|l| l.contains("hidden") || l.contains("binary") || l.starts_with("link.rs")),
        "{all:?}"
    );
    assert_eq!(all.len(), 8, "{all:?}");
}

#[tokio::test]
async fn grep_stops_at_max_matches_and_rejects_bad_patterns() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let grep = tool(airlock_tools::GREP_PATH).await;
    let grants = grants(&grep, &[(dir.path(), "/workspace", Access::ReadOnly)], &[], Limits::default());
    let outcome =
        grep.call(&grants, &json!({ "pattern": "TODO", "max_matches": 2 }).to_string()).await.expect("call");
    let out: serde_json::Value = serde_json::from_str(outcome.result.as_deref().expect("ok")).expect("json");
    assert_eq!(out["matches"].as_array().map(Vec::len), Some(2));
    assert_eq!(out["truncated"], true);

    let outcome = grep.call(&grants, &json!({ "pattern": "(unclosed" }).to_string()).await.expect("call");
    let err = outcome.result.expect_err("bad regex").to_string();
    assert!(err.starts_with("invalid input: pattern: regex parse error"), "{err}");

    let outcome =
        grep.call(&grants, &json!({ "pattern": "x", "path": "../.." }).to_string()).await.expect("call");
    let err = outcome.result.expect_err("path escape").to_string();
    assert!(err.contains("must be relative, without `..`"), "{err}");
}
