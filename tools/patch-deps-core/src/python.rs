//! pip: `requirements.txt` lines pinned with `==` say which version is
//! installed, and the version on that line is replaced in place (extras,
//! markers, hashes options and comments stay). Lines that are not pinned
//! cannot say what is installed; one naming a package with advisories is
//! reported in the notes.

use airlock_sdk::ToolError;

use crate::Project;
use crate::advisory::{Advisories, Remedy};
use crate::report::{Change, Report, Unfixed};
use crate::version::Ecosystem;

const REQUIREMENTS: &str = "requirements.txt";

/// One requirement line, as far as the tool needs it.
#[derive(Debug, PartialEq, Eq)]
struct Requirement<'a> {
    name: &'a str,
    /// Byte range of the pinned version on the line, when it is `==X`.
    pinned: Option<std::ops::Range<usize>>,
}

pub(crate) fn patch(
    project: &Project,
    advisories: &Advisories,
    report: &mut Report,
) -> Result<(), ToolError> {
    let Some(text) = project.read(REQUIREMENTS)? else { return Ok(()) };
    report.files.push(project.display(REQUIREMENTS));
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let Some(requirement) = parse(line) else {
            out.push_str(line);
            continue;
        };
        let Some(range) = requirement.pinned else {
            if advisories.mentions(Ecosystem::PyPi, requirement.name) {
                report.note(format!(
                    "{}: `{}` is not pinned with ==, so its installed version is unknown; not checked",
                    project.display(REQUIREMENTS),
                    requirement.name
                ));
            }
            out.push_str(line);
            continue;
        };
        let version = &line[range.clone()];
        let Some(current) = Ecosystem::PyPi.parse(version) else {
            out.push_str(line);
            continue;
        };
        match advisories.remedy(Ecosystem::PyPi, requirement.name, &current) {
            Remedy::Clean => out.push_str(line),
            Remedy::Unfixable { advisories, reason } => {
                report.unfixed.push(Unfixed {
                    file: project.display(REQUIREMENTS),
                    ecosystem: Ecosystem::PyPi,
                    package: requirement.name.to_owned(),
                    version: version.to_owned(),
                    advisories,
                    reason,
                });
                out.push_str(line);
            }
            Remedy::Upgrade { to, advisories } => {
                let to = to.to_string();
                out.push_str(&line[..range.start]);
                out.push_str(&to);
                out.push_str(&line[range.end..]);
                changed = true;
                report.changed.push(Change {
                    file: project.display(REQUIREMENTS),
                    ecosystem: Ecosystem::PyPi,
                    package: requirement.name.to_owned(),
                    from: version.to_owned(),
                    to,
                    advisories,
                });
            }
        }
    }
    if changed {
        project.write(REQUIREMENTS, &out)?;
    }
    Ok(())
}

/// Parses `name[extras] <specifiers> ; markers  # comment`. Options
/// (`-r`, `--hash`, `-e`), URLs, blank and comment lines are `None`.
fn parse(line: &str) -> Option<Requirement<'_>> {
    let body = line.split(" #").next().unwrap_or(line);
    let body = body.split(';').next().unwrap_or(body);
    let start = body.len() - body.trim_start().len();
    let rest = &body[start..];
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(rest.len());
    // PEP 508 names start with a letter or digit; options start with `-`.
    if !rest.starts_with(|c: char| c.is_ascii_alphanumeric()) || rest.contains("://") || rest.contains(" @ ")
    {
        return None;
    }
    let name = &rest[..name_len];
    let mut offset = start + name_len;
    let mut tail = &body[offset..];
    if let Some(extras) = tail.trim_start().strip_prefix('[') {
        let close = extras.find(']')?;
        let skipped = tail.len() - extras.len() + close + 1;
        offset += skipped;
        tail = &tail[skipped..];
    }
    let specifiers = tail.trim_end().trim_end_matches('\\').trim_end();
    let pinned = specifiers
        .trim_start()
        .strip_prefix("==")
        .filter(|v| !v.starts_with('=') && !v.contains([',', '*']))
        .map(|v| {
            let version = v.trim();
            let at = offset + (tail.len() - tail.trim_start().len()) + 2 + (v.len() - v.trim_start().len());
            at..at + version.len()
        })
        .filter(|r| !r.is_empty());
    Some(Requirement { name, pinned })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(line: &str) -> Option<&str> {
        parse(line).and_then(|r| r.pinned).map(|r| &line[r])
    }

    #[test]
    fn pins_are_found_with_their_exact_span() {
        assert_eq!(pinned("requests==2.19.0\n"), Some("2.19.0"));
        assert_eq!(pinned("  Jinja2 == 2.10   # templating\n"), Some("2.10"));
        assert_eq!(pinned("uvicorn[standard]==0.20.0 ; python_version >= \"3.8\"\n"), Some("0.20.0"));
        assert_eq!(pinned("urllib3==1.24.1 \\\n"), Some("1.24.1"));
        assert_eq!(parse("flask>=2.0\n").map(|r| r.name), Some("flask"));
        assert_eq!(pinned("flask>=2.0\n"), None);
        assert_eq!(pinned("django==3.*\n"), None);
        assert_eq!(pinned("pkg===1.0\n"), None);
        for skipped in
            ["# comment\n", "\n", "-r other.txt\n", "    --hash=sha256:abc\n", "git+https://x/y.git\n"]
        {
            assert_eq!(parse(skipped), None, "{skipped:?}");
        }
    }
}
