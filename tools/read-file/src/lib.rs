//! `read-file`: reads one UTF-8 text file inside `/workspace`, up to a byte
//! bound, and says whether it was cut short.
#![deny(unsafe_code)]

use std::io::Read;

use airlock_sdk::{Access, Capabilities, Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the tool expects its files.
const ROOT: &str = "/workspace";
/// The default and largest number of bytes returned.
const MAX_BYTES: u64 = 1 << 20;

/// Input of `read-file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Path of the file, relative to `/workspace` or absolute under it.
    pub path: String,
    /// Most bytes to return (default and maximum 1 MiB).
    #[schemars(range(min = 1, max = 1048576))]
    pub max_bytes: Option<u64>,
}

/// Output of `read-file`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The path read, as given.
    pub path: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// The content returned (lossy UTF-8).
    pub content: String,
    /// True when the file is larger than what was returned.
    pub truncated: bool,
}

/// The tool.
pub struct ReadFile;

impl Tool for ReadFile {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "read-file";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Reads a text file under /workspace, up to max_bytes (default 1 MiB), and reports whether it was truncated.";

    fn capabilities() -> Capabilities {
        Capabilities::none().mount(ROOT, Access::ReadOnly, "the files to read")
    }

    fn run(input: Input) -> Result<Output, ToolError> {
        let limit = input.max_bytes.unwrap_or(MAX_BYTES).min(MAX_BYTES);
        let full =
            if input.path.starts_with('/') { input.path.clone() } else { format!("{ROOT}/{}", input.path) };
        let file = std::fs::File::open(&full).map_err(|e| ToolError::from_io(format!("open {full}"), &e))?;
        let size = file.metadata().map_err(|e| ToolError::from_io(format!("stat {full}"), &e))?.len();
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            return Err(ToolError::invalid_input(format!("{full} is not a regular file")));
        }
        let mut bytes = Vec::new();
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| ToolError::from_io(format!("read {full}"), &e))?;
        let content = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Output { path: input.path, size, truncated: size > bytes.len() as u64, content })
    }
}

airlock_sdk::export_tool!(ReadFile);
