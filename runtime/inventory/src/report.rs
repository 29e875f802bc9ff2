//! The identity × tool grant matrix, and one self-contained HTML page of it.
//!
//! Every string in the page comes from tokens, policies or tools, so every
//! one is escaped; the page also forbids every script and every fetch in
//! its own Content-Security-Policy, so a string that got through anyway
//! could still run nothing.

use std::fmt::Write as _;

use crate::grants::{Finding, GrantUse, ToolGrants, findings};

/// What one identity holds of one tool, and how it used it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// It may call the tool, called it, and used every grant it holds.
    Used,
    /// It may call the tool and never did, or left some grant unused.
    Unused,
    /// Its calls of the tool were refused, and it holds no `invoke`.
    Denied,
    /// It neither holds nor asked for the tool.
    NeverAsked,
}

impl Cell {
    /// The class and label in the page.
    pub fn name(self) -> &'static str {
        match self {
            Self::Used => "granted-used",
            Self::Unused => "granted-unused",
            Self::Denied => "denied",
            Self::NeverAsked => "never-asked",
        }
    }
}

/// The cell for one identity's grants of one tool (`None`: nothing known),
/// and a line saying why.
pub fn cell(tool: Option<&ToolGrants>) -> (Cell, String) {
    let Some(tool) = tool else { return (Cell::NeverAsked, String::new()) };
    let invoke = tool.grants.iter().find(|g| g.action == "invoke");
    let may_call = invoke.is_some_and(GrantUse::held);
    if !may_call {
        let refused = invoke.map_or(0, |g| g.denied);
        return match refused {
            0 => (Cell::NeverAsked, String::new()),
            n => (Cell::Denied, format!("refused {n} time(s)")),
        };
    }
    if tool.calls == 0 {
        return (Cell::Unused, "permitted, never called".to_owned());
    }
    let unused: Vec<String> = tool
        .grants
        .iter()
        .filter(|g| g.action != "invoke" && g.held() && g.used == 0)
        .map(|g| format!("{} {}", g.action, g.resource))
        .collect();
    match unused.is_empty() {
        true => (Cell::Used, format!("{} call(s)", tool.calls)),
        false => (Cell::Unused, format!("{} call(s); unused: {}", tool.calls, unused.join(", "))),
    }
}

/// One row of the matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The identity's issuer.
    pub iss: String,
    /// Its `sub`.
    pub sub: String,
    /// Its calls in the window.
    pub calls: u64,
    /// Its grants per tool.
    pub tools: Vec<ToolGrants>,
}

/// What the page shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// What the window was (`the whole log`, `since …`).
    pub window: String,
    /// When the report was made (RFC 3339).
    pub generated: String,
    /// Records read.
    pub records: u64,
    /// Whether the effective grants were decided (with the configuration).
    pub effective: bool,
    /// One row per identity.
    pub rows: Vec<Row>,
    /// Log-wide findings (stale identities, idle policies, break-glass,
    /// approvals), one line each.
    pub hygiene: Vec<String>,
}

impl Report {
    /// Every tool any row knows of, by name.
    pub fn tools(&self) -> Vec<&str> {
        let mut tools: Vec<&str> =
            self.rows.iter().flat_map(|row| row.tools.iter().map(|t| t.tool.as_str())).collect();
        tools.sort_unstable();
        tools.dedup();
        tools
    }

    /// The page: one self-contained HTML document, no script, no fetch.
    pub fn html(&self) -> String {
        let tools = self.tools();
        let mut page = String::with_capacity(4096);
        page.push_str(HEAD);
        let _ = write!(
            page,
            "<h1>Agents and their grants</h1>\n<p class=\"meta\">{} identities, {} records ({}); generated {}; {}.</p>\n",
            self.rows.len(),
            self.records,
            escape(&self.window),
            escape(&self.generated),
            if self.effective {
                "grants are what policy allows now, beside their use in the window"
            } else {
                "grants as recorded in calls (no configuration: not what policy allows now)"
            }
        );
        page.push_str(
            "<table id=\"matrix\">\n<thead><tr><th scope=\"col\">identity</th><th scope=\"col\">calls</th>",
        );
        for tool in &tools {
            let _ = write!(page, "<th scope=\"col\" class=\"tool\">{}</th>", escape(tool));
        }
        page.push_str("<th scope=\"col\">findings</th></tr></thead>\n<tbody>\n");
        for row in &self.rows {
            let _ = write!(
                page,
                "<tr><th scope=\"row\"><span class=\"sub\">{}</span><br><span class=\"iss\">{}</span></th><td class=\"calls\">{}</td>",
                escape(&row.sub),
                escape(&row.iss),
                row.calls
            );
            for tool in &tools {
                let (cell, why) = cell(row.tools.iter().find(|t| t.tool == *tool));
                let label = cell.name().replace('-', " ");
                let _ = write!(
                    page,
                    "<td class=\"cell {}\" title=\"{}\">{label}<small>{}</small></td>",
                    cell.name(),
                    escape(&why),
                    escape(&why)
                );
            }
            page.push_str("<td class=\"findings\"><ul>");
            for Finding { message, .. } in findings(&row.tools) {
                let _ = write!(page, "<li>{}</li>", escape(&message));
            }
            page.push_str("</ul></td></tr>\n");
        }
        page.push_str("</tbody>\n</table>\n");
        page.push_str(LEGEND);
        page.push_str("<h2>Hygiene</h2>\n<ul id=\"hygiene\">");
        for line in &self.hygiene {
            let _ = write!(page, "<li>{}</li>", escape(line));
        }
        page.push_str("</ul>\n</body>\n</html>\n");
        page
    }
}

/// `text` as HTML text or attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>airlock: agents and their grants</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1d232a; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
.meta { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .4em .6em; vertical-align: top; text-align: left; }
thead th { background: #f6f8fa; }
th.tool { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; }
.iss { color: #57606a; font-size: .85em; font-weight: normal; }
td.calls { text-align: right; }
td.cell { min-width: 6em; font-weight: 600; }
td.cell small { display: block; font-weight: normal; color: #3d444d; }
.granted-used { background: #dafbe1; }
.granted-unused { background: #fff1c2; }
.denied { background: #ffd8d3; }
.never-asked { background: #ffffff; color: #8c959f; }
td.findings ul, #hygiene { margin: 0; padding-left: 1.2em; }
</style>
</head>
<body>
"#;

const LEGEND: &str = r#"<h2>Legend</h2>
<table id="legend"><tbody>
<tr><td class="cell granted-used">granted used</td><td>It may call the tool, called it, and used every grant it holds.</td></tr>
<tr><td class="cell granted-unused">granted unused</td><td>It may call the tool and never did, or left a grant unused: a finding.</td></tr>
<tr><td class="cell denied">denied</td><td>Its calls were refused; it holds no invoke.</td></tr>
<tr><td class="cell never-asked">never asked</td><td>It neither holds the tool nor asked for it.</td></tr>
</tbody></table>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::Effective;

    fn grant(action: &str, granted: u64, denied: u64, used: u64) -> GrantUse {
        GrantUse {
            action: action.to_owned(),
            resource: format!("X::\"{action}\""),
            granted,
            denied,
            used,
            ..GrantUse::default()
        }
    }

    #[test]
    fn each_cell_says_what_the_identity_holds_and_used() {
        let tool = |calls, grants| ToolGrants { tool: "t".into(), calls, grants };
        assert_eq!(cell(None).0, Cell::NeverAsked);
        let used = tool(2, vec![grant("invoke", 2, 0, 2), grant("fs.read", 2, 0, 2)]);
        assert_eq!(cell(Some(&used)), (Cell::Used, "2 call(s)".into()));
        let partly = tool(2, vec![grant("invoke", 2, 0, 2), grant("fs.write", 2, 0, 0)]);
        assert_eq!(cell(Some(&partly)), (Cell::Unused, "2 call(s); unused: fs.write X::\"fs.write\"".into()));
        let refused = tool(0, vec![grant("invoke", 0, 3, 0)]);
        assert_eq!(cell(Some(&refused)), (Cell::Denied, "refused 3 time(s)".into()));
        let mut never = grant("invoke", 0, 0, 0);
        never.effective = Some(Effective { allowed: true, policies: vec!["p".into()] });
        assert_eq!(
            cell(Some(&tool(0, vec![never.clone()]))),
            (Cell::Unused, "permitted, never called".into())
        );
        never.effective = Some(Effective { allowed: false, policies: vec![] });
        assert_eq!(cell(Some(&tool(0, vec![never]))).0, Cell::NeverAsked);
    }

    #[test]
    fn every_string_in_the_page_is_escaped() {
        let evil = "<img src=x onerror=alert(1)>\"'&";
        let report = Report {
            window: evil.into(),
            rows: vec![Row {
                iss: evil.into(),
                sub: evil.into(),
                calls: 1,
                tools: vec![ToolGrants {
                    tool: evil.into(),
                    calls: 1,
                    grants: vec![grant("invoke", 1, 0, 1)],
                }],
            }],
            hygiene: vec![evil.into()],
            ..Report::default()
        };
        let page = report.html();
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"), "{page}");
        assert!(page.contains("default-src 'none'"));
    }
}
