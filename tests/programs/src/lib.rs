//! Helpers shared by the guest test programs in `examples/`.
//!
//! Every program tries one thing and asserts its own outcome: when the
//! sandbox does what it must (deny an escape, say), the program returns
//! `Ok`; when the forbidden thing *succeeds*, it returns
//! `ToolError::Failed("ESCAPED: ...")`, so the host test fails loudly.
#![deny(unsafe_code)]

pub use airlock_sdk::{self, Access, Capabilities, Tool, ToolError};
pub use serde_json::{self, Value, json};

/// Marker that a forbidden operation succeeded.
pub const ESCAPED: &str = "ESCAPED";

/// Requires `attempt` to have failed; returns how it failed.
pub fn expect_denied<T>(what: &str, attempt: std::io::Result<T>) -> Result<Value, ToolError> {
    match attempt {
        Ok(_) => Err(ToolError::Failed(format!("{ESCAPED}: {what} succeeded"))),
        Err(e) => Ok(json!({ "what": what, "kind": format!("{:?}", e.kind()), "error": e.to_string() })),
    }
}

/// A string field of the input, or an invalid-input error.
pub fn str_field<'a>(input: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    input
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid_input(format!("`{name}` is required")))
}

/// A list-of-strings field of the input (empty when absent).
pub fn str_list(input: &Value, name: &str) -> Vec<String> {
    input
        .get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Defines a test program: a [`Tool`] with JSON input and output, the given
/// capabilities, and a body, and exports it.
#[macro_export]
macro_rules! program {
    (name: $name:literal, capabilities: $caps:expr, run: |$input:ident| $body:block) => {
        struct Program;

        impl $crate::Tool for Program {
            type Input = $crate::Value;
            type Output = $crate::Value;
            const NAME: &'static str = $name;
            const VERSION: &'static str = "0.0.0";
            const DESCRIPTION: &'static str = "airlock test program";

            fn capabilities() -> $crate::Capabilities {
                $caps
            }

            #[allow(unused_variables, reason = "not every program reads its input")]
            fn run($input: $crate::Value) -> Result<$crate::Value, $crate::ToolError> $body
        }

        $crate::airlock_sdk::export_tool!(Program);
    };
}

/// The usual request: `/workspace`, read-write (tests grant less).
pub fn workspace() -> Capabilities {
    Capabilities::none().mount("/workspace", Access::ReadWrite, "test files")
}
