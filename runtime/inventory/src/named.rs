//! The agents policies name, to find those never seen.

use std::collections::BTreeSet;

use serde_json::Value;

/// The `sub`s the policies (Cedar's JSON form, one value per policy) name:
/// `principal == Agent::"…"` or `in`, an `Agent::"…"` literal anywhere, and
/// `principal.sub == "…"` on either side. Patterns (`like`) name no one.
pub fn principals_named(policies: &[Value]) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for policy in policies {
        walk(policy, &mut named);
    }
    named
}

fn walk(value: &Value, named: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("Agent")
                && let Some(id) = map.get("id").and_then(Value::as_str)
            {
                named.insert(id.to_owned());
            }
            if let Some(Value::Object(eq)) = map.get("==") {
                let (left, right) = (eq.get("left"), eq.get("right"));
                for (side, other) in [(left, right), (right, left)] {
                    if side.is_some_and(is_principal_sub)
                        && let Some(sub) = other.and_then(|v| v.get("Value")).and_then(Value::as_str)
                    {
                        named.insert(sub.to_owned());
                    }
                }
            }
            map.values().for_each(|v| walk(v, named));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, named)),
        _ => {}
    }
}

/// Whether `value` is `principal.sub`.
fn is_principal_sub(value: &Value) -> bool {
    let Some(get) = value.get(".") else { return false };
    get.get("attr").and_then(Value::as_str) == Some("sub")
        && get.get("left").and_then(|l| l.get("Var")).and_then(Value::as_str) == Some("principal")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agents_named_by_entity_or_by_sub_are_found_and_patterns_are_not() {
        let policies = [
            json!({"principal": {"op": "==", "entity": {"type": "Agent", "id": "agent:triage"}}}),
            json!({"conditions": [{"kind": "when", "body": {"==": {
                "left": {".": {"left": {"Var": "principal"}, "attr": "sub"}},
                "right": {"Value": "agent:fixer"}}}}]}),
            json!({"conditions": [{"kind": "when", "body": {"==": {
                "left": {"Value": "agent:reversed"},
                "right": {".": {"left": {"Var": "principal"}, "attr": "sub"}}}}}]}),
            json!({"conditions": [{"kind": "when", "body": {"like": {
                "left": {".": {"left": {"Var": "principal"}, "attr": "sub"}},
                "pattern": ["ci:", "Wildcard"]}}}]}),
            json!({"conditions": [{"kind": "when", "body": {"==": {
                "left": {".": {"left": {"Var": "resource"}, "attr": "name"}},
                "right": {"Value": "echo"}}}}]}),
        ];
        let named: Vec<String> = principals_named(&policies).into_iter().collect();
        assert_eq!(named, ["agent:fixer", "agent:reversed", "agent:triage"]);
    }
}
