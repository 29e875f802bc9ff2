//! The error a tool returns.

use std::fmt;

/// Why a call did not produce a result. Mirrors the WIT `tool-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The input was not valid for this tool.
    InvalidInput(String),
    /// The tool tried to use something it was not granted.
    Denied(String),
    /// Anything else.
    Failed(String),
}

impl ToolError {
    /// A [`ToolError::Failed`] from anything displayable.
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }

    /// A [`ToolError::InvalidInput`] from anything displayable.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Self::InvalidInput(message.to_string())
    }

    /// Classifies an I/O error: permission errors (the sandbox refused) become
    /// [`ToolError::Denied`], everything else [`ToolError::Failed`].
    pub fn from_io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        let message = format!("{context}: {err}");
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            Self::Denied(message)
        } else {
            Self::Failed(message)
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Denied(m) => write!(f, "denied: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ToolError {}
