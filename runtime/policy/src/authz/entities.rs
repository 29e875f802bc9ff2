//! The Cedar view of a call: entities for the principal, the tool and every
//! resource it asks for. Built from checked types only (a [`Principal`] from
//! a verified token, [`GuestPath`]s that are already normalised).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};

use super::{AuthzError, Capability, ToolIdentity};
use crate::{Destination, GuestPath, KNOWN_CLAIMS, Methods, Principal};

/// The schema's entity types, parsed once.
const TYPES: [&str; 6] = ["Agent", "Tool", "Path", "Host", "Secret", "EnvVar"];
static TYPE_NAMES: LazyLock<Vec<Option<EntityTypeName>>> =
    LazyLock::new(|| TYPES.iter().map(|t| EntityTypeName::from_str(t).ok()).collect());

pub(crate) fn uid(type_name: &str, id: &str) -> Result<EntityUid, AuthzError> {
    let parsed = TYPES.iter().position(|t| *t == type_name).and_then(|i| TYPE_NAMES[i].clone());
    let type_name = parsed.ok_or_else(|| AuthzError::Input(format!("unknown entity type `{type_name}`")))?;
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
        Capability::NetConnect { destination, .. } => uid("Host", &destination.to_string()),
        Capability::SecretUse { name, .. } | Capability::SecretReveal(name) => uid("Secret", name),
        Capability::EnvRead(name) => uid("EnvVar", name),
    }
}

/// The context of every action but `invoke`: the tool that asked.
pub(crate) fn tool_context(tool: &ToolIdentity) -> Result<Context, AuthzError> {
    let pairs = [("tool".to_owned(), RestrictedExpression::new_entity_uid(tool_uid(tool)?))];
    Context::from_pairs(pairs).map_err(|e| AuthzError::Input(e.to_string()))
}

/// The context of `net.connect`: the tool and the methods requested.
pub(crate) fn net_context(tool: &ToolIdentity, methods: &Methods) -> Result<Context, AuthzError> {
    let methods = methods.as_slice().iter().map(|m| RestrictedExpression::new_string(m.clone()));
    let pairs = [
        ("tool".to_owned(), RestrictedExpression::new_entity_uid(tool_uid(tool)?)),
        ("methods".to_owned(), RestrictedExpression::new_set(methods)),
    ];
    Context::from_pairs(pairs).map_err(|e| AuthzError::Input(e.to_string()))
}

/// The context of `secret.use`: the tool and the destination (a `Host`
/// entity of the same call, from its `net.connect` check).
pub(crate) fn secret_context(tool: &ToolIdentity, destination: &Destination) -> Result<Context, AuthzError> {
    let pairs = [
        ("tool".to_owned(), RestrictedExpression::new_entity_uid(tool_uid(tool)?)),
        (
            "destination".to_owned(),
            RestrictedExpression::new_entity_uid(uid("Host", &destination.to_string())?),
        ),
    ];
    Context::from_pairs(pairs).map_err(|e| AuthzError::Input(e.to_string()))
}

/// The entities for one call, added to `base` (the schema's action
/// entities). They are built to the schema by construction; conformance is
/// checked by this module's tests rather than on every call, which would
/// rebuild the schema's type descriptions each time.
pub(crate) fn entities(
    base: &Entities,
    principal: &Principal,
    tool: &ToolIdentity,
    capabilities: &[Capability],
) -> Result<Entities, AuthzError> {
    let all = entity_list(principal, tool, capabilities)?;
    base.clone().add_entities(all, None).map_err(|e| AuthzError::Input(e.to_string()))
}

fn entity_list(
    principal: &Principal,
    tool: &ToolIdentity,
    capabilities: &[Capability],
) -> Result<Vec<Entity>, AuthzError> {
    let mut all = vec![agent(principal)?, tool_entity(tool)?];
    let mut paths = BTreeSet::new();
    // One entity per resource: a secret checked for several destinations,
    // or a destination requested twice, is one entity.
    let mut seen = HashSet::new();
    for capability in capabilities {
        if !matches!(capability, Capability::Invoke | Capability::FsRead(_) | Capability::FsWrite(_))
            && !seen.insert(resource_uid(capability, tool)?)
        {
            continue;
        }
        match capability {
            Capability::Invoke => {}
            Capability::FsRead(path) | Capability::FsWrite(path) => {
                paths.extend(ancestors_and_self(path));
            }
            Capability::NetConnect { destination, .. } => all.push(entity(
                resource_uid(capability, tool)?,
                [
                    ("scheme", RestrictedExpression::new_string(destination.scheme.to_string())),
                    ("host", RestrictedExpression::new_string(destination.host.to_string())),
                    ("port_min", RestrictedExpression::new_long(i64::from(destination.first_port))),
                    ("port_max", RestrictedExpression::new_long(i64::from(destination.last_port))),
                ],
                HashSet::new(),
            )?),
            Capability::SecretUse { name, .. }
            | Capability::SecretReveal(name)
            | Capability::EnvRead(name) => all.push(entity(
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
    Ok(all)
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
    let mut attrs = HashMap::from([
        ("name".to_owned(), RestrictedExpression::new_string(tool.name.clone())),
        ("version".to_owned(), RestrictedExpression::new_string(tool.version.clone())),
        ("digest".to_owned(), RestrictedExpression::new_string(tool.digest.clone())),
        ("source".to_owned(), RestrictedExpression::new_string(tool.source.clone())),
    ]);
    if let Some(signer) = &tool.signer {
        attrs.insert("signer".to_owned(), RestrictedExpression::new_string(signer.clone()));
    }
    Entity::new(tool_uid(tool)?, attrs, HashSet::new()).map_err(|e| AuthzError::Input(e.to_string()))
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
    use serde_json::json;

    use super::*;

    #[test]
    fn entities_conform_to_the_schema() {
        let claims = json!({
            "owner": "o", "agent_class": "c", "env": "prod", "autonomy": "a", "repository": "r",
            "repository_id": "1", "repository_owner": "o", "repository_owner_id": "2",
            "repository_visibility": "private", "ref": "refs/heads/main", "ref_type": "branch",
            "ref_protected": "true", "sha": "abc", "actor": "a", "workflow": "w", "workflow_ref": "w@r",
            "job_workflow_ref": "j@r", "environment": "e", "event_name": "push",
            "runner_environment": "github-hosted", "custom": 5, "act": {"sub": "x"},
        });
        let serde_json::Value::Object(claims) = claims else { unreachable!() };
        let principal = Principal::from_claims("agent", "https://i", &claims).expect("principal");
        let tool = ToolIdentity::file("t", "1", "sha256:0");
        let path = GuestPath::new("/workspace/src").expect("path");
        let capabilities = [
            Capability::Invoke,
            Capability::FsRead(path.clone()),
            Capability::FsWrite(path),
            Capability::NetConnect {
                destination: "https://example.com".parse().expect("destination"),
                methods: Methods::standard(),
            },
            Capability::SecretUse {
                name: "S".into(),
                destination: "https://example.com".parse().expect("destination"),
            },
            Capability::SecretReveal("S".into()),
            Capability::EnvRead("E".into()),
        ];
        let (schema, _) = cedar_policy::Schema::from_cedarschema_str(super::super::SCHEMA).expect("schema");
        let all = entity_list(&principal, &tool, &capabilities).expect("entities");
        assert_eq!(
            all.len(),
            8,
            "agent, tool, three paths (/, /workspace, /workspace/src), host, secret, env var"
        );
        Entities::from_entities(all, Some(&schema)).expect("every entity conforms to the schema");
        let net_context = net_context(&tool, &Methods::standard()).expect("context");
        let action = cedar_policy::EntityUid::from_str(r#"Action::"net.connect""#).expect("action");
        let resource = resource_uid(&capabilities[3], &tool).expect("resource");
        cedar_policy::Request::new(
            principal_uid(&principal).expect("uid"),
            action,
            resource,
            net_context,
            Some(&schema),
        )
        .expect("the net.connect context conforms to the schema");
    }

    #[test]
    fn ancestors_end_at_root() {
        let path = GuestPath::new("/workspace/src/lib").expect("valid");
        let all: Vec<&str> = ancestors_and_self(&path).collect();
        assert_eq!(all, ["/workspace/src/lib", "/workspace/src", "/workspace", "/"]);
    }
}
