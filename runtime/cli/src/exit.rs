//! Exit codes: a stable contract for scripts and CI.

use std::process::ExitCode;

/// The tool ran and returned output.
pub(crate) const OK: u8 = 0;
/// The tool ran and failed: it returned `failed` or `invalid-input`, or it
/// trapped (crashed).
pub(crate) const TOOL_ERROR: u8 = 1;
/// The command line was wrong: bad flag, bad mount spec, unreadable input
/// file, input that is not JSON, a grant the tool did not request.
pub(crate) const USAGE: u8 = 2;
/// The tool was denied something it tried to use (it returned `denied`).
pub(crate) const DENIED: u8 = 3;
/// A limit ended the call: timeout, memory, stack or output size.
pub(crate) const LIMIT: u8 = 4;
/// The file is not a valid airlock tool (not wasm, a core module, wrong
/// world, `describe` trapped).
pub(crate) const INVALID_TOOL: u8 = 5;
/// airlock itself failed (engine, cache, I/O).
pub(crate) const INTERNAL: u8 = 6;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self { code, error: error.into() }
    }

    pub(crate) fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self::new(USAGE, error)
    }

    pub(crate) fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::new(INTERNAL, error)
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}
