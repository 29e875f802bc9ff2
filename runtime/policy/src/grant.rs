//! Grants: what a call may actually use, the intersection of the tool's
//! request and the operator's offer.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Serialize;

use crate::{Access, CapabilityRequest, Destination, GuestPath, HostRequest, Limits, Methods};

/// What the operator is willing to hand to this call.
#[derive(Clone, Debug, Default)]
pub struct Offer {
    /// Host directories offered at guest paths.
    pub mounts: Vec<OfferedMount>,
    /// Environment variables offered, with their values.
    pub env: Vec<OfferedEnv>,
    /// Network destinations offered. Each must lie inside a destination
    /// the tool requested.
    pub hosts: Vec<NetGrant>,
    /// Secret values from the store, for secrets the tool requested.
    pub secrets: Vec<OfferedSecret>,
    /// Limits for the call.
    pub limits: Limits,
}

/// A host directory the operator offers at a guest path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedMount {
    /// Directory on the host. The host runtime opens it when the call starts;
    /// nothing outside it is reachable through this mount.
    pub host: PathBuf,
    /// Where it appears in the sandbox.
    pub guest: GuestPath,
    /// The most access the operator allows.
    pub access: Access,
}

/// An environment variable the operator offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedEnv {
    /// Name.
    pub name: String,
    /// Value given to the tool.
    pub value: String,
}

/// A secret value the operator's store offers.
#[derive(Clone, Debug)]
pub struct OfferedSecret {
    /// The name the tool requests it by.
    pub name: String,
    /// The value; never serialised, never shown by `Debug`.
    pub value: SecretString,
}

/// A secret a call may have the host use: attached to requests to
/// `destinations` only, and readable by the tool only if `reveal`.
#[derive(Clone, Debug, Serialize)]
pub struct SecretGrant {
    /// The name.
    pub name: String,
    /// Where the host may send it. A request anywhere else that carries it
    /// is refused before it leaves.
    pub destinations: Vec<Destination>,
    /// Whether the tool may read the value (`secret.reveal`).
    pub reveal: bool,
    /// The value. Not serialised; `Debug` prints no value.
    #[serde(skip)]
    pub value: SecretString,
}

impl PartialEq for SecretGrant {
    /// Grants compare by name, destinations and reveal, never by value.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.destinations == other.destinations && self.reveal == other.reveal
    }
}

impl Eq for SecretGrant {}

/// Where policy lets the host use one requested secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretBinding {
    /// The secret's name.
    pub name: String,
    /// The permitted destinations (each also permitted by `net.connect`).
    pub destinations: Vec<Destination>,
    /// Whether `secret.reveal` is permitted.
    pub reveal: bool,
}

/// The capabilities one call runs with. Built only by [`resolve`] (or
/// [`GrantSet::none`]), so every grant in it was both requested and offered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GrantSet {
    mounts: Vec<MountGrant>,
    env: Vec<EnvGrant>,
    hosts: Vec<NetGrant>,
    secrets: Vec<SecretGrant>,
    limits: Limits,
}

/// A network destination a call may reach, with the methods it may send.
/// Name patterns reach public addresses only; an internal address needs a
/// destination written as that address or network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetGrant {
    /// Where.
    pub destination: Destination,
    /// Which HTTP methods.
    pub methods: Methods,
}

/// A granted mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountGrant {
    /// Host directory.
    pub host: PathBuf,
    /// Guest path.
    pub guest: GuestPath,
    /// The narrower of requested and offered access.
    pub access: Access,
}

/// A granted environment variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvGrant {
    /// Name.
    pub name: String,
    /// Value. Not serialised: values may be sensitive.
    #[serde(skip)]
    pub value: String,
}

/// An offer that cannot be turned into grants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The operator offered a mount at a guest path the tool did not request.
    #[error("tool `{tool}` does not request a mount at `{guest}` (it requests: {requested})")]
    MountNotRequested {
        /// Tool name.
        tool: String,
        /// The offered guest path.
        guest: GuestPath,
        /// The guest paths the tool requests, comma-separated, or `none`.
        requested: String,
    },
    /// The operator offered the same guest path twice.
    #[error("mount `{0}` is offered more than once")]
    DuplicateMount(GuestPath),
    /// The operator offered a destination outside every one the tool
    /// requested.
    #[error("tool `{tool}` does not request destination `{destination}` (it requests: {requested})")]
    HostNotRequested {
        /// Tool name.
        tool: String,
        /// The offered destination.
        destination: Destination,
        /// The destinations the tool requests, comma-separated, or `none`.
        requested: String,
    },
    /// The operator offered methods the tool never sends there.
    #[error(
        "tool `{tool}` does not request methods {offered} for `{destination}` (it requests: {requested})"
    )]
    MethodsNotRequested {
        /// Tool name.
        tool: String,
        /// The offered destination.
        destination: Destination,
        /// The offered methods.
        offered: Methods,
        /// The methods the covering requests name.
        requested: Methods,
    },
    /// The operator offered a secret the tool did not request.
    #[error("tool `{tool}` does not request secret `{name}` (it requests: {requested})")]
    SecretNotRequested {
        /// Tool name.
        tool: String,
        /// The offered name.
        name: String,
        /// The names the tool requests, comma-separated, or `none`.
        requested: String,
    },
    /// The operator offered an env var the tool did not request.
    #[error("tool `{tool}` does not request environment variable `{name}` (it requests: {requested})")]
    EnvNotRequested {
        /// Tool name.
        tool: String,
        /// The offered name.
        name: String,
        /// The names the tool requests, comma-separated, or `none`.
        requested: String,
    },
}

impl GrantSet {
    /// No capabilities at all, default limits.
    pub fn none() -> Self {
        Self::default()
    }

    /// Granted mounts.
    pub fn mounts(&self) -> &[MountGrant] {
        &self.mounts
    }

    /// Granted environment variables.
    pub fn env(&self) -> &[EnvGrant] {
        &self.env
    }

    /// Granted network destinations.
    pub fn hosts(&self) -> &[NetGrant] {
        &self.hosts
    }

    /// Granted secrets.
    pub fn secrets(&self) -> &[SecretGrant] {
        &self.secrets
    }

    /// Narrows each secret grant to what policy decided: its permitted
    /// destinations and reveal; secrets with neither are dropped.
    pub(crate) fn bind_secrets(&mut self, bindings: &[SecretBinding]) {
        self.secrets.retain_mut(|grant| match bindings.iter().find(|b| b.name == grant.name) {
            Some(binding) => {
                grant.destinations = binding.destinations.clone();
                grant.reveal = binding.reveal;
                !grant.destinations.is_empty() || grant.reveal
            }
            None => false,
        });
    }

    /// Limits for the call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The same grants with the mount at `guest` served from `host` with
    /// `access`: how a staged workspace puts its private stage where the
    /// decision placed the workspace. Does nothing if `guest` is not
    /// granted (policy denied reading it), so it can never add a mount.
    pub fn with_mount_redirected(mut self, guest: &GuestPath, host: PathBuf, access: Access) -> Self {
        if let Some(mount) = self.mounts.iter_mut().find(|m| &m.guest == guest) {
            mount.host = host;
            mount.access = access;
        }
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Intersects a tool's request with an operator's offer.
///
/// Every offered mount and env var must match something the tool requested:
/// offering more than a tool asks for is reported as an error rather than
/// silently dropped, so an operator is never surprised by what a call
/// actually had. A mount's access is the narrower of requested and offered.
/// Requested capabilities that are not offered are simply not granted; the
/// tool sees them as missing.
pub fn resolve(tool: &str, request: &CapabilityRequest, offer: &Offer) -> Result<GrantSet, GrantError> {
    let mut mounts: Vec<MountGrant> = Vec::with_capacity(offer.mounts.len());
    for offered in &offer.mounts {
        if mounts.iter().any(|m| m.guest == offered.guest) {
            return Err(GrantError::DuplicateMount(offered.guest.clone()));
        }
        let Some(requested) = request.mounts.iter().find(|r| r.guest_path == offered.guest) else {
            return Err(GrantError::MountNotRequested {
                tool: tool.to_owned(),
                guest: offered.guest.clone(),
                requested: list(request.mounts.iter().map(|m| m.guest_path.as_str())),
            });
        };
        mounts.push(MountGrant {
            host: offered.host.clone(),
            guest: offered.guest.clone(),
            access: requested.access.narrowest(offered.access),
        });
    }
    let mut env = Vec::with_capacity(offer.env.len());
    for offered in &offer.env {
        if !request.env.iter().any(|r| r.name == offered.name) {
            return Err(GrantError::EnvNotRequested {
                tool: tool.to_owned(),
                name: offered.name.clone(),
                requested: list(request.env.iter().map(|e| e.name.as_str())),
            });
        }
        env.push(EnvGrant { name: offered.name.clone(), value: offered.value.clone() });
    }
    let hosts = offered_hosts(tool, request, &offer.hosts)?;
    let mut secrets: Vec<SecretGrant> = Vec::with_capacity(offer.secrets.len());
    for offered in &offer.secrets {
        if !request.secrets.iter().any(|r| r.name == offered.name) {
            return Err(GrantError::SecretNotRequested {
                tool: tool.to_owned(),
                name: offered.name.clone(),
                requested: list(request.secrets.iter().map(|s| s.name.as_str())),
            });
        }
        if secrets.iter().any(|s| s.name == offered.name) {
            continue;
        }
        // Without policy, a bound secret may go to every granted HTTP
        // destination, and is never revealed.
        let destinations = hosts
            .iter()
            .filter(|h| !h.destination.scheme.is_socket())
            .map(|h| h.destination.clone())
            .collect();
        secrets.push(SecretGrant {
            name: offered.name.clone(),
            destinations,
            reveal: false,
            value: offered.value.clone(),
        });
    }
    Ok(GrantSet { mounts, env, hosts, secrets, limits: offer.limits })
}

/// The offered destinations, each checked to lie inside a requested one,
/// with methods narrowed to those the covering requests name. The same
/// destination offered twice is granted once, with the union of methods.
pub fn offered_hosts(
    tool: &str,
    request: &CapabilityRequest,
    offered: &[NetGrant],
) -> Result<Vec<NetGrant>, GrantError> {
    let mut hosts: Vec<NetGrant> = Vec::with_capacity(offered.len());
    for offer in offered {
        let covering: Vec<&HostRequest> =
            request.hosts.iter().filter(|r| r.destination.covers(&offer.destination)).collect();
        let Some(requested) = covering.iter().map(|r| r.methods.clone()).reduce(|a, b| a.union(&b)) else {
            return Err(GrantError::HostNotRequested {
                tool: tool.to_owned(),
                destination: offer.destination.clone(),
                requested: list(request.hosts.iter().map(|h| h.destination.to_string())),
            });
        };
        let Some(methods) = offer.methods.intersect(&requested) else {
            return Err(GrantError::MethodsNotRequested {
                tool: tool.to_owned(),
                destination: offer.destination.clone(),
                offered: offer.methods.clone(),
                requested,
            });
        };
        match hosts.iter_mut().find(|h| h.destination == offer.destination) {
            Some(existing) => existing.methods = existing.methods.union(&methods),
            None => hosts.push(NetGrant { destination: offer.destination.clone(), methods }),
        }
    }
    Ok(hosts)
}

impl CapabilityRequest {
    /// This request with the operator's offered destinations added as host
    /// requests (each checked by [`offered_hosts`]), so that policy decides
    /// every destination a call could be granted: the tool's own requests
    /// and the narrower ones the operator names.
    pub fn with_offered_hosts(&self, tool: &str, offered: &[NetGrant]) -> Result<Self, GrantError> {
        let mut request = self.clone();
        for grant in offered_hosts(tool, self, offered)? {
            match request.hosts.iter_mut().find(|h| h.destination == grant.destination) {
                Some(existing) => existing.methods = grant.methods,
                None => request.hosts.push(HostRequest {
                    destination: grant.destination,
                    methods: grant.methods,
                    reason: "offered by the operator".to_owned(),
                }),
            }
        }
        Ok(request)
    }
}

fn list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let joined = items.map(|s| s.as_ref().to_owned()).collect::<Vec<_>>().join(", ");
    if joined.is_empty() { "none".to_owned() } else { joined }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnvRequest, MountRequest};

    fn guest(p: &str) -> GuestPath {
        GuestPath::new(p).expect("valid guest path")
    }

    fn request() -> CapabilityRequest {
        CapabilityRequest {
            mounts: vec![
                MountRequest {
                    guest_path: guest("/workspace"),
                    access: Access::ReadWrite,
                    reason: String::new(),
                },
                MountRequest { guest_path: guest("/docs"), access: Access::ReadOnly, reason: String::new() },
            ],
            env: vec![EnvRequest { name: "LANG".into(), reason: String::new() }],
            ..Default::default()
        }
    }

    fn mount(g: &str, access: Access) -> OfferedMount {
        OfferedMount { host: PathBuf::from("/srv/x"), guest: guest(g), access }
    }

    #[test]
    fn access_is_the_narrower_of_request_and_offer() {
        let offer = Offer {
            mounts: vec![mount("/workspace", Access::ReadOnly), mount("/docs", Access::ReadWrite)],
            ..Default::default()
        };
        let grants = resolve("t", &request(), &offer).expect("resolves");
        let access: Vec<_> = grants.mounts().iter().map(|m| (m.guest.as_str(), m.access)).collect();
        assert_eq!(access, [("/workspace", Access::ReadOnly), ("/docs", Access::ReadOnly)]);
    }

    #[test]
    fn unrequested_mount_is_an_error_naming_what_was_requested() {
        let offer = Offer { mounts: vec![mount("/etc", Access::ReadOnly)], ..Default::default() };
        let err = resolve("grep", &request(), &offer).expect_err("not requested").to_string();
        assert_eq!(err, "tool `grep` does not request a mount at `/etc` (it requests: /workspace, /docs)");
    }

    #[test]
    fn duplicate_mount_is_an_error() {
        let offer = Offer {
            mounts: vec![mount("/docs", Access::ReadOnly), mount("/docs", Access::ReadOnly)],
            ..Default::default()
        };
        assert_eq!(resolve("t", &request(), &offer), Err(GrantError::DuplicateMount(guest("/docs"))));
    }

    #[test]
    fn env_must_be_requested() {
        let offer = Offer {
            env: vec![OfferedEnv { name: "HOME".into(), value: "/root".into() }],
            ..Default::default()
        };
        let err = resolve("t", &request(), &offer).expect_err("not requested").to_string();
        assert!(err.contains("`HOME`") && err.contains("LANG"), "{err}");
        let offer =
            Offer { env: vec![OfferedEnv { name: "LANG".into(), value: "C".into() }], ..Default::default() };
        let grants = resolve("t", &request(), &offer).expect("resolves");
        assert_eq!(grants.env(), [EnvGrant { name: "LANG".into(), value: "C".into() }]);
    }

    #[test]
    fn nothing_offered_means_nothing_granted() {
        let grants = resolve("t", &request(), &Offer::default()).expect("resolves");
        assert!(grants.mounts().is_empty() && grants.env().is_empty());
    }
}
