//! Errors of the MCP server: loading the catalog, establishing who calls,
//! serving.

use std::path::PathBuf;

use airlock_identity::TokenError;

/// Why a tool was skipped, or why the catalog could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A path named as a tool or tools directory cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The component could not be loaded (not a tool, wrong world, trapped
    /// in `describe`, ...).
    #[error("`{path}`: {source}")]
    Load {
        /// The component file.
        path: PathBuf,
        /// Why.
        source: airlock_host::LoadError,
    },
    /// The tool's input schema cannot serve MCP clients.
    #[error("`{path}`: tool `{tool}` has an unusable input schema: {reason}")]
    Schema {
        /// The component file.
        path: PathBuf,
        /// The tool's name.
        tool: String,
        /// Why.
        reason: String,
    },
    /// Two components describe themselves with the same name.
    #[error("`{path}`: a tool named `{tool}` is already loaded from `{first}`")]
    Duplicate {
        /// The component skipped.
        path: PathBuf,
        /// The name both claim.
        tool: String,
        /// The component loaded first.
        first: PathBuf,
    },
    /// Nothing could be served.
    #[error("no tool loaded (looked in: {0})")]
    Empty(String),
}

impl CatalogError {
    /// The component or directory the error is about, if one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Read { path, .. }
            | Self::Load { path, .. }
            | Self::Schema { path, .. }
            | Self::Duplicate { path, .. } => Some(path),
            Self::Empty(_) => None,
        }
    }
}

/// Why the caller's identity could not be established.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The token file cannot be read.
    #[error("cannot read the token file `{path}`: {source}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The stdio token expired and the file holds no newer one.
    #[error("the identity token in `{0}` has expired; write a fresh token to the file")]
    Expired(PathBuf),
}

impl IdentityError {
    /// A fixed name for the kind of refusal, for counting refusals
    /// ([`TokenError::kind`], or `token_file`, `expired`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TokenFile { .. } => "token_file",
            Self::Token(e) => e.kind(),
            Self::Expired(_) => "expired",
        }
    }

    /// The token error behind this one, if any (for exit codes).
    pub fn token_error(&self) -> Option<&TokenError> {
        match self {
            Self::Token(e) => Some(e),
            _ => None,
        }
    }
}

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding or serving the socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The HTTP address is not loopback and there is no TLS.
    #[error(
        "refusing to serve MCP over plain HTTP on {0}: bearer tokens would cross the network in clear text; bind a loopback address, or serve TLS (--tls-cert and --tls-key)"
    )]
    NotLoopback(std::net::SocketAddr),
    /// The MCP session failed.
    #[error("MCP session: {0}")]
    Session(String),
}

/// The server's TLS certificate or key cannot be used. Nothing is served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file cannot be read or holds no PEM item of the kind needed.
    #[error("{file}: {reason}")]
    File {
        /// The certificate or key file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate is outside its validity period now.
    #[error("{file}: the certificate is {when} (valid from {not_before} to {not_after})")]
    NotValidNow {
        /// The certificate file.
        file: String,
        /// `expired` or `not valid yet`.
        when: &'static str,
        /// Its notBefore.
        not_before: String,
        /// Its notAfter.
        not_after: String,
    },
    /// rustls refused the pair (a key that does not match, say).
    #[error("TLS configuration: {0}")]
    Config(String),
}
