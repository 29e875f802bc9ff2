//! Policy decisions: which of a tool's requested capabilities a principal
//! gets, decided by operator-written Cedar policies.
//!
//! Every call is evaluated as a list of [`Capability`] checks: `invoke` on
//! the tool, then one check per requested mount (`fs.read`, plus `fs.write`
//! for read-write mounts), host, secret and env var. Cedar's semantics apply
//! to each: deny by default, and any matching `forbid` overrides every
//! `permit`. The [`Decision`] keeps, for each check, the policies that
//! decided it, so any grant or denial can be explained.

mod decision;
mod entities;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use cedar_policy::{ActionConstraint, Context, Entities, EntityUid, PolicySet, Request, Schema};

pub use decision::{DecidingPolicy, Decision, Verdict};
pub use source::{APPROVAL_ANNOTATION, PolicyDiagnostic, PolicyErrors, PolicyOrigin, PolicySource};

use crate::{Access, CapabilityRequest, Destination, GuestPath, HostRequest, Methods, Principal};

/// The policy schema that ships with airlock (Cedar schema syntax). Every
/// policy is validated against it in strict mode.
pub const SCHEMA: &str = include_str!("airlock.cedarschema");

/// One thing a principal may or may not do in a call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Call the tool at all (`invoke` on `Tool`).
    Invoke,
    /// Mount a directory readable (`fs.read` on `Path`).
    FsRead(GuestPath),
    /// Mount a directory writable (`fs.write` on `Path`).
    FsWrite(GuestPath),
    /// Send requests to a destination (`net.connect` on `Host`, with the
    /// methods in `context.methods`).
    NetConnect {
        /// The destination as requested.
        destination: Destination,
        /// The methods requested for it.
        methods: Methods,
    },
    /// Have the host use a secret towards a destination (`secret.use` on
    /// `Secret`, with the destination's `Host` in `context.destination`).
    SecretUse {
        /// The secret's name.
        name: String,
        /// Where the host may send it.
        destination: Destination,
    },
    /// Hand a secret's value to the tool (`secret.reveal` on `Secret`).
    SecretReveal(String),
    /// Read an environment variable (`env.read` on `EnvVar`).
    EnvRead(String),
}

impl Capability {
    /// The Cedar action name.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Invoke => "invoke",
            Self::FsRead(_) => "fs.read",
            Self::FsWrite(_) => "fs.write",
            Self::NetConnect { .. } => "net.connect",
            Self::SecretUse { .. } => "secret.use",
            Self::SecretReveal(_) => "secret.reveal",
            Self::EnvRead(_) => "env.read",
        }
    }

    /// The `net.connect` check for a host request.
    pub fn net_connect(host: &HostRequest) -> Self {
        Self::NetConnect { destination: host.destination.clone(), methods: host.methods.clone() }
    }

    /// Every check a request implies, `invoke` first.
    pub fn for_request(request: &CapabilityRequest) -> Vec<Self> {
        let mut all = vec![Self::Invoke];
        for mount in &request.mounts {
            all.push(Self::FsRead(mount.guest_path.clone()));
            if mount.access == Access::ReadWrite {
                all.push(Self::FsWrite(mount.guest_path.clone()));
            }
        }
        all.extend(request.hosts.iter().map(Self::net_connect));
        for secret in &request.secrets {
            all.extend(
                request.hosts.iter().filter(|h| !h.destination.scheme.is_socket()).map(|h| Self::SecretUse {
                    name: secret.name.clone(),
                    destination: h.destination.clone(),
                }),
            );
            if secret.reveal {
                all.push(Self::SecretReveal(secret.name.clone()));
            }
        }
        all.extend(request.env.iter().map(|e| Self::EnvRead(e.name.clone())));
        all
    }
}

/// The tool being called, as policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolIdentity {
    /// Name from its description.
    pub name: String,
    /// Version from its description.
    pub version: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// Where it came from: `file` (a component file or a built-in tool), or
    /// the pinned registry reference it was loaded by
    /// (`oci://REGISTRY/REPO@sha256:…`).
    pub source: String,
    /// The `[[tool_signers]]` name whose cosign signature over it verified
    /// when it was loaded; `None` when unsigned or not checked (policy:
    /// `resource has signer`).
    pub signer: Option<String>,
}

impl ToolIdentity {
    /// A tool from a component file: `source` is `file`, no signer.
    pub fn file(name: &str, version: &str, digest: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            digest: digest.to_owned(),
            source: "file".to_owned(),
            signer: None,
        }
    }
}

/// Why a decision could not be made at all (as opposed to a denial).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// A value could not be expressed as a Cedar entity or request.
    #[error("cannot evaluate policy for this call: {0}")]
    Input(String),
}

/// Validated operator policies and the schema, ready to decide calls.
///
/// Built only from a complete, valid policy set: if any file has any error,
/// [`Authorizer::new`] fails and nothing is loaded.
#[derive(Debug)]
pub struct Authorizer {
    /// Where each policy was written, by id.
    origins: BTreeMap<String, PolicyOrigin>,
    /// Per action: its uid and the policies whose scope can match it. A
    /// policy scoped to other actions can neither permit, forbid nor fail for
    /// a request, so evaluating only this shard gives the same decision as
    /// the whole set, and the cost does not grow with unrelated policies.
    shards: HashMap<&'static str, (EntityUid, PolicySet)>,
    /// The whole validated set, for proofs about it (`airlock policy diff`).
    set: PolicySet,
    /// The schema's action entities, the base every call's entities extend.
    actions: Entities,
    engine: cedar_policy::Authorizer,
}

impl Authorizer {
    /// Parses and validates `sources` against [`SCHEMA`]. Errors carry the
    /// file, line and column of every problem found.
    pub fn new(sources: &[PolicySource]) -> Result<Self, PolicyErrors> {
        let schema = schema();
        let policies = source::load(&schema, sources)?;
        let actions = match schema.action_entities() {
            Ok(actions) => actions,
            Err(e) => unreachable!("the shipped schema's actions do not form entities: {e}"),
        };
        let source::LoadedPolicies { set, origins } = policies;
        let shards = shard_by_action(&set).map_err(|message| {
            PolicyErrors(vec![PolicyDiagnostic { file: "(policy set)".into(), line: 1, column: 1, message }])
        })?;
        Ok(Self { origins, shards, set, actions, engine: cedar_policy::Authorizer::new() })
    }

    /// How many policies are loaded.
    pub fn policy_count(&self) -> usize {
        self.origins.len()
    }

    /// Where the policy `id` was written.
    pub fn origin(&self, id: &str) -> Option<&PolicyOrigin> {
        self.origins.get(id)
    }

    /// Every loaded policy, with its final id (`@id` or `<file>:<line>`).
    pub fn policy_set(&self) -> &PolicySet {
        &self.set
    }

    /// The loaded policies whose scope can match `action` (one of
    /// [`ACTIONS`]); `None` for an action the schema does not have.
    pub fn policies_for(&self, action: &str) -> Option<&PolicySet> {
        self.shards.get(action).map(|(_, set)| set)
    }

    /// Decides one capability for `principal` calling `tool`, exactly as a
    /// call would.
    pub fn verdict(
        &self,
        principal: &Principal,
        tool: &ToolIdentity,
        capability: Capability,
    ) -> Result<Verdict, AuthzError> {
        let mut verdicts = self.evaluate(principal, tool, vec![capability])?;
        verdicts.pop().ok_or_else(|| AuthzError::Input("no verdict".into()))
    }

    /// Decides every capability `request` implies for `principal` calling
    /// `tool`.
    pub fn decide(
        &self,
        principal: &Principal,
        tool: &ToolIdentity,
        request: &CapabilityRequest,
    ) -> Result<Decision, AuthzError> {
        let verdicts = self.evaluate(principal, tool, Capability::for_request(request))?;
        Ok(Decision::new(principal.sub().to_owned(), tool.clone(), verdicts))
    }

    /// Decides `fs.write` on each path, in order: whether a change a tool
    /// made at that path in a staged workspace may land. Each path is its
    /// own `Path` entity, `in` every ancestor, so `resource in
    /// Path::"/workspace/.github"` and `resource.path like "*/Cargo.toml"`
    /// both work.
    pub fn decide_writes(
        &self,
        principal: &Principal,
        tool: &ToolIdentity,
        paths: &[GuestPath],
    ) -> Result<Vec<Verdict>, AuthzError> {
        self.evaluate(principal, tool, paths.iter().cloned().map(Capability::FsWrite).collect())
    }

    fn evaluate(
        &self,
        principal: &Principal,
        tool: &ToolIdentity,
        capabilities: Vec<Capability>,
    ) -> Result<Vec<Verdict>, AuthzError> {
        let entities = entities::entities(&self.actions, principal, tool, &capabilities)?;
        let principal_uid = entities::principal_uid(principal)?;
        let mut verdicts = Vec::with_capacity(capabilities.len());
        let tool_context = entities::tool_context(tool)?;
        for capability in capabilities {
            let (action, policies) = self
                .shards
                .get(capability.action())
                .ok_or_else(|| AuthzError::Input(format!("unknown action `{}`", capability.action())))?;
            let resource = entities::resource_uid(&capability, tool)?;
            let context = match &capability {
                Capability::Invoke => Context::empty(),
                Capability::NetConnect { methods, .. } => entities::net_context(tool, methods)?,
                Capability::SecretUse { destination, .. } => entities::secret_context(tool, destination)?,
                _ => tool_context.clone(),
            };
            // Requests are built to the schema by construction (see entities.rs
            // tests); validating each one would rebuild schema lookups per call.
            let request = Request::new(principal_uid.clone(), action.clone(), resource, context, None)
                .map_err(|e| AuthzError::Input(e.to_string()))?;
            let response = self.engine.is_authorized(&request, policies, &entities);
            verdicts.push(Verdict::from_response(capability, &response, |id| self.origin(id)));
        }
        Ok(verdicts)
    }
}

/// The shipped [`SCHEMA`], parsed.
pub fn schema() -> Schema {
    match Schema::from_cedarschema_str(SCHEMA) {
        Ok((schema, _warnings)) => schema,
        // The schema is a constant checked by this crate's tests.
        Err(e) => unreachable!("the shipped schema does not parse: {e}"),
    }
}

fn action_uid(name: &str) -> Result<EntityUid, String> {
    let text = format!("Action::\"{name}\"");
    EntityUid::from_str(&text).map_err(|e| format!("action `{name}`: {e}"))
}

/// Every action a [`Capability`] can name: the schema's actions.
pub const ACTIONS: [&str; 7] =
    ["invoke", "fs.read", "fs.write", "net.connect", "secret.use", "secret.reveal", "env.read"];

fn shard_by_action(set: &PolicySet) -> Result<HashMap<&'static str, (EntityUid, PolicySet)>, String> {
    let leaves = ACTIONS.iter().map(|a| action_uid(a)).collect::<Result<Vec<_>, _>>()?;
    let mut shards = HashMap::new();
    for (name, uid) in ACTIONS.iter().zip(&leaves) {
        let mut shard = PolicySet::new();
        for policy in set.policies() {
            let applies = match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(other) => &other == uid,
                // An action group (not one of our leaf actions) may contain
                // this action: keep the policy, to stay exact.
                ActionConstraint::In(list) => list.iter().any(|a| a == uid || !leaves.contains(a)),
            };
            if applies {
                shard.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        shards.insert(*name, (uid.clone(), shard));
    }
    Ok(shards)
}
