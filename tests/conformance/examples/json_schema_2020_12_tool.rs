//! MCP conformance `json-schema-2020-12`: an input schema in JSON Schema
//! 2020-12 (`$schema`, `$defs`, `$ref`, `additionalProperties`), which
//! airlock must list intact. Implements the world by hand: the SDK derives
//! its schemas with schemars, which would not write this one.
use airlock_test_programs::airlock_sdk::bindings::airlock::tool::types::{
    CapabilityRequest, ToolError, ToolInfo,
};

const SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "address": {
      "type": "object",
      "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
    }
  },
  "properties": { "name": { "type": "string" }, "address": { "$ref": "#/$defs/address" } },
  "additionalProperties": false
}"##;

struct Tool;

impl airlock_test_programs::airlock_sdk::bindings::Guest for Tool {
    fn describe() -> ToolInfo {
        ToolInfo {
            name: "json_schema_2020_12_tool".into(),
            version: "0.0.0".into(),
            description: "Tool with JSON Schema 2020-12 features".into(),
            input_schema: SCHEMA.into(),
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
    use super::Tool;
    airlock_test_programs::airlock_sdk::bindings::export_world!(Tool with_types_in airlock_test_programs::airlock_sdk::bindings);
}
