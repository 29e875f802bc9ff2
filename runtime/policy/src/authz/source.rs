//! Loading operator policy files: parse, name, validate, with locations.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

/// One policy file's text and the name errors should use for it (usually
/// its path as the operator wrote it).
#[derive(Clone, Debug)]
pub struct PolicySource {
    /// Shown in errors and policy ids.
    pub name: String,
    /// The Cedar text.
    pub text: String,
}

/// One problem in a policy file, located by 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    /// The [`PolicySource::name`] of the file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, with Cedar's help text when it has one.
    pub message: String,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

/// Every problem found in a set of policy files. A policy set with any
/// problem is never used, not even in part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<PolicyDiagnostic>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Where a loaded policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyOrigin {
    /// The file's [`PolicySource::name`].
    pub file: String,
    /// 1-based line of the policy's first token (its first annotation or
    /// its `permit`/`forbid`).
    pub line: usize,
    /// Whether the policy is a `permit` annotated `@approval`: what it
    /// allows runs only with a human's approval.
    pub requires_approval: bool,
}

/// The annotation that marks a `permit` as allowing only with approval.
pub const APPROVAL_ANNOTATION: &str = "approval";

/// Validated policies with stable ids: the `@id("...")` annotation when the
/// policy has one, otherwise `<file>:<line>`.
#[derive(Clone, Debug)]
pub(crate) struct LoadedPolicies {
    pub(crate) set: PolicySet,
    pub(crate) origins: BTreeMap<String, PolicyOrigin>,
}

pub(crate) fn load(schema: &Schema, sources: &[PolicySource]) -> Result<LoadedPolicies, PolicyErrors> {
    let mut errors = Vec::new();
    let mut set = PolicySet::new();
    let mut origins = BTreeMap::new();
    for source in sources {
        let Some(policies) = parse_file(source, &mut errors) else { continue };
        let mut file_set = PolicySet::new();
        let mut offsets = BTreeMap::new();
        for (policy, offset, line) in policies {
            let id = policy.id().to_string();
            if let Some(first) = origins.get(&id) {
                errors.push(at(
                    source,
                    offset,
                    format!("duplicate policy id `{id}` (first used at {})", describe_origin(first)),
                ));
                continue;
            }
            let requires_approval = match approval_marker(&policy) {
                Ok(marked) => marked,
                Err(message) => {
                    errors.push(at(source, offset, message));
                    continue;
                }
            };
            origins.insert(id.clone(), PolicyOrigin { file: source.name.clone(), line, requires_approval });
            offsets.insert(id, offset);
            if let Err(e) = file_set.add(policy.clone()) {
                errors.push(at(source, offset, e.to_string()));
                continue;
            }
            if let Err(e) = set.add(policy) {
                errors.push(at(source, offset, e.to_string()));
            }
        }
        let result = Validator::new(schema.clone()).validate(&file_set, ValidationMode::Strict);
        for error in result.validation_errors() {
            let base = offsets.get(&error.policy_id().to_string()).copied().unwrap_or(0);
            errors.push(at(source, base + first_label(error), with_help(error)));
        }
    }
    if errors.is_empty() { Ok(LoadedPolicies { set, origins }) } else { Err(PolicyErrors(errors)) }
}

/// Whether `policy` carries a valid `@approval` marker. Only `permit`s can
/// carry one, and the only approver class is `human` (also the meaning of a
/// bare `@approval`).
fn approval_marker(policy: &Policy) -> Result<bool, String> {
    let Some(class) = policy.annotation(APPROVAL_ANNOTATION) else { return Ok(false) };
    if policy.effect() == cedar_policy::Effect::Forbid {
        return Err(
            "`@approval` on a `forbid`: only a `permit` can require approval (a forbid always denies)".into(),
        );
    }
    match class {
        "" | "human" => Ok(true),
        other => Err(format!("`@approval(\"{other}\")`: the only approver class is `human`")),
    }
}

fn describe_origin(origin: &PolicyOrigin) -> String {
    format!("{}:{}", origin.file, origin.line)
}

/// Parses one file into policies with their final ids, byte offsets and
/// 1-based lines.
fn parse_file(
    source: &PolicySource,
    errors: &mut Vec<PolicyDiagnostic>,
) -> Option<Vec<(Policy, usize, usize)>> {
    // The whole file first, so syntax errors point into the file as written.
    if let Err(parse_errors) = PolicySet::from_str(&source.text) {
        for error in parse_errors.iter() {
            errors.push(at(source, first_label(error), with_help(error)));
        }
        return None;
    }
    if source.text.contains("?principal") || source.text.contains("?resource") {
        errors.push(at(source, 0, "policy templates are not supported; write concrete policies".into()));
        return None;
    }
    let mut policies = Vec::new();
    let lines = LineStarts::of(&source.text);
    for (start, end) in statements(&source.text) {
        let text = &source.text[start..end];
        let line = lines.line(start);
        let policy = match Policy::parse(None, text) {
            Ok(policy) => policy,
            Err(parse_errors) => {
                for error in parse_errors.iter() {
                    errors.push(at(source, start + first_label(error), with_help(error)));
                }
                continue;
            }
        };
        let id = match policy.annotation("id") {
            Some(id) if !id.is_empty() => id.to_owned(),
            Some(_) => {
                errors.push(at(source, start, "`@id` annotation is empty".into()));
                continue;
            }
            None => format!("{}:{line}", source.name),
        };
        policies.push((policy.new_id(PolicyId::new(id)), start, line));
    }
    Some(policies)
}

/// Byte ranges of the top-level statements (policies) in Cedar text: each
/// starts at its first token and ends after its `;`. Comments and string
/// literals are skipped, so a `;` inside them does not end a statement.
fn statements(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                start.get_or_insert(i);
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b';' => {
                if let Some(s) = start.take() {
                    out.push((s, i + 1));
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                start.get_or_insert(i);
            }
        }
        i += 1;
    }
    out
}

fn first_label(diagnostic: &dyn Diagnostic) -> usize {
    diagnostic.labels().and_then(|mut labels| labels.next()).map(|label| label.offset()).unwrap_or(0)
}

fn with_help(diagnostic: &(impl Diagnostic + fmt::Display + ?Sized)) -> String {
    match diagnostic.help() {
        Some(help) => format!("{diagnostic} (help: {help})"),
        None => diagnostic.to_string(),
    }
}

fn at(source: &PolicySource, offset: usize, message: String) -> PolicyDiagnostic {
    let (line, column) = line_col(&source.text, offset);
    PolicyDiagnostic { file: source.name.clone(), line, column, message }
}

/// 1-based line and column (in characters) of a byte offset.
/// Where each line of a text starts, to number many offsets without
/// scanning the text again for each (a file can hold thousands of
/// policies, as `airlock policy suggest` writes them).
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn of(text: &str) -> Self {
        Self(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    /// The 1-based line of byte `offset` (as [`line_col`] counts it).
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_skip_comments_and_strings() {
        let text = "// a; comment\npermit(principal, action, resource)\n  when { \"a;b\" == \"a;b\" };\n\n@id(\"x\")\nforbid(principal, action, resource);";
        let found: Vec<&str> = statements(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(found.len(), 2);
        assert!(found[0].starts_with("permit("), "{found:?}");
        assert!(found[0].ends_with("\"a;b\" };"), "{found:?}");
        assert!(found[1].starts_with("@id(\"x\")"), "{found:?}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 10), (1, 1));
    }

    #[test]
    fn line_starts_number_lines_as_line_col_does() {
        let text = "a\n\nbc\nd\n";
        let starts = LineStarts::of(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(starts.line(offset), line_col(text, offset).0, "offset {offset}");
        }
    }
}
