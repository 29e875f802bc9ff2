//! Effective grants equal `policy explain`: for any claims, what
//! `airlock agents show --claims` decides for each tool is what `airlock
//! policy explain` says for a token with those claims, over the example
//! policies (a property test over claims drawn from what the policies
//! test).

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use super::audit::airlock;
use super::mcp::Setup;

/// The issuers the example policies name, plus the test's own.
const ISSUERS: [&str; 4] = [
    "https://issuer.airlock.test",
    "https://airlock.local",
    "https://id.factory.example",
    "https://token.actions.githubusercontent.com",
];

/// The example policies, one set.
fn example_policies() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("examples/policies")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "cedar"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files.iter().map(|f| std::fs::read_to_string(f).expect("policy")).collect::<Vec<_>>().join("\n")
}

/// The claims each example policy is written for, by name; "" is absent.
const PROFILES: [[(&str, &str); 9]; 5] = {
    const fn profile(
        sub: &'static str,
        iss: &'static str,
        rest: [&'static str; 7],
    ) -> [(&'static str, &'static str); 9] {
        [
            ("sub", sub),
            ("iss", iss),
            ("agent_class", rest[0]),
            ("env", rest[1]),
            ("repository", rest[2]),
            ("repository_id", rest[3]),
            ("ref_protected", rest[4]),
            ("runner_environment", rest[5]),
            ("job_workflow_ref", rest[6]),
        ]
    }
    const NONE: [&str; 7] = ["", "", "", "", "", "", ""];
    [
        profile("human:alice", ISSUERS[1], NONE),
        profile("agent:triage", ISSUERS[2], ["triage-bot", "prod", "", "", "", "", ""]),
        profile("agent:fixer-1", ISSUERS[2], ["fixer", "prod", "", "", "", "", ""]),
        profile(
            "repo:acme/app:ref:refs/heads/main",
            ISSUERS[3],
            [
                "",
                "",
                "acme/app",
                "424242",
                "true",
                "github-hosted",
                "acme/app/.github/workflows/remediate.yml@refs/heads/main",
            ],
        ),
        profile("agent:other", ISSUERS[0], NONE),
    ]
};

/// Values each claim is changed to ("" removes it).
const VALUES: [&[&str]; 9] = [
    &["agent:fixer-1", "agent:triage", "human:alice", "human:bob"],
    &ISSUERS,
    &["", "fixer", "triage-bot", "other"],
    &["", "prod", "dev"],
    &["", "acme/app", "acme/other"],
    &["", "424242", "1"],
    &["", "true", "false"],
    &["", "github-hosted", "self-hosted"],
    &["", "acme/app/.github/workflows/other.yml@refs/heads/main"],
];

/// Claims from one of the profiles the example policies are written for,
/// each claim changed with probability 0.3 (so that every policy matches in
/// some cases and not in others), and a delegation chain 0 to 3 deep.
fn claims() -> impl Strategy<Value = (String, String, Map<String, Value>)> {
    let changes: Vec<_> = VALUES
        .iter()
        .map(|values| proptest::option::weighted(0.3, proptest::sample::select(*values)))
        .collect();
    (0..PROFILES.len(), changes, 0usize..4).prop_map(|(profile, changes, depth)| {
        let mut chosen: Vec<(&str, &str)> = PROFILES[profile].to_vec();
        for (claim, change) in chosen.iter_mut().zip(changes) {
            if let Some(value) = change {
                claim.1 = value;
            }
        }
        let mut claims = Map::new();
        for (name, value) in &chosen[2..] {
            if !value.is_empty() {
                claims.insert((*name).to_owned(), Value::String((*value).to_owned()));
            }
        }
        let act = (0..depth).fold(None, |inner: Option<Value>, n| {
            let mut link = json!({"sub": format!("agent:delegate-{n}")});
            if let Some(inner) = inner {
                link["act"] = inner;
            }
            Some(link)
        });
        if let Some(act) = act {
            claims.insert("act".to_owned(), act);
        }
        (chosen[0].1.to_owned(), chosen[1].1.to_owned(), claims)
    })
}

/// `(allowed, action, resource)` of each line `policy explain` prints,
/// and the tool's name from its first line.
fn explained(stdout: &str) -> (String, Vec<(bool, String, String)>) {
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or_default();
    let name = header.split(", tool ").nth(1).and_then(|t| t.split(' ').next()).unwrap_or_default();
    let verdicts = lines
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let allowed = match words.next()? {
                "allow" => true,
                "deny" => false,
                _ => return None,
            };
            Some((allowed, words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    (name.to_owned(), verdicts)
}

/// The same, from `agents show --json`, by tool.
fn shown(document: &Value) -> BTreeMap<String, Vec<(bool, String, String)>> {
    let mut tools = BTreeMap::new();
    for tool in document["tools"].as_array().expect("tools") {
        let verdicts = tool["grants"]
            .as_array()
            .expect("grants")
            .iter()
            .filter(|g| !g["effective"].is_null())
            .map(|g| {
                let resource = g["resource"].as_str().unwrap_or_default();
                (
                    g["effective"]["allowed"].as_bool().expect("allowed"),
                    g["action"].as_str().unwrap_or_default().to_owned(),
                    resource.split_whitespace().next().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        tools.insert(tool["tool"].as_str().expect("name").to_owned(), verdicts);
    }
    tools
}

#[test]
fn effective_grants_equal_policy_explain_for_any_claims() {
    let issuers: String = ISSUERS[1..]
        .iter()
        .map(|iss| format!("\n[[issuer]]\niss = \"{iss}\"\njwks = \"issuer.jwks.json\"\n"))
        .collect();
    let setup = Setup::with(&example_policies(), &issuers);
    for (path, name) in [
        (airlock_tools::GREP_PATH, "grep.wasm"),
        (airlock_tools::PATCH_DEPS_PATH, "patch-deps.wasm"),
        (airlock_tools::OSV_QUERY_PATH, "osv-query.wasm"),
    ] {
        std::fs::copy(path, setup.path("tools").join(name)).expect("copy tool");
    }
    std::fs::remove_file(setup.path("tools/not-a-tool.wasm")).expect("rm");
    let mut tool_files: Vec<PathBuf> =
        std::fs::read_dir(setup.path("tools")).expect("tools").map(|e| e.expect("entry").path()).collect();
    tool_files.sort();

    // One call (allowed or not, it is recorded) so that there is a log.
    let token = setup.token("agent:first");
    let echo = setup.path("tools/echo.wasm");
    let run = airlock(&setup, &["run", "--token", &token, &echo.to_string_lossy(), "--input", "{}"]);
    assert!(run.code == 0 || run.code == 3, "{}", run.stderr);

    let mut runner = TestRunner::new(Config { cases: 16, failure_persistence: None, ..Config::default() });
    let allowed_somewhere = std::cell::Cell::new(0usize);
    runner
        .run(&claims(), |(sub, iss, claims)| {
            let mut payload = claims.clone();
            payload.insert("sub".to_owned(), Value::String(sub.clone()));
            payload.insert("iss".to_owned(), Value::String(iss.clone()));
            let file = setup.path("claims.json");
            std::fs::write(&file, Value::Object(payload).to_string()).expect("claims");
            let show =
                airlock(&setup, &["agents", "show", &sub, "--json", "--claims", &file.to_string_lossy()]);
            prop_assert_eq!(show.code, 0, "{}", show.stderr);
            let document: Value = serde_json::from_str(&show.stdout).expect("JSON");
            let effective = shown(&document);
            prop_assert_eq!(
                effective.len(),
                tool_files.len(),
                "every tool of the configuration: {}",
                document
            );

            let token = setup.token_from(&iss, &sub, Value::Object(claims));
            for tool in &tool_files {
                let explain = airlock(
                    &setup,
                    &["policy", "explain", "--token", &token, "--tool", &tool.to_string_lossy()],
                );
                prop_assert!(explain.code == 0 || explain.code == 3, "{}", explain.stderr);
                let (name, verdicts) = explained(&explain.stdout);
                allowed_somewhere
                    .set(allowed_somewhere.get() + usize::from(verdicts.first().is_some_and(|v| v.0)));
                prop_assert_eq!(effective.get(&name), Some(&verdicts), "tool {}: {}", name, explain.stdout);
            }
            Ok(())
        })
        .expect("effective grants equal policy explain");
    assert!(allowed_somewhere.get() > 0, "no case invoked any tool: the property was never exercised");
}
