//! `grep`: regex search over the tree mounted at `/workspace`.
//!
//! Semantics follow ripgrep run with `--no-ignore` from the search root:
//! hidden files and directories (names starting with `.`) are skipped
//! (though an include glob admits a hidden file it matches), symlinks are
//! not followed, files containing a NUL byte are treated as
//! binary and skipped, include globs without a `/` match a file name at any
//! depth and globs with a `/` match the path from the root. Results are in
//! path order, then line order.
#![deny(unsafe_code)]

pub mod search;

use airlock_sdk::{Access, Capabilities, Tool, ToolError};

pub use search::{Input, Match, Output};

/// The tool.
pub struct Grep;

impl Tool for Grep {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "grep";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Searches files under /workspace for lines matching a regular expression \
         (Rust regex syntax), optionally restricted by include globs, up to max_matches results.";

    fn capabilities() -> Capabilities {
        Capabilities::none().mount(search::ROOT, Access::ReadOnly, "the tree to search")
    }

    fn run(input: Input) -> Result<Output, ToolError> {
        search::run(std::path::Path::new(search::ROOT), &input)
    }
}

#[cfg(target_arch = "wasm32")]
airlock_sdk::export_tool!(Grep);
