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

/// One search, as the grep tool's input and as ripgrep's arguments.
struct Search {
    pattern: &'static str,
    case_insensitive: bool,
    globs: &'static [&'static str],
    path: Option<&'static str>,
}

impl Search {
    const fn of(pattern: &'static str) -> Self {
        Self { pattern, case_insensitive: false, globs: &[], path: None }
    }

    fn input(&self) -> serde_json::Value {
        let mut input = json!({ "pattern": self.pattern });
        if self.case_insensitive {
            input["case_insensitive"] = json!(true);
        }
        if !self.globs.is_empty() {
            input["include"] = json!(self.globs);
        }
        if let Some(path) = self.path {
            input["path"] = json!(path);
        }
        input
    }

    fn rg_args(&self) -> Vec<&'static str> {
        let mut args = Vec::new();
        if self.case_insensitive {
            args.push("-i");
        }
        for glob in self.globs {
            args.extend(["-g", glob]);
        }
        args.push(self.pattern);
        args.extend(self.path);
        args
    }
}

/// What `rg --no-ignore --no-heading --line-number` prints for `search` in
/// `root`, computed with ripgrep's own libraries (its directory walker and
/// `-g` overrides from `ignore`, its regex matcher and searcher), as
/// `path:line:text` lines, sorted. Needs no installed program.
fn ripgrep_reference(root: &Path, search: &Search) -> Vec<String> {
    use grep_regex::RegexMatcherBuilder;
    use grep_searcher::{BinaryDetection, SearcherBuilder, sinks};
    use ignore::WalkBuilder;
    use ignore::overrides::OverrideBuilder;

    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(search.case_insensitive)
        .build(search.pattern)
        .expect("pattern");
    let mut overrides = OverrideBuilder::new(root);
    for glob in search.globs {
        overrides.add(glob).expect("glob");
    }
    let start = root.join(search.path.unwrap_or(""));
    // `--no-ignore`: no ignore files of any kind; hidden entries still skipped.
    let walk = WalkBuilder::new(start)
        .standard_filters(false)
        .hidden(true)
        .overrides(overrides.build().expect("overrides"))
        .build();
    let mut searcher =
        SearcherBuilder::new().line_number(true).binary_detection(BinaryDetection::quit(b'\x00')).build();
    let mut lines = Vec::new();
    for entry in walk {
        let entry = entry.expect("walk");
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let shown = entry.path().strip_prefix(root).expect("under root").display().to_string();
        let sink = sinks::Lossy(|number, line| {
            lines.push(format!("{shown}:{number}:{}", line.strip_suffix('\n').unwrap_or(line)));
            Ok(true)
        });
        searcher.search_path(&matcher, entry.path(), sink).expect("search");
    }
    lines.sort();
    lines
}

/// `rg` itself, when it is installed (`.ci/run` installs it): output lines
/// `path:line:text`, sorted.
fn installed_ripgrep(root: &Path, args: &[&str]) -> Option<Vec<String>> {
    let out = Command::new("rg")
        .current_dir(root)
        .args(["--no-ignore", "--no-heading", "--line-number", "--color=never", "--no-config"])
        .args(args)
        .output()
        .ok()?;
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "rg failed: {out:?}");
    let mut lines: Vec<String> =
        String::from_utf8_lossy(&out.stdout).split_terminator('\n').map(str::to_owned).collect();
    lines.sort();
    Some(lines)
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
    let cases = [
        Search::of("TODO"),
        Search { case_insensitive: true, ..Search::of("todo") },
        Search { globs: &["*.rs"], ..Search::of("TODO") },
        Search { globs: &["src/nested/**"], ..Search::of("TODO") },
        Search::of("^\\s*//"),
        Search { path: Some("src"), ..Search::of("TODO") },
        Search::of("\\p{Emoji_Presentation}"),
        Search::of("no such text anywhere"),
    ];
    for search in &cases {
        let actual = airlock_grep(dir.path(), search.input()).await;
        let expected = ripgrep_reference(dir.path(), search);
        assert_eq!(actual, expected, "grep {} vs ripgrep's libraries", search.input());
        if let Some(rg) = installed_ripgrep(dir.path(), &search.rg_args()) {
            assert_eq!(actual, rg, "grep {} vs rg {:?}", search.input(), search.rg_args());
        }
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
