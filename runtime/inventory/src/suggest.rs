//! A least-privilege policy set from observed use.
//!
//! Every suggested `permit` is a copy of the current permit that allowed a
//! use, narrowed to that use: its action scope becomes the one action, and
//! a `when` clause is added naming the subject (issuer and `sub`, or a
//! claim), the resource and the tool. Every current `forbid` is kept as it
//! is. A permit with an extra condition permits less, so the suggestion is
//! never wider than the current policy (`airlock policy diff` proves it).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use airlock_policy::KNOWN_CLAIMS;
use cedar_policy::{Effect, EntityUid, Policy, PolicySet};
use serde_json::{Value, json};

use crate::grants::quoted;
use crate::observed::{Observed, Subject, Use};

/// Why no suggestion could be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuggestError {
    /// No call in the window ran: there is no use to suggest from (a set
    /// of forbids alone would deny everything).
    #[error("no call in the window ran: there is no use to suggest a policy from")]
    NoUse,
    /// A recorded resource is not a Cedar entity (the log verified, so
    /// this is a record written by another version).
    #[error("recorded resource `{0}` is not a Cedar entity")]
    Resource(String),
    /// Cedar refused a policy built here (a bug: it names the policy).
    #[error("building the policy for {0}: {1}")]
    Cedar(String, String),
}

/// The suggested policy set and what it says about the current one.
#[derive(Clone, Debug, Default)]
pub struct Suggestion {
    /// The Cedar text, commented.
    pub text: String,
    /// Permits suggested.
    pub permits: usize,
    /// Current forbids kept.
    pub forbids: usize,
    /// Current permits no use in the window came from: not carried over.
    pub unused_permits: Vec<String>,
    /// Uses whose permits the current policy no longer has: not carried
    /// over (the current policy already denies them).
    pub dropped: Vec<String>,
}

/// Narrows `current`'s permits to what `observed` shows was used.
pub fn suggest(
    observed: &Observed,
    current: &PolicySet,
    since: Option<&str>,
) -> Result<Suggestion, SuggestError> {
    if observed.calls == 0 {
        return Err(SuggestError::NoUse);
    }
    let mut suggestion = Suggestion::default();
    let mut body = String::new();
    let mut ids = BTreeSet::new();
    let mut narrowed = BTreeSet::new();
    let mut clauses = Clauses::default();
    // Each current permit as JSON, converted once however many uses it
    // allowed.
    let mut permit_json: HashMap<String, Value> = HashMap::new();
    let pretty = observed
        .subjects
        .values()
        .flat_map(|uses| uses.used.values().flat_map(|by_action| by_action.values().map(BTreeMap::len)))
        .sum::<usize>()
        <= PRETTY_UP_TO;
    for (subject, uses) in &observed.subjects {
        // Per tool, `invoke` first.
        let mut used: Vec<(&String, &String, &String, &Use)> = uses
            .used
            .iter()
            .flat_map(|(tool, by_action)| {
                by_action.iter().flat_map(move |(action, by_resource)| {
                    by_resource.iter().map(move |(resource, used)| (tool, action, resource, used))
                })
            })
            .collect();
        used.sort_by_key(|(tool, action, resource, _)| (*tool, *action != "invoke", *action, *resource));
        for (tool, action, resource, used) in used {
            let Some(permit) = permit_for(current, used) else {
                let permits: Vec<&str> = used.permits.iter().map(String::as_str).collect();
                suggestion.dropped.push(safe(&format!(
                    "{}: {action} {resource}, tool {tool} (allowed by {}, no longer in the policy)",
                    subject.describe(),
                    permits.join(", ")
                )));
                continue;
            };
            let id = match action.as_str() {
                "invoke" => format!("{} invoke {tool}", who(subject)),
                _ => format!(
                    "{} {action} {} ({tool})",
                    who(subject),
                    quoted(resource).unwrap_or(Cow::Borrowed(resource))
                ),
            };
            let id = unique(&mut ids, id);
            let clause = clauses.clause(subject, tool, action, resource)?;
            let key: &str = permit.id().as_ref();
            let est = match permit_json.get(key) {
                Some(est) => est.clone(),
                None => {
                    let est = permit
                        .to_json()
                        .map_err(|e| SuggestError::Cedar(permit.id().to_string(), e.to_string()))?;
                    permit_json.insert(key.to_owned(), est.clone());
                    est
                }
            };
            let policy = narrow(permit, est, action, clause, &id, pretty)?;
            let ran = uses.calls.get(tool).copied().unwrap_or_default();
            body.push_str(&format!(
                "// {}: {action} {resource}, tool {tool}:\n// used in {} of {ran} call(s), {} to {}.\n{policy}\n\n",
                safe(&subject.describe()),
                used.calls,
                safe(&used.first),
                safe(&used.last),
            ));
            narrowed.insert(permit.id().to_string());
            suggestion.permits += 1;
        }
    }
    for policy in current.policies().filter(|p| p.effect() == Effect::Forbid) {
        let est =
            policy.to_json().map_err(|e| SuggestError::Cedar(policy.id().to_string(), e.to_string()))?;
        let kept = render(est, policy.id().as_ref(), None, None, pretty)?;
        body.push_str(&format!("// Kept as it is: forbid `{}`.\n{kept}\n\n", safe(policy.id().as_ref())));
        suggestion.forbids += 1;
    }
    suggestion.unused_permits = current
        .policies()
        .filter(|p| p.effect() == Effect::Permit && !narrowed.contains(&p.id().to_string()))
        .map(|p| p.id().to_string())
        .collect();
    let window = since.map_or_else(|| "the whole log".to_owned(), |s| format!("records since {s}"));
    let mut text = format!(
        "// Suggested by `airlock policy suggest --from-audit` from {} call(s) in {} verified\n\
         // record(s) ({window}); {} break-glass call(s) left out.\n\
         // Each permit narrows the current permit its @narrows names to one use of\n\
         // one identity or claim group; each forbid is the current one, as it is.\n\
         // It is never wider than the current policy: `airlock policy diff` proves it.\n",
        observed.calls, observed.records, observed.break_glass_calls,
    );
    for id in &suggestion.unused_permits {
        text.push_str(&format!("// Not carried over: permit `{}` (no use in the window).\n", safe(id)));
    }
    for dropped in &suggestion.dropped {
        text.push_str(&format!("// Not carried over: {dropped}.\n"));
    }
    text.push('\n');
    text.push_str(&body);
    suggestion.text = text;
    Ok(suggestion)
}

/// The current permit to narrow for `used`: one that allowed it, not
/// marked `@approval` when there is one.
fn permit_for<'a>(current: &'a PolicySet, used: &Use) -> Option<&'a Policy> {
    let permits: Vec<&Policy> = used
        .permits
        .iter()
        .filter_map(|id| current.policy(&cedar_policy::PolicyId::new(id)))
        .filter(|p| p.effect() == Effect::Permit)
        .collect();
    permits.iter().find(|p| p.annotation("approval").is_none()).or(permits.first()).copied()
}

/// The `when` clauses of the suggested permits, parsed once per shape: each
/// is parsed from Cedar text with placeholders for its values, and the
/// values are put into the parsed form (so no value is ever parsed as
/// Cedar, and thousands of permits cost a handful of parses).
#[derive(Default)]
struct Clauses {
    parsed: HashMap<String, Value>,
}

/// Marks a placeholder: no Cedar text the clauses are built from holds it.
const MARK: char = '\u{1}';

impl Clauses {
    /// The clause naming `subject`, the resource, the tool and (for
    /// `secret.use`) the destination, as the EST of a `when` condition.
    fn clause(
        &mut self,
        subject: &Subject,
        tool: &str,
        action: &str,
        resource: &str,
    ) -> Result<Value, SuggestError> {
        let (entity, destination) = match resource.rsplit_once(" for ") {
            Some((entity, destination)) if action == "secret.use" => (entity, Some(destination)),
            _ => (resource, None),
        };
        let entity: EntityUid = entity.parse().map_err(|_| SuggestError::Resource(resource.to_owned()))?;
        let hole = |name: &str| format!("\"{}\"", format!("{MARK}{name}").escape_default());
        let (mut text, mut values) = match subject {
            Subject::Identity { iss, sub } => (
                format!("principal.iss == {} && principal.sub == {}", hole("iss"), hole("sub")),
                vec![("iss", iss.as_str()), ("sub", sub.as_str())],
            ),
            Subject::Claim { iss, claim, value } if KNOWN_CLAIMS.contains(&claim.as_str()) => (
                format!(
                    "principal.iss == {} && principal has {} && principal[{}] == {}",
                    hole("iss"),
                    hole("claim"),
                    hole("claim"),
                    hole("value")
                ),
                vec![("iss", iss.as_str()), ("claim", claim.as_str()), ("value", value.as_str())],
            ),
            Subject::Claim { iss, claim, value } => (
                format!(
                    "principal.iss == {} && principal.hasTag({}) && principal.getTag({}) == {}",
                    hole("iss"),
                    hole("claim"),
                    hole("claim"),
                    hole("value")
                ),
                vec![("iss", iss.as_str()), ("claim", claim.as_str()), ("value", value.as_str())],
            ),
        };
        let id = entity.id().unescaped().to_owned();
        text.push_str(&format!(" && resource == {}::{}", entity.type_name(), hole("resource")));
        values.push(("resource", &id));
        if action != "invoke" {
            text.push_str(&format!(" && context.tool == Tool::{}", hole("tool")));
            values.push(("tool", tool));
        }
        if let Some(destination) = destination {
            text.push_str(&format!(" && context.destination == Host::{}", hole("destination")));
            values.push(("destination", destination));
        }
        let mut condition = match self.parsed.get(&text) {
            Some(template) => template.clone(),
            None => {
                let failed = |e: &dyn std::fmt::Display| SuggestError::Cedar(text.clone(), e.to_string());
                let policy = format!("permit (principal, action, resource) when {{ {text} }};");
                let parsed =
                    Policy::parse(None, policy).map_err(|e| failed(&e))?.to_json().map_err(|e| failed(&e))?;
                let condition = parsed["conditions"][0].clone();
                self.parsed.insert(text, condition.clone());
                condition
            }
        };
        fill(&mut condition, &values);
        Ok(condition)
    }
}

/// Replaces each placeholder string in `value` with its value.
fn fill(value: &mut Value, values: &[(&str, &str)]) {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix(MARK)
                && let Some((_, with)) = values.iter().find(|(n, _)| *n == name)
            {
                *text = (*with).to_owned();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| fill(item, values)),
        Value::Object(members) => members.values_mut().for_each(|member| fill(member, values)),
        _ => {}
    }
}

/// `permit` (whose JSON form is `est`) for one action, with `clause` added
/// to its conditions; `@id` is `id` and `@narrows` the permit's id.
fn narrow(
    permit: &Policy,
    mut est: Value,
    action: &str,
    clause: Value,
    id: &str,
    pretty: bool,
) -> Result<String, SuggestError> {
    est["action"] = json!({"op": "==", "entity": {"type": "Action", "id": action}});
    match est["conditions"].as_array_mut() {
        Some(conditions) => conditions.push(clause),
        None => est["conditions"] = Value::Array(vec![clause]),
    }
    render(est, id, Some(permit.id().as_ref()), permit.annotation("approval"), pretty)
}

/// Up to this many permits, each policy is pretty-printed (one condition
/// per line); beyond it, Cedar's own layout is kept: the formatter parses
/// every policy again, which for thousands of them costs seconds.
const PRETTY_UP_TO: usize = 1_000;

/// The policy `est` as Cedar text with `@id(id)`, `@narrows(narrows)` when
/// given, and `@approval(approval)` when given.
fn render(
    mut est: Value,
    id: &str,
    narrows: Option<&str>,
    approval: Option<&str>,
    pretty: bool,
) -> Result<String, SuggestError> {
    let failed = |e: &dyn std::fmt::Display| SuggestError::Cedar(id.to_owned(), e.to_string());
    let mut annotations = serde_json::Map::new();
    annotations.insert("id".into(), Value::String(id.to_owned()));
    if let Some(narrows) = narrows {
        annotations.insert("narrows".into(), Value::String(narrows.to_owned()));
    }
    if let Some(approval) = approval {
        annotations.insert("approval".into(), Value::String(approval.to_owned()));
    }
    est["annotations"] = Value::Object(annotations);
    let policy = Policy::from_json(None, est).map_err(|e| failed(&e))?;
    let text = policy.to_cedar().ok_or_else(|| failed(&"not expressible as Cedar text"))?;
    if !pretty {
        return Ok(text);
    }
    let config = cedar_policy_formatter::Config { line_width: 100, indent_width: 2 };
    Ok(cedar_policy_formatter::policies_str_to_pretty(&text, &config)
        .map_or(text, |t| t.trim_end().to_owned()))
}

/// How a subject reads in an id: its `sub`, or `claim=value`.
fn who(subject: &Subject) -> String {
    match subject {
        Subject::Identity { sub, .. } => sub.clone(),
        Subject::Claim { claim, value, .. } => format!("{claim}={value}"),
    }
}

/// `id`, or with ` (2)`, ` (3)`, ... when taken.
fn unique(ids: &mut BTreeSet<String>, id: String) -> String {
    let mut candidate = id.clone();
    let mut n = 2;
    while ids.contains(&candidate) {
        candidate = format!("{id} ({n})");
        n += 1;
    }
    ids.insert(candidate.clone());
    candidate
}

/// `text` fit for a comment line: control characters (a newline would end
/// the comment and start policy text) are escaped.
fn safe(text: &str) -> String {
    text.chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use serde_json::json;

    use super::*;
    use crate::fixture::{call, record};

    const CURRENT: &str = r#"
@id("ci")
permit (principal, action, resource)
when { principal.iss == "https://ci.example" };

@id("never-used")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:old" };

@id("no-git")
forbid (principal, action == Action::"fs.write", resource in Path::"/workspace/.git");
"#;

    fn observed(sub: &str) -> Observed {
        let mut event = call(Some(sub), "patch-deps", "ok", None);
        event["capabilities"] = json!([
            {"action": "invoke", "resource": "Tool::\"patch-deps\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.read", "resource": "Path::\"/workspace\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.write", "resource": "Path::\"/workspace\"", "allowed": true, "policies": ["ci"]},
            {"action": "secret.use", "resource": "Secret::\"OSV_TOKEN\" for https://api.osv.dev", "allowed": true, "policies": ["ci"]},
        ]);
        event["effects"]["usage"] =
            json!({"mounts": {"/workspace": {"read": true, "written": false}}, "secrets": ["OSV_TOKEN"]});
        let mut observed = Observed::new(None, None);
        observed.add(&record(1, "2026-12-01T00:00:00.000Z", event));
        observed
    }

    #[test]
    fn each_use_narrows_the_permit_that_allowed_it_and_forbids_are_kept() {
        let current = PolicySet::from_str(CURRENT).expect("policies");
        let current = PolicySet::from_policies(current.policies().map(|p| {
            let id = p.annotation("id").expect("id").to_owned();
            p.new_id(cedar_policy::PolicyId::new(id))
        }))
        .expect("ids");
        let suggestion = suggest(&observed("agent:fixer\nforbid"), &current, None).expect("suggestion");
        assert_eq!((suggestion.permits, suggestion.forbids), (3, 1), "{}", suggestion.text);
        assert_eq!(suggestion.unused_permits, ["never-used"]);
        let suggested = PolicySet::from_str(&suggestion.text).expect("the suggestion parses");
        assert_eq!(suggested.policies().count(), 4, "{}", suggestion.text);
        // The newline in the sub is escaped in comments, so no policy text
        // can be smuggled in through a claim.
        assert!(suggestion.text.contains(r"agent:fixer\nforbid"), "{}", suggestion.text);
        assert!(suggestion.text.contains("@narrows(\"ci\")"), "{}", suggestion.text);
        assert!(
            suggestion.text.contains("context.destination == Host::\"https://api.osv.dev\""),
            "{}",
            suggestion.text
        );
        assert!(!suggestion.text.contains("fs.write\"") || suggestion.text.contains("no-git"));
    }

    #[test]
    fn claim_groups_validate_as_attributes_or_tags() {
        use airlock_policy::authz::{Authorizer, PolicySource};
        let current = Authorizer::new(&[PolicySource { name: "current.cedar".into(), text: CURRENT.into() }])
            .expect("current");
        for (claim, expected) in
            [("repository", "principal has repository"), ("team", "principal.hasTag(\"team\")")]
        {
            let mut event = call(Some("agent:ci"), "grep", "ok", None);
            event["principal"]["claims"] = json!({"repository": "acme/app", "team": "platform"});
            event["capabilities"] = json!([{"action": "invoke", "resource": "Tool::\"grep\"", "allowed": true, "policies": ["ci"]}]);
            let mut observed = Observed::new(Some(claim), None);
            observed.add(&record(1, "2026-12-01T00:00:00.000Z", event));
            let suggestion = suggest(&observed, current.policy_set(), None).expect("suggestion");
            assert!(suggestion.text.contains(expected), "{}", suggestion.text);
            Authorizer::new(&[PolicySource {
                name: "suggested.cedar".into(),
                text: suggestion.text.clone(),
            }])
            .unwrap_or_else(|e| panic!("{e}\n{}", suggestion.text));
        }
    }

    #[test]
    fn values_are_never_read_as_cedar() {
        let current = PolicySet::from_str("@id(\"ci\") permit (principal, action, resource);").expect("set");
        let current =
            PolicySet::from_policies(current.policies().map(|p| p.new_id(cedar_policy::PolicyId::new("ci"))))
                .expect("ids");
        let sneaky = "agent:x\" || principal.sub like \"*";
        let mut event = call(Some(sneaky), "grep", "ok", None);
        event["capabilities"] = json!([
            {"action": "invoke", "resource": "Tool::\"grep\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.read", "resource": "Path::\"/w\\\" || true || \\\"\"", "allowed": true, "policies": ["ci"]},
        ]);
        event["effects"]["usage"] =
            json!({"mounts": {"/w\" || true || \"": {"read": true, "written": false}}});
        let mut observed = Observed::new(None, None);
        observed.add(&record(1, "2026-12-01T00:00:00.000Z", event));
        let suggestion = suggest(&observed, &current, None).expect("suggestion");
        assert_eq!(suggestion.permits, 2, "{}", suggestion.text);
        let parsed = PolicySet::from_str(&suggestion.text).expect("parses");
        let conditions: Vec<String> =
            parsed.policies().map(|p| p.to_json().expect("json")["conditions"].to_string()).collect();
        assert!(
            conditions.iter().all(|c| c.contains(r#""Value":"agent:x\" || principal.sub like \"*""#)),
            "{conditions:?}"
        );
        assert!(conditions.iter().any(|c| c.contains(r#""id":"/w\" || true || \"""#)), "{conditions:?}");
    }

    #[test]
    fn a_use_whose_permit_is_gone_is_dropped_and_no_use_is_an_error() {
        let current =
            PolicySet::from_str("@id(\"other\") permit (principal, action, resource);").expect("set");
        let suggestion = suggest(&observed("agent:fixer"), &current, None).expect("suggestion");
        assert_eq!(suggestion.permits, 0);
        assert_eq!(suggestion.dropped.len(), 3, "{:?}", suggestion.dropped);
        assert!(matches!(suggest(&Observed::new(None, None), &current, None), Err(SuggestError::NoUse)));
    }
}
