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

use std::str::FromStr;

use cedar_policy::{EntityUid, Request, Schema};

pub use decision::{DecidingPolicy, Decision, Verdict};
pub use source::{PolicyDiagnostic, PolicyErrors, PolicyOrigin, PolicySource};

use crate::{Access, CapabilityRequest, GuestPath, Principal};

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
    /// Connect to a destination (`net.connect` on `Host`).
    NetConnect {
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
    },
    /// Have the host use a secret (`secret.use` on `Secret`).
    SecretUse(String),
    /// Read an environment variable (`env.read` on `EnvVar`).
    EnvRead(String),
}

/// Port assumed for a host request without one (HTTPS).
pub const DEFAULT_PORT: u16 = 443;

impl Capability {
    /// The Cedar action name.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Invoke => "invoke",
            Self::FsRead(_) => "fs.read",
            Self::FsWrite(_) => "fs.write",
            Self::NetConnect { .. } => "net.connect",
            Self::SecretUse(_) => "secret.use",
            Self::EnvRead(_) => "env.read",
        }
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
        all.extend(
            request
                .hosts
                .iter()
                .map(|h| Self::NetConnect { host: h.host.clone(), port: h.port.unwrap_or(DEFAULT_PORT) }),
        );
        all.extend(request.secrets.iter().map(|s| Self::SecretUse(s.name.clone())));
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
    schema: Schema,
    policies: source::LoadedPolicies,
    engine: cedar_policy::Authorizer,
}

impl Authorizer {
    /// Parses and validates `sources` against [`SCHEMA`]. Errors carry the
    /// file, line and column of every problem found.
    pub fn new(sources: &[PolicySource]) -> Result<Self, PolicyErrors> {
        let schema = schema();
        let policies = source::load(&schema, sources)?;
        Ok(Self { schema, policies, engine: cedar_policy::Authorizer::new() })
    }

    /// How many policies are loaded.
    pub fn policy_count(&self) -> usize {
        self.policies.origins.len()
    }

    /// Where the policy `id` was written.
    pub fn origin(&self, id: &str) -> Option<&PolicyOrigin> {
        self.policies.origins.get(id)
    }

    /// Decides every capability `request` implies for `principal` calling
    /// `tool`.
    pub fn decide(
        &self,
        principal: &Principal,
        tool: &ToolIdentity,
        request: &CapabilityRequest,
    ) -> Result<Decision, AuthzError> {
        let capabilities = Capability::for_request(request);
        let entities = entities::entities(&self.schema, principal, tool, &capabilities)?;
        let principal_uid = entities::principal_uid(principal)?;
        let mut verdicts = Vec::with_capacity(capabilities.len());
        for capability in capabilities {
            let action = action_uid(capability.action())?;
            let resource = entities::resource_uid(&capability, tool)?;
            let context = entities::context(&capability, tool)?;
            let request = Request::new(principal_uid.clone(), action, resource, context, Some(&self.schema))
                .map_err(|e| AuthzError::Input(e.to_string()))?;
            let response = self.engine.is_authorized(&request, &self.policies.set, &entities);
            verdicts.push(Verdict::from_response(capability, &response, |id| self.origin(id)));
        }
        Ok(Decision::new(principal.sub().to_owned(), tool.clone(), verdicts))
    }
}

fn schema() -> Schema {
    match Schema::from_cedarschema_str(SCHEMA) {
        Ok((schema, _warnings)) => schema,
        // The schema is a constant checked by this crate's tests.
        Err(e) => unreachable!("the shipped schema does not parse: {e}"),
    }
}

fn action_uid(name: &str) -> Result<EntityUid, AuthzError> {
    let text = format!("Action::\"{name}\"");
    EntityUid::from_str(&text).map_err(|e| AuthzError::Input(format!("action `{name}`: {e}")))
}
