//! Secret grants: handles the tool holds, values only the host reads.
//!
//! `secrets.get` gives the tool a handle (a resource with no way to read the
//! value) for a secret granted to the call. `attach-bearer`/`attach-header`
//! record, host side, that a request should carry the secret, and tag the
//! request with an `airlock-secret` header holding only an index (the tool
//! may not set that header itself). When the request is sent, the egress
//! hook ([`super::net`]) takes the tag off, checks that the secret is bound
//! to the request's destination, and only then writes the real header,
//! marked sensitive. A request to any other destination is refused before it
//! leaves. `reveal` returns the value only with a `secret.reveal` grant.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use airlock_policy::{Outbound, SecretGrant};
use http::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;
use wasmtime::component::Resource;
use wasmtime_wasi_http::p2::types::HostOutgoingRequest;
use wasmtime_wasi_http::{FieldMap, WasiHttpHooks};

use crate::bindings::airlock::tool::secrets::{Host, HostSecret, SecretError};
use crate::redact::Redactor;
use crate::state::HostState;

/// The header that tags a request with attachments. Forbidden to guests.
pub(crate) const TAG_HEADER: HeaderName = HeaderName::from_static("airlock-secret");

/// Most attachments one call may make: each is host memory, so a tool
/// attaching in a loop is stopped here.
const MAX_ATTACHMENTS: usize = 256;

/// What a guest's `secret` resource stands for.
#[derive(Debug)]
pub struct SecretHandle {
    name: String,
}

/// One attachment: which secret goes into which header, how.
#[derive(Debug)]
struct Attachment {
    secret: String,
    header: HeaderName,
    template: String,
}

/// The secrets of one call and the attachments the guest asked for.
#[derive(Clone, Default)]
pub(crate) struct Vault {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    grants: Vec<SecretGrant>,
    attachments: Vec<Attachment>,
    /// Secrets injected into a request or revealed, by name.
    used: BTreeSet<String>,
}

/// The vault for a call's secret grants.
pub(crate) fn prepare(grants: &[SecretGrant]) -> Vault {
    Vault { inner: Arc::new(Mutex::new(Inner { grants: grants.to_vec(), ..Inner::default() })) }
}

impl Vault {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the tags on an outgoing request with the headers they stand
    /// for, if every tagged secret is bound to the request's destination.
    /// On refusal nothing is written and the reason is returned.
    pub(crate) fn inject(&self, headers: &mut http::HeaderMap, request: &Outbound<'_>) -> Result<(), String> {
        let tags: Vec<HeaderValue> = headers.get_all(&TAG_HEADER).iter().cloned().collect();
        headers.remove(&TAG_HEADER);
        if tags.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        let mut resolved = Vec::with_capacity(tags.len());
        let mut names = Vec::with_capacity(tags.len());
        for tag in tags {
            let attachment = tag
                .to_str()
                .ok()
                .and_then(|t| t.parse::<usize>().ok())
                .and_then(|i| inner.attachments.get(i))
                .ok_or("a request carries an unknown secret attachment")?;
            let grant = inner
                .grants
                .iter()
                .find(|g| g.name == attachment.secret)
                .ok_or_else(|| format!("secret {} is not granted", attachment.secret))?;
            if !grant.destinations.iter().any(|d| d.admits(request.scheme, request.host, request.port)) {
                return Err(format!("secret {} is not bound to {request}", attachment.secret));
            }
            let text = Zeroizing::new(attachment.template.replace("{secret}", grant.value.expose_secret()));
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                format!("secret {} does not fit in header {}", attachment.secret, attachment.header)
            })?;
            value.set_sensitive(true);
            resolved.push((attachment.header.clone(), value));
            names.push(attachment.secret.clone());
        }
        for (name, value) in resolved {
            headers.insert(name, value);
        }
        inner.used.extend(names);
        Ok(())
    }

    /// The secrets injected into a request or revealed so far, by name.
    pub(crate) fn used(&self) -> BTreeSet<String> {
        self.lock().used.clone()
    }
}

impl Vault {
    /// A redactor over the granted secrets *not* bound to `request`'s
    /// destination: a request carrying one of their values is refused.
    pub(crate) fn foreign_to(&self, request: &Outbound<'_>) -> Option<Redactor> {
        let inner = self.lock();
        let foreign: Vec<SecretGrant> = inner
            .grants
            .iter()
            .filter(|g| !g.destinations.iter().any(|d| d.admits(request.scheme, request.host, request.port)))
            .cloned()
            .collect();
        Redactor::new(&foreign)
    }
}

fn denied(message: String) -> SecretError {
    SecretError::Denied(message)
}

impl HostState {
    fn secret_name(&self, handle: &Resource<SecretHandle>) -> Result<String, SecretError> {
        self.table
            .get(handle)
            .map(|h| h.name.clone())
            .map_err(|e| SecretError::Invalid(format!("bad secret handle: {e}")))
    }

    /// Records an attachment and tags the request with its index.
    fn attach(
        &mut self,
        request: &Resource<HostOutgoingRequest>,
        secret: &Resource<SecretHandle>,
        header: &str,
        template: &str,
    ) -> Result<(), SecretError> {
        let name = self.secret_name(secret)?;
        let header: HeaderName =
            header.parse().map_err(|_| SecretError::Invalid(format!("`{header}` is not a header name")))?;
        if header == TAG_HEADER || wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(&header) {
            return Err(SecretError::Invalid(format!("a secret cannot be sent as `{header}`")));
        }
        check_template(template)?;
        let index = {
            let mut inner = self.vault.lock();
            if !inner.grants.iter().any(|g| g.name == name && !g.destinations.is_empty()) {
                return Err(denied(format!("secret {name} is not granted for use in requests")));
            }
            if inner.attachments.len() >= MAX_ATTACHMENTS {
                return Err(denied(format!("more than {MAX_ATTACHMENTS} secret attachments in one call")));
            }
            inner.attachments.push(Attachment { secret: name, header, template: template.to_owned() });
            inner.attachments.len() - 1
        };
        let outgoing = self
            .table
            .get_mut(request)
            .map_err(|e| SecretError::Invalid(format!("bad request handle: {e}")))?;
        tag(&mut outgoing.headers, index).map_err(SecretError::Invalid)
    }
}

/// Longest `attach-header` template, in bytes.
const MAX_TEMPLATE: usize = 1024;

/// Refuses, when the guest attaches it (not when the request is sent), a
/// template without `{secret}`, longer than [`MAX_TEMPLATE`], or holding
/// what a header value cannot: CR, LF, NUL or another control character
/// (header injection).
fn check_template(template: &str) -> Result<(), SecretError> {
    if !template.contains("{secret}") {
        return Err(SecretError::Invalid("the template must contain {secret}".to_owned()));
    }
    if template.len() > MAX_TEMPLATE {
        return Err(SecretError::Invalid(format!("the template is longer than {MAX_TEMPLATE} bytes")));
    }
    if http::HeaderValue::from_str(&template.replace("{secret}", "")).is_err() {
        return Err(SecretError::Invalid(
            "the template holds a character no header value may (CR, LF, NUL or another control character)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Adds the tag to a request's headers (rebuilding them if the guest's
/// fields were already frozen).
fn tag(headers: &mut FieldMap, index: usize) -> Result<(), String> {
    let mut map: http::HeaderMap = (**headers).clone();
    map.append(TAG_HEADER, HeaderValue::from(index));
    let mut rebuilt = FieldMap::new_mutable(usize::MAX);
    let mut allow_all = AllowAll;
    for (name, value) in &map {
        rebuilt
            .append(&mut allow_all, name.to_string(), value.as_bytes().to_vec())
            .map_err(|e| e.to_string())?;
    }
    *headers = rebuilt;
    Ok(())
}

/// Hooks that forbid no header: used only to write the host's own tag.
struct AllowAll;

impl WasiHttpHooks for AllowAll {
    fn forbidden_header_filter(&mut self) -> wasmtime_wasi_http::ForbiddenHeaderFilter {
        Arc::new(|_| false)
    }
}

impl HostSecret for HostState {
    fn name(&mut self, handle: Resource<SecretHandle>) -> String {
        self.secret_name(&handle).unwrap_or_default()
    }

    fn drop(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl Host for HostState {
    fn get(&mut self, name: String) -> Result<Resource<SecretHandle>, SecretError> {
        let granted = self.vault.lock().grants.iter().any(|g| g.name == name);
        if !granted {
            return Err(denied(format!("secret {name} is not granted to this call")));
        }
        self.table.push(SecretHandle { name }).map_err(|e| SecretError::Invalid(e.to_string()))
    }

    fn attach_bearer(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        secret: Resource<SecretHandle>,
    ) -> Result<(), SecretError> {
        self.attach(&request, &secret, "authorization", "Bearer {secret}")
    }

    fn attach_header(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        secret: Resource<SecretHandle>,
        name: String,
        template: String,
    ) -> Result<(), SecretError> {
        self.attach(&request, &secret, &name, &template)
    }

    fn reveal(&mut self, secret: Resource<SecretHandle>) -> Result<String, SecretError> {
        let name = self.secret_name(&secret)?;
        let mut inner = self.vault.lock();
        match inner.grants.iter().find(|g| g.name == name) {
            Some(grant) if grant.reveal => {
                tracing::warn!(target: "airlock::secret", secret = %name, "secret revealed to the tool");
                let value = grant.value.expose_secret().to_owned();
                inner.used.insert(name);
                Ok(value)
            }
            _ => Err(denied(format!("secret {name} may not be revealed to the tool"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_that_could_inject_a_header_is_refused_when_attached() {
        assert!(check_template("token {secret}").is_ok());
        for (template, why) in [
            ("{secret}\r\nX-Injected: 1", "CR, LF, NUL"),
            ("a\n{secret}", "CR, LF, NUL"),
            ("{secret}\0", "CR, LF, NUL"),
            ("\u{1b}[2J{secret}", "CR, LF, NUL"),
            ("no placeholder", "must contain {secret}"),
        ] {
            let error = check_template(template).expect_err(template).to_string();
            assert!(error.contains(why), "{template:?}: {error}");
        }
        let long = format!("{{secret}}{}", "x".repeat(MAX_TEMPLATE));
        assert!(check_template(&long).expect_err("long").to_string().contains("longer than 1024"));
    }
}
