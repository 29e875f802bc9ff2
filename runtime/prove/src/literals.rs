//! The entity literals policies name (`Path::"/workspace"`,
//! `Host::"https://api.github.com"`, ...): what the guards must relate to
//! airlock's real entities.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::PolicySet;
use serde_json::Value;

/// Entity ids by type name, actions excluded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Literals {
    ids: BTreeMap<String, BTreeSet<String>>,
    /// Whether any policy calls `hasTag` or `getTag`.
    tags: bool,
}

impl Literals {
    /// Every literal in every policy of `sets`.
    pub(crate) fn of<'a>(sets: impl IntoIterator<Item = &'a PolicySet>) -> Self {
        let mut found = Self::default();
        for set in sets {
            for policy in set.policies() {
                // A policy that cannot be written as JSON names nothing we
                // can see; the proof then relies on SymCC's own model for
                // it, which is still sound for what it names.
                if let Ok(json) = policy.to_json() {
                    found.walk(&json);
                }
                let text = policy.to_string();
                found.tags |= text.contains("hasTag") || text.contains("getTag");
            }
        }
        found
    }

    /// The ids of `type_name` literals, in order.
    pub(crate) fn ids(&self, type_name: &str) -> impl Iterator<Item = &str> {
        self.ids.get(type_name).into_iter().flatten().map(String::as_str)
    }

    /// Whether any policy reads an entity's tags.
    pub(crate) fn reads_tags(&self) -> bool {
        self.tags
    }

    fn walk(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                if let (Some(Value::String(ty)), Some(Value::String(id)), 2) =
                    (map.get("type"), map.get("id"), map.len())
                    && ty != "Action"
                {
                    self.ids.entry(ty.clone()).or_default().insert(id.clone());
                    return;
                }
                map.values().for_each(|v| self.walk(v));
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn finds_scope_and_expression_literals() {
        let set = PolicySet::from_str(
            r#"permit(principal == Agent::"a", action == Action::"fs.read", resource in Path::"/w")
               when { context.tool == Tool::"t" && resource in [Path::"/x", Path::"/y/z"] };"#,
        )
        .expect("parses");
        let found = Literals::of([&set]);
        assert_eq!(found.ids("Path").collect::<Vec<_>>(), ["/w", "/x", "/y/z"]);
        assert_eq!(found.ids("Agent").collect::<Vec<_>>(), ["a"]);
        assert_eq!(found.ids("Tool").collect::<Vec<_>>(), ["t"]);
        assert_eq!(found.ids("Action").count(), 0);
    }
}
