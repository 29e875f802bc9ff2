//! Knowing your agents, on a history made through the binary: five agents
//! (one uses all it is granted, one a subset, one goes stale, one is denied
//! again and again, one runs through break-glass) give exactly the
//! expected inventory and findings; the suggested policy validates, is
//! never wider than the current one, still allows every call of the
//! history and denies what needs a grant nobody used.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::audit::{Out, airlock};
use super::mcp::{ISSUER, Setup};
use super::policy_proofs::solver_present;
use super::programs;
use super::report::{browser_dom, matrix};

const POLICY: &str = r#"
@id("full-edits")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:full" && resource.name == "workspace-edit" };

@id("subset-reads")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:subset" && resource.name == "fs-read-granted" };

@id("workers-workspace")
permit (principal, action in [Action::"fs.read", Action::"fs.write"], resource in Path::"/workspace")
when { principal has agent_class && principal.agent_class == "worker" };

@id("stale-echo")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:stale" && resource.name == "echo" };

@id("glass-echo") @approval("human")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:glass" && resource.name == "echo" };

@id("release-never-used")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:release" };

@id("no-git-writes")
forbid (principal, action == Action::"fs.write", resource in Path::"/workspace/.git");
"#;

/// One call of the history: who, which program, with what input.
struct Call {
    sub: &'static str,
    program: &'static str,
    input: &'static str,
}

const FULL: Call = Call {
    sub: "agent:full",
    program: programs::WORKSPACE_EDIT,
    input: r#"{"write": {"out/new.txt": "x"}}"#,
};
const SUBSET: Call = Call {
    sub: "agent:subset",
    program: programs::FS_READ_GRANTED,
    input: r#"{"path": "/workspace/notes.txt"}"#,
};
const STALE: Call = Call { sub: "agent:stale", program: programs::ECHO, input: "{}" };
const DENIED: Call = Call { sub: "agent:denied", program: programs::ECHO, input: "{}" };
const GLASS: Call = Call { sub: "agent:glass", program: programs::ECHO, input: r#"{"incident": 7}"# };

fn run(setup: &Setup, call: &Call) -> Out {
    let token = setup.token_with(call.sub, json!({"agent_class": "worker"}));
    let mount = format!("{}:/workspace:rw", setup.path("ws").display());
    let mut args = vec!["run", "--token", &token, call.program, "--input", call.input];
    if call.program != programs::ECHO {
        args.extend(["--mount", &mount]);
    }
    airlock(setup, &args)
}

fn json_of(out: &Out) -> Value {
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("JSON")
}

#[test]
fn a_generated_history_gives_the_expected_inventory_findings_and_suggestion() {
    let approvals = format!(
        "\n[approvals]\ndir = \"approvals\"\nbreak_glass = [\"human:carol\"]\n\n[[approvals.human]]\niss = \"{ISSUER}\"\nsub_prefix = \"human:\"\n"
    );
    let setup = Setup::with(POLICY, &approvals);
    for (program, name) in [(programs::WORKSPACE_EDIT, "edit.wasm"), (programs::FS_READ_GRANTED, "read.wasm")]
    {
        std::fs::copy(program, setup.path("tools").join(name)).expect("copy tool");
    }

    // The history. The stale agent calls first, long enough before the rest.
    let first = run(&setup, &STALE);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let stale_called = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let mut history = vec![(&STALE, 0)];
    for call in [&FULL, &FULL, &SUBSET, &SUBSET, &DENIED, &DENIED, &DENIED] {
        let out = run(&setup, call);
        history.push((call, out.code));
    }
    let carol = setup.token("human:carol");
    let window =
        ["approve", "--break-glass", "--agent", "agent:glass", "--reason", "INC-7", "--token", &carol];
    assert_eq!(airlock(&setup, &window).code, 0);
    let glass = run(&setup, &GLASS);
    assert_eq!(glass.code, 0, "{}", glass.stderr);
    history.push((&GLASS, 0));
    let codes: Vec<i32> = history.iter().map(|(_, code)| *code).collect();
    assert_eq!(codes, [0, 0, 0, 0, 0, 3, 3, 3, 0], "the history ran as planned");

    // The inventory, exactly. Stale: older than the gap before the others.
    let stale_after = format!("{}ms", (stale_called.elapsed() - Duration::from_secs(1)).as_millis());
    let listed = json_of(&airlock(&setup, &["agents", "list", "--json", "--stale", &stale_after]));
    let rows: Vec<(String, u64, u64, u64, u64)> = listed["inventory"]["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| {
            let n = |key: &str| i[key].as_u64().unwrap_or(u64::MAX);
            (
                i["sub"].as_str().unwrap_or("").to_owned(),
                n("calls"),
                n("ok"),
                n("denials"),
                n("break_glass_calls"),
            )
        })
        .collect();
    let expected = [
        ("agent:denied", 3, 0, 3, 0),
        ("agent:full", 2, 2, 0, 0),
        ("agent:glass", 1, 1, 0, 1),
        ("agent:stale", 1, 1, 0, 0),
        ("agent:subset", 2, 2, 0, 0),
    ];
    let expected: Vec<(String, u64, u64, u64, u64)> =
        expected.iter().map(|(s, a, b, c, d)| ((*s).to_owned(), *a, *b, *c, *d)).collect();
    assert_eq!(rows, expected, "{listed:#}");
    assert_eq!(listed["findings"]["stale"], json!(["agent:stale"]), "{listed:#}");
    assert_eq!(listed["findings"]["permits_never_matched"], json!(["release-never-used"]));
    assert_eq!(listed["findings"]["forbids_never_fired"], json!(["no-git-writes"]));
    assert_eq!(listed["never_seen"]["agents_named_in_policy"], json!(["agent:release"]));
    let windows = listed["inventory"]["break_glass"].as_array().expect("windows");
    assert_eq!(windows.len(), 1);
    assert_eq!(
        (windows[0]["opener"].as_str(), windows[0]["agent"].as_str()),
        (Some("human:carol"), Some("agent:glass"))
    );

    // Grants beside use: the full agent left nothing unused, the subset
    // agent never wrote, the denied agent holds nothing.
    let findings = |sub: &str| -> Vec<String> {
        let shown = json_of(&airlock(&setup, &["agents", "show", sub, "--json"]));
        shown["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["message"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(findings("agent:full"), Vec::<String>::new());
    assert_eq!(
        findings("agent:subset"),
        ["read-write /workspace for fs-read-granted: only read in 2 call(s)"]
    );
    assert_eq!(findings("agent:denied"), Vec::<String>::new());
    assert_eq!(findings("agent:stale"), Vec::<String>::new());

    // The report's matrix, as a browser reads it (or as written, without
    // one): each agent's cell for the tools it called.
    let page = setup.path("report.html");
    let out = airlock(&setup, &["agents", "report", "--html", &page.to_string_lossy()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let html = std::fs::read_to_string(&page).expect("page");
    let dom = browser_dom(&page).unwrap_or(html);
    let rows = matrix(&dom);
    let cell = |sub: &str, tool: &str| {
        let row = rows.iter().find(|(s, _)| s == sub).unwrap_or_else(|| panic!("no row {sub}: {dom}"));
        row.1.iter().find(|(t, _)| t == tool).map(|(_, class)| class.clone()).expect("cell")
    };
    assert_eq!(rows.len(), 5, "{dom}");
    assert_eq!(cell("agent:full", "workspace-edit"), "granted-used");
    assert_eq!(cell("agent:subset", "fs-read-granted"), "granted-unused");
    assert_eq!(cell("agent:stale", "echo"), "granted-used");
    assert_eq!(cell("agent:denied", "echo"), "denied");
    assert_eq!(cell("agent:glass", "echo"), "granted-used");
    assert_eq!(cell("agent:denied", "workspace-edit"), "never-asked");
    assert!(dom.contains("break-glass: human:carol opened a window for agent:glass"), "{dom}");

    // The suggestion: it validates and is never wider than the policy.
    let suggested = setup.path("suggested.cedar");
    let out = airlock(&setup, &["policy", "suggest", "--from-audit", "--out", &suggested.to_string_lossy()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&suggested).expect("suggested");
    assert!(out.stderr.contains("1 forbid(s) kept; 2 permit(s) not carried over"), "{}\n{text}", out.stderr);
    assert!(text.contains("// Not carried over: permit `release-never-used`"), "{text}");
    assert!(text.contains("// Not carried over: permit `glass-echo`"), "break-glass use is no grant: {text}");
    assert!(text.contains("1 break-glass call(s) left out"), "{text}");
    assert!(text.contains("// agent:subset (https://issuer.airlock.test): fs.read Path::\"/workspace\", tool fs-read-granted:\n// used in 2 of 2 call(s)"), "{text}");
    assert!(!text.contains("agent:subset fs.write"), "an unused grant is not suggested: {text}");
    let check = airlock(&setup, &["policy", "check", &suggested.to_string_lossy()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let current = setup.path("policy.cedar");
    if solver_present() {
        let diff =
            airlock(&setup, &["policy", "diff", &current.to_string_lossy(), &suggested.to_string_lossy()]);
        assert_eq!(diff.code, 0, "the suggestion must not widen:\n{}\n{}", diff.stdout, diff.stderr);
    }

    // Applied, it allows every call of the history (the break-glass one
    // aside) and still denies the denied agent.
    let explain_subset = |setup: &Setup| {
        let token = setup.token_with("agent:subset", json!({"agent_class": "worker"}));
        airlock(setup, &["policy", "explain", "--token", &token, "--tool", programs::FS_READ_GRANTED]).stdout
    };
    let before = explain_subset(&setup);
    assert!(before.lines().any(|l| l.contains("allow  fs.write")), "{before}");
    std::fs::copy(&suggested, &current).expect("apply the suggestion");
    for (call, code) in &history[..history.len() - 1] {
        let again = run(&setup, call);
        assert_eq!(again.code, *code, "{} again: {}", call.sub, again.stderr);
    }
    // What needs a grant nobody used is denied: the subset agent's write,
    // and the break-glass agent's echo (its permit was not carried over).
    let after = explain_subset(&setup);
    assert!(after.lines().any(|l| l.contains("deny   fs.write")), "{after}");
    assert!(after.lines().any(|l| l.contains("allow  fs.read")), "{after}");
    let glass_again = run(&setup, &GLASS);
    assert_eq!(glass_again.code, 3, "{}", glass_again.stderr);

    // No use, no suggestion (forbids alone would deny everything).
    let none = airlock(&setup, &["policy", "suggest", "--from-audit", "--since", "2999-01-01"]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("no call in the window ran"), "{}", none.stderr);
}
