//! `airlock agents report --html`: the grant matrix, opened in a real
//! headless browser (Debian's chromium, which `.ci/run` installs), and
//! nothing a token carries can put markup or script into the page.

use std::path::Path;

use super::audit::airlock;
use super::mcp::Setup;
use super::programs;

/// The page as the browser parsed it (`--dump-dom`), or `None` when no
/// browser is installed (CI requires one: `AIRLOCK_REQUIRE_CHROMIUM`).
pub(super) fn browser_dom(page: &Path) -> Option<String> {
    let browser = std::env::var("AIRLOCK_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output();
    match out {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        other => {
            assert!(
                std::env::var_os("AIRLOCK_REQUIRE_CHROMIUM").is_none(),
                "chromium is required and did not run: {other:?}"
            );
            eprintln!("skipped: no headless chromium ({browser})");
            None
        }
    }
}

/// `(sub, [(tool, cell class)])` per row of the matrix in `html`.
pub(super) fn matrix(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let tools: Vec<String> = html
        .split("<th scope=\"col\" class=\"tool\">")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap_or_default().to_owned())
        .collect();
    html.split("<tr><th scope=\"row\"><span class=\"sub\">")
        .skip(1)
        .map(|row| {
            let sub = row.split('<').next().unwrap_or_default().to_owned();
            let cells = row
                .split("<td class=\"cell ")
                .skip(1)
                .map(|cell| cell.split('"').next().unwrap_or_default().to_owned());
            (sub, tools.iter().cloned().zip(cells).collect())
        })
        .collect()
}

#[test]
fn the_report_renders_in_a_real_browser_and_escapes_what_tokens_carry() {
    let setup = Setup::new();
    let evil = "agent:<img src=x onerror=alert(1)><script>document.title='pwned'</script>";
    for (sub, program, code) in [
        ("human:alice", programs::ECHO, 0),
        ("agent:bot", airlock_tools::HTTP_FETCH_PATH, 3),
        (evil, programs::ECHO, 3),
    ] {
        let token = setup.token(sub);
        let out = airlock(&setup, &["run", "--token", &token, program, "--input", "{}"]);
        assert_eq!(out.code, code, "{sub}: {}", out.stderr);
    }
    let page = setup.path("report.html");
    let out = airlock(&setup, &["agents", "report", "--html", &page.to_string_lossy()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(&format!("wrote {}: 3 identities × ", page.display())), "{}", out.stdout);
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(!html.contains("<script") && !html.contains("<img"), "{html}");

    let Some(dom) = browser_dom(&page) else { return };
    assert!(dom.contains("<table id=\"matrix\">"), "{dom}");
    let rows = matrix(&dom);
    let subs: Vec<&str> = rows.iter().map(|(sub, _)| sub.as_str()).collect();
    assert_eq!(
        subs,
        [
            "agent:&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;",
            "agent:bot",
            "human:alice"
        ]
    );
    let cell = |sub: &str, tool: &str| {
        let row = rows.iter().find(|(s, _)| s == sub).expect("row");
        row.1.iter().find(|(t, _)| t == tool).map(|(_, class)| class.clone()).expect("cell")
    };
    assert_eq!(cell("human:alice", "echo"), "granted-used");
    assert_eq!(cell("human:alice", "read-file"), "granted-unused", "permitted, never called");
    assert_eq!(cell("agent:bot", "http-fetch"), "denied");
    assert_eq!(cell("agent:bot", "limit-infinite-loop"), "never-asked");
    assert_eq!(cell("agent:bot", "echo"), "granted-unused");
    // The browser built no element from the token: the only script-capable
    // markup would be what the sub carried, and it is text.
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    assert!(dom.contains("<title>airlock: agents and their grants</title>"), "{dom}");
    assert!(dom.contains("<li>read-file: permitted, never called in the window</li>"), "{dom}");
}
