//! Secrets the host uses for the tool. The tool gets a handle, never the
//! value, and asks the host to attach it to a request
//! ([`crate::http::Request::bearer`], [`crate::http::Request::secret_header`]).
//! The host sends it only to destinations policy binds it to; a request
//! anywhere else fails with [`crate::http::HttpError::Denied`] and nothing
//! is sent.
//!
//! ```no_run
//! use airlock_sdk::http::Request;
//! use airlock_sdk::secrets::Secret;
//! let token = Secret::get("GITHUB_TOKEN")?;
//! let response = Request::get("https://api.github.com/user").bearer(&token).send(1 << 20)?;
//! # Ok::<(), airlock_sdk::ToolError>(())
//! ```

use std::fmt;

use crate::ToolError;
use crate::bindings::airlock::tool::secrets::{self, SecretError};

/// A handle to a secret granted to this call. It holds no value.
pub struct Secret {
    pub(crate) handle: secrets::Secret,
    name: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Secret {
    /// The secret `name`, if it is granted to this call.
    pub fn get(name: &str) -> Result<Self, ToolError> {
        let handle = secrets::get(name).map_err(error)?;
        Ok(Self { handle, name: name.to_owned() })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value itself: only with a `secret.reveal` grant (see
    /// [`crate::Capabilities::secret_reveal`]). Outputs are still redacted.
    pub fn reveal(&self) -> Result<String, ToolError> {
        secrets::reveal(&self.handle).map_err(error)
    }
}

pub(crate) fn error(e: SecretError) -> ToolError {
    match e {
        SecretError::Denied(m) => ToolError::Denied(m),
        SecretError::Invalid(m) => ToolError::Failed(m),
    }
}
