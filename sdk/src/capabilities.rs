//! Declaring what a tool needs.

/// How a mount may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    ReadOnly,
    /// Read, create, write and remove.
    ReadWrite,
}

/// The capabilities a tool requests, built with chained calls:
///
/// ```
/// use airlock_sdk::{Access, Capabilities};
/// let caps = Capabilities::none()
///     .mount("/workspace", Access::ReadOnly, "the tree to search")
///     .env("LANG", "locale for messages");
/// ```
///
/// A request is only a request: the operator decides what is granted, and a
/// tool must handle a missing mount or variable as an error.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub(crate) mounts: Vec<(String, Access, String)>,
    pub(crate) hosts: Vec<(String, Vec<String>, String)>,
    pub(crate) secrets: Vec<(String, String, bool)>,
    pub(crate) env: Vec<(String, String)>,
}

impl Capabilities {
    /// Requests nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Requests a directory at `guest_path` (absolute, such as `/workspace`).
    pub fn mount(mut self, guest_path: &str, access: Access, reason: &str) -> Self {
        self.mounts.push((guest_path.to_owned(), access, reason.to_owned()));
        self
    }

    /// Requests an outbound HTTP destination, `scheme://host[:port]`:
    /// `https://api.osv.dev`, `https://*.github.com`, or `https://*` for a
    /// tool that fetches whatever the operator grants. Any common method
    /// (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS).
    pub fn host(self, destination: &str, reason: &str) -> Self {
        self.host_methods(destination, &[], reason)
    }

    /// Requests an outbound HTTP destination for the given methods only
    /// (uppercase, such as `["GET", "HEAD"]`).
    pub fn host_methods(mut self, destination: &str, methods: &[&str], reason: &str) -> Self {
        let methods = methods.iter().map(|m| (*m).to_owned()).collect();
        self.hosts.push((destination.to_owned(), methods, reason.to_owned()));
        self
    }

    /// Requests a secret the host uses on the tool's behalf.
    pub fn secret(mut self, name: &str, reason: &str) -> Self {
        self.secrets.push((name.to_owned(), reason.to_owned(), false));
        self
    }

    /// Requests a secret whose value the tool reads itself (to sign
    /// locally, say). Needs an explicit `secret.reveal` grant, and the value
    /// then lives in tool memory: prefer [`Capabilities::secret`] and
    /// `airlock_sdk::http::Request::bearer`.
    pub fn secret_reveal(mut self, name: &str, reason: &str) -> Self {
        self.secrets.push((name.to_owned(), reason.to_owned(), true));
        self
    }

    /// Requests an environment variable.
    pub fn env(mut self, name: &str, reason: &str) -> Self {
        self.env.push((name.to_owned(), reason.to_owned()));
        self
    }
}
