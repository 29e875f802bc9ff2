//! The smallest tool: implements the world by hand (no serde, no schema
//! validation) and echoes its input. Used to measure runtime overhead.
use airlock_test_programs::airlock_sdk::bindings::airlock::tool::types::{
    CapabilityRequest, ToolError, ToolInfo,
};

struct Echo;

impl airlock_test_programs::airlock_sdk::bindings::Guest for Echo {
    fn describe() -> ToolInfo {
        ToolInfo {
            name: "echo".into(),
            version: "0.0.0".into(),
            description: "returns its input".into(),
            input_schema: "true".into(),
            output_schema: "true".into(),
            capabilities: CapabilityRequest { mounts: vec![], hosts: vec![], secrets: vec![], env: vec![] },
        }
    }

    fn invoke(input: String) -> Result<String, ToolError> {
        Ok(input)
    }
}

#[allow(unsafe_code, reason = "wit-bindgen export glue")]
mod export {
    use super::Echo;
    airlock_test_programs::airlock_sdk::bindings::export_world!(Echo with_types_in airlock_test_programs::airlock_sdk::bindings);
}
