//! What a tool asks for: the host-side model of the WIT `tool-info` record.

use serde::{Deserialize, Serialize};

use crate::{Destination, GuestPath, Methods};

/// How a mount may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read only. The default everywhere access is not stated.
    ReadOnly,
    /// Read, create, write and remove.
    ReadWrite,
}

impl Access {
    /// The narrower of two accesses.
    pub fn narrowest(self, other: Self) -> Self {
        self.min(other)
    }
}

/// A tool's self-description, as returned by its `describe()` export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ToolInfo {
    /// Short identifier.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Human-readable description.
    pub description: String,
    /// JSON Schema of the input, as parsed JSON.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output, as parsed JSON.
    pub output_schema: serde_json::Value,
    /// What the tool asks for.
    pub capabilities: CapabilityRequest,
}

/// Everything a tool asks for. Nothing outside it can be granted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRequest {
    /// Directories the tool needs.
    pub mounts: Vec<MountRequest>,
    /// Network destinations the tool may need (`net.connect`).
    pub hosts: Vec<HostRequest>,
    /// Secrets (not yet enforced: no secret is ever granted).
    pub secrets: Vec<SecretRequest>,
    /// Environment variables the tool wants to read.
    pub env: Vec<EnvRequest>,
}

/// A directory the tool needs at `guest_path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MountRequest {
    /// Where it appears in the sandbox.
    pub guest_path: GuestPath,
    /// The most access the tool needs.
    pub access: Access,
    /// Why, for operators.
    pub reason: String,
}

/// Outbound destinations the tool may need. A grant is at most this: the
/// operator or policy may grant a narrower destination inside it (a name
/// under a requested wildcard, say), never a wider one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRequest {
    /// `scheme://host[:port|:first-last]`; the host may be `*` (any DNS
    /// name the operator grants) or `*.domain`.
    pub destination: Destination,
    /// HTTP methods the tool sends there.
    #[serde(default)]
    pub methods: Methods,
    /// Why, for operators.
    pub reason: String,
}

/// A secret the tool needs the host to use for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
    /// Name of the secret.
    pub name: String,
    /// Why, for operators.
    pub reason: String,
    /// Whether the tool asks to read the value itself (`secret.reveal`),
    /// for signing locally. Off unless asked for and explicitly permitted.
    #[serde(default)]
    pub reveal: bool,
}

/// An environment variable the tool wants to read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvRequest {
    /// Variable name.
    pub name: String,
    /// Why, for operators.
    pub reason: String,
}
