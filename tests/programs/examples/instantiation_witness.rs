//! Leaves a line in `/workspace/invocations` (a mounted directory) every
//! time it runs, and declares an input schema requiring an integer `n`: a
//! door that validates on the host must never run it for an input that
//! fails the schema, and the file says whether it did.
use std::io::Write;

use airlock_test_programs::airlock_sdk::bindings::airlock::tool::types::{
    Access, CapabilityRequest, MountRequest, ToolError, ToolInfo,
};

struct Witness;

impl airlock_test_programs::airlock_sdk::bindings::Guest for Witness {
    fn describe() -> ToolInfo {
        ToolInfo {
            name: "instantiation-witness".into(),
            version: "0.0.0".into(),
            description: "records each run in /workspace/invocations".into(),
            input_schema: r#"{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}"#
                .into(),
            output_schema: "true".into(),
            capabilities: CapabilityRequest {
                mounts: vec![MountRequest {
                    guest_path: "/workspace".into(),
                    access: Access::ReadWrite,
                    reason: "where each run is recorded".into(),
                }],
                hosts: vec![],
                secrets: vec![],
                env: vec![],
            },
        }
    }

    fn invoke(input: String) -> Result<String, ToolError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open("/workspace/invocations")
            .map_err(|e| ToolError::Failed(format!("cannot record the run: {e}")))?;
        writeln!(file, "{input}").map_err(|e| ToolError::Failed(format!("cannot record the run: {e}")))?;
        Ok(input)
    }
}

#[allow(unsafe_code, reason = "wit-bindgen export glue")]
mod export {
    use super::Witness;
    airlock_test_programs::airlock_sdk::bindings::export_world!(Witness with_types_in airlock_test_programs::airlock_sdk::bindings);
}
