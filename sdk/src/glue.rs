//! Conversions between the typed [`Tool`] API and the WIT exports. Used by
//! [`export_tool!`](crate::export_tool); not part of the stable API.

use crate::bindings::airlock::tool::types as wit;
use crate::{Access, Tool, ToolError};

/// `describe()` for a [`Tool`].
pub fn describe<T: Tool>() -> wit::ToolInfo {
    let caps = T::capabilities();
    wit::ToolInfo {
        name: T::NAME.to_owned(),
        version: T::VERSION.to_owned(),
        description: T::DESCRIPTION.to_owned(),
        input_schema: schema_of::<T::Input>(),
        output_schema: schema_of::<T::Output>(),
        capabilities: wit::CapabilityRequest {
            mounts: caps
                .mounts
                .into_iter()
                .map(|(guest_path, access, reason)| wit::MountRequest {
                    guest_path,
                    access: match access {
                        Access::ReadOnly => wit::Access::ReadOnly,
                        Access::ReadWrite => wit::Access::ReadWrite,
                    },
                    reason,
                })
                .collect(),
            hosts: caps
                .hosts
                .into_iter()
                .map(|(destination, methods, reason)| wit::HostRequest { destination, methods, reason })
                .collect(),
            secrets: caps
                .secrets
                .into_iter()
                .map(|(name, reason, reveal)| wit::SecretRequest { name, reason, reveal })
                .collect(),
            env: caps.env.into_iter().map(|(name, reason)| wit::EnvRequest { name, reason }).collect(),
        },
    }
}

/// `invoke()` for a [`Tool`]: deserialise, run, serialise.
///
/// The input is not validated against the schema here: airlock validates
/// it on the host, against the schema `describe()` gave, before any
/// instance exists (a validator built in every fresh instance cost every
/// call about half a millisecond). What reaches a tool through airlock
/// fits its schema; anything else that does not fit its type is refused
/// with a message naming where, never the value.
pub fn invoke<T: Tool>(input: &str) -> Result<String, wit::ToolError> {
    let typed: T::Input = serde_json::from_str(input).map_err(|e| {
        wit::ToolError::InvalidInput(match e.classify() {
            serde_json::error::Category::Data => {
                format!("input does not match the schema (at line {}, column {})", e.line(), e.column())
            }
            _ => format!("input is not valid JSON: {e}"),
        })
    })?;
    let output = T::run(typed).map_err(|e| match e {
        ToolError::InvalidInput(m) => wit::ToolError::InvalidInput(m),
        ToolError::Denied(m) => wit::ToolError::Denied(m),
        ToolError::Failed(m) => wit::ToolError::Failed(m),
    })?;
    serde_json::to_string(&output)
        .map_err(|e| wit::ToolError::Failed(format!("cannot serialise output: {e}")))
}

/// Schemas are JSON Schema draft-07: widely supported by agent frameworks.
fn schema<S: schemars::JsonSchema>() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<S>()
}

fn schema_of<S: schemars::JsonSchema>() -> String {
    schema::<S>().as_value().to_string()
}
