//! {{name}}: counts the lines, words and bytes of a file under /workspace.

use airlock_sdk::{Access, Capabilities, Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The file to count, relative to /workspace.
    pub path: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Output {
    pub path: String,
    pub lines: usize,
    pub words: usize,
    pub bytes: usize,
}

pub struct Counter;

impl Tool for Counter {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Counts the lines, words and bytes of a file under /workspace.";

    fn capabilities() -> Capabilities {
        // Only what it needs: one directory, read-only. Add a host with
        // `.host("https://api.example.com", "why")`.
        Capabilities::none().mount("/workspace", Access::ReadOnly, "the file to count")
    }

    fn run(input: Input) -> Result<Output, ToolError> {
        let path = format!("/workspace/{}", input.path);
        let text = std::fs::read_to_string(&path).map_err(|e| ToolError::from_io(&path, &e))?;
        airlock_sdk::log::info("counted", &[("path", &path)]);
        Ok(Output {
            path: input.path,
            lines: text.lines().count(),
            words: text.split_whitespace().count(),
            bytes: text.len(),
        })
    }
}

airlock_sdk::export_tool!(Counter);
