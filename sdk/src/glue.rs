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

/// `invoke()` for a [`Tool`]: parse, validate against the input schema,
/// deserialise, run, serialise.
pub fn invoke<T: Tool>(input: &str) -> Result<String, wit::ToolError> {
    let value: serde_json::Value = serde_json::from_str(input)
        .map_err(|e| wit::ToolError::InvalidInput(format!("input is not valid JSON: {e}")))?;
    validate::<T::Input>(&value).map_err(wit::ToolError::InvalidInput)?;
    let typed: T::Input = serde_json::from_value(value)
        .map_err(|e| wit::ToolError::InvalidInput(format!("input does not match the schema: {e}")))?;
    let output = T::run(typed).map_err(|e| match e {
        ToolError::InvalidInput(m) => wit::ToolError::InvalidInput(m),
        ToolError::Denied(m) => wit::ToolError::Denied(m),
        ToolError::Failed(m) => wit::ToolError::Failed(m),
    })?;
    serde_json::to_string(&output)
        .map_err(|e| wit::ToolError::Failed(format!("cannot serialise output: {e}")))
}

/// Schemas are JSON Schema draft-07: widely supported by agent frameworks,
/// and its meta-schema compiles in about a third of the time of 2020-12's,
/// a cost every call pays since every call is a fresh instance.
fn schema<S: schemars::JsonSchema>() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<S>()
}

fn schema_of<S: schemars::JsonSchema>() -> String {
    schema::<S>().as_value().to_string()
}

/// Validates `value` against the schema of `S`; the error lists every
/// violation by its JSON pointer and the keyword it violates, never the
/// value (the message reaches the audit log, which records inputs only as
/// hashes).
fn validate<S: schemars::JsonSchema>(value: &serde_json::Value) -> Result<(), String> {
    let schema = schema::<S>();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(schema.as_value())
        .map_err(|e| format!("the tool's input schema is invalid: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "the input".to_owned() } else { format!("`{at}`") };
            let missing = match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    format!(" (missing {property})")
                }
                _ => String::new(),
            };
            format!("{at} violates `{}` at schema `{}`{missing}", e.kind().keyword(), e.schema_path())
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("input does not match the schema: {}", problems.join("; ")))
    }
}
