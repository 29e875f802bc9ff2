//! The Cedar view of a call: entities for the principal, the tool and every
//! resource it asks for. Built from checked types only (a [`Principal`] from
//! a verified token, [`GuestPath`]s that are already normalised).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};

use super::{AuthzError, Capability, ToolIdentity};
use crate::{GuestPath, KNOWN_CLAIMS, Principal};

pub(crate) fn uid(type_name: &str, id: &str) -> Result<EntityUid, AuthzError> {
    let type_name = EntityTypeName::from_str(type_name)
        .map_err(|e| AuthzError::Input(format!("entity type `{type_name}`: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(type_name, EntityId::new(id)))
}

pub(crate) fn principal_uid(principal: &Principal) -> Result<EntityUid, AuthzError> {
    uid("Agent", principal.sub())
}

pub(crate) fn tool_uid(tool: &ToolIdentity) -> Result<EntityUid, AuthzError> {
    uid("Tool", &tool.name)
}

/// The Cedar resource a capability is about.
pub(crate) fn resource_uid(capability: &Capability, tool: &ToolIdentity) -> Result<EntityUid, AuthzError> {
    match capability {
        Capability::Invoke => tool_uid(tool),
        Capability::FsRead(path) | Capability::FsWrite(path) => uid("Path", path.as_str()),
        Capability::NetConnect { host, port } => uid("Host", &format!("{host}:{port}")),
        Capability::SecretUse(name) => uid("Secret", name),
        Capability::EnvRead(name) => uid("EnvVar", name),
    }
}

/// Context for an action: the tool that asked (every action but `invoke`).
pub(crate) fn context(capability: &Capability, tool: &ToolIdentity) -> Result<Context, AuthzError> {
    if matches!(capability, Capability::Invoke) {
        return Ok(Context::empty());
    }
    let pairs = [("tool".to_owned(), RestrictedExpression::new_entity_uid(tool_uid(tool)?))];
    Context::from_pairs(pairs).map_err(|e| AuthzError::Input(e.to_string()))
}

pub(crate) fn entities(
    schema: &Schema,
    principal: &Principal,
    tool: &ToolIdentity,
    capabilities: &[Capability],
) -> Result<Entities, AuthzError> {
    let mut all = vec![agent(principal)?, tool_entity(tool)?];
    let mut paths = BTreeSet::new();
    for capability in capabilities {
        match capability {
            Capability::Invoke => {}
            Capability::FsRead(path) | Capability::FsWrite(path) => {
                paths.extend(ancestors_and_self(path));
            }
            Capability::NetConnect { host, port } => all.push(entity(
                resource_uid(capability, tool)?,
                [
                    ("host", RestrictedExpression::new_string(host.clone())),
                    ("port", RestrictedExpression::new_long(i64::from(*port))),
                ],
                HashSet::new(),
            )?),
            Capability::SecretUse(name) | Capability::EnvRead(name) => all.push(entity(
                resource_uid(capability, tool)?,
                [("name", RestrictedExpression::new_string(name.clone()))],
                HashSet::new(),
            )?),
        }
    }
    for path in paths {
        let parents = match parent(path) {
            Some(parent) => HashSet::from([uid("Path", parent)?]),
            None => HashSet::new(),
        };
        all.push(entity(
            uid("Path", path)?,
            [("path", RestrictedExpression::new_string(path.to_owned()))],
            parents,
        )?);
    }
    all.sort_by_key(Entity::uid);
    all.dedup_by(|a, b| a.uid() == b.uid());
    Entities::from_entities(all, Some(schema)).map_err(|e| AuthzError::Input(e.to_string()))
}

fn agent(principal: &Principal) -> Result<Entity, AuthzError> {
    let mut attrs = HashMap::from([
        ("sub".to_owned(), RestrictedExpression::new_string(principal.sub().to_owned())),
        ("iss".to_owned(), RestrictedExpression::new_string(principal.iss().to_owned())),
        (
            "act".to_owned(),
            RestrictedExpression::new_set(
                principal.act().iter().cloned().map(RestrictedExpression::new_string),
            ),
        ),
        ("act_depth".to_owned(), RestrictedExpression::new_long(principal.act().len() as i64)),
    ]);
    for name in KNOWN_CLAIMS {
        if let Some(value) = principal.claim(name) {
            attrs.insert((*name).to_owned(), RestrictedExpression::new_string(value.to_owned()));
        }
    }
    let tags = principal
        .claims()
        .map(|(name, value)| (name.to_owned(), RestrictedExpression::new_string(value.to_owned())));
    Entity::new_with_tags(principal_uid(principal)?, attrs, HashSet::new(), tags)
        .map_err(|e| AuthzError::Input(e.to_string()))
}

fn tool_entity(tool: &ToolIdentity) -> Result<Entity, AuthzError> {
    entity(
        tool_uid(tool)?,
        [
            ("name", RestrictedExpression::new_string(tool.name.clone())),
            ("version", RestrictedExpression::new_string(tool.version.clone())),
            ("digest", RestrictedExpression::new_string(tool.digest.clone())),
        ],
        HashSet::new(),
    )
}

fn entity<const N: usize>(
    uid: EntityUid,
    attrs: [(&str, RestrictedExpression); N],
    parents: HashSet<EntityUid>,
) -> Result<Entity, AuthzError> {
    let attrs = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Entity::new(uid, attrs, parents).map_err(|e| AuthzError::Input(e.to_string()))
}

/// `/a/b/c` → `/a/b/c`, `/a/b`, `/a`, `/`.
fn ancestors_and_self(path: &GuestPath) -> impl Iterator<Item = &str> {
    let path = path.as_str();
    std::iter::successors(Some(path), |p| parent(p))
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_end_at_root() {
        let path = GuestPath::new("/workspace/src/lib").expect("valid");
        let all: Vec<&str> = ancestors_and_self(&path).collect();
        assert_eq!(all, ["/workspace/src/lib", "/workspace/src", "/workspace", "/"]);
    }
}
