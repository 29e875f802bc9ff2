//! `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`: how a tool in a
//! registry is named. The registry is always written out (there is no
//! default registry), so a name never silently means Docker Hub.

use std::fmt;
use std::str::FromStr;

/// The scheme every registry reference starts with.
pub const SCHEME: &str = "oci://";

/// A tool in an OCI registry, by tag, by digest or both. With a digest the
/// reference is *pinned*: only a manifest with exactly that digest is
/// accepted, whatever the tag says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OciReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not a registry reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad registry reference `{text}`: {reason}")]
pub struct ReferenceError {
    text: String,
    reason: String,
}

impl FromStr for OciReference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ReferenceError { text: text.to_owned(), reason: reason.to_owned() };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("expected oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest).map_err(|r| bad(&r))?)),
            None => (rest, None),
        };
        let (registry, path) = rest.split_once('/').ok_or_else(|| bad("no repository after the registry"))?;
        if !valid_registry(registry) {
            return Err(bad("the registry must be a host name or address, with an optional port"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) => (repository, Some(tag)),
            None => (path, None),
        };
        if !valid_repository(repository) {
            return Err(bad("the repository is lowercase letters, digits and `._-` in `/`-separated parts"));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(bad("a tag is at most 128 letters, digits and `_.-`, not starting with `.` or `-`"));
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("name a tag (`:v1`) or a digest (`@sha256:...`); there is no default tag"));
        }
        Ok(Self {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

fn parse_digest(text: &str) -> Result<String, String> {
    let hex = text.strip_prefix("sha256:").ok_or("only sha256 digests are accepted")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err("a sha256 digest is 64 lowercase hex digits".into());
    }
    Ok(text.to_owned())
}

fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inner, after)) if inner.parse::<std::net::Ipv6Addr>().is_ok() => match after {
                "" => return true,
                after => ("", after.strip_prefix(':')),
            },
            _ => return false,
        },
        None => match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    };
    let port_ok = |port: Option<&str>| {
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if host.is_empty() {
        // A bracketed IPv6 address followed by `:port`.
        return port.is_some() && port_ok(port);
    }
    port_ok(port)
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && part.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-'])
}

impl OciReference {
    /// The registry host (and port).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned manifest digest (`sha256:<hex>`), if one was written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The name this reference gives its tool: the reference without its
    /// digest (`oci://REGISTRY/REPOSITORY:TAG`), as `airlock.lock` keys it.
    pub fn name(&self) -> String {
        Self { digest: None, ..self.clone() }.to_string()
    }

    /// This reference pinned to `digest` (the tag kept for readers).
    pub fn pinned(&self, digest: &str) -> Self {
        Self { digest: Some(digest.to_owned()), ..self.clone() }
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`,
    /// `[::1]`): only such a registry is spoken to over plain HTTP, as
    /// Docker does; every other one over HTTPS.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or(rest, |(inner, _)| inner),
            None => self.registry.split_once(':').map_or(self.registry.as_str(), |(host, _)| host),
        };
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The reference the OCI client takes: by digest when pinned.
    pub(crate) fn oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.clone(),
            ),
            (None, Some(tag)) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), tag.clone())
            }
            (None, None) => unreachable!("a reference has a tag or a digest (checked when parsed)"),
        }
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_digests_ports_and_nested_repositories() {
        let r: OciReference = "oci://ghcr.io/acme/tools/grep:1.2.0".parse().expect("tag");
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("ghcr.io", "acme/tools/grep", Some("1.2.0"), None)
        );
        let r: OciReference = format!("oci://127.0.0.1:5000/grep@{D}").parse().expect("digest");
        assert_eq!((r.registry(), r.tag(), r.digest()), ("127.0.0.1:5000", None, Some(D)));
        assert!(r.is_loopback());
        let r: OciReference = format!("oci://localhost:5000/grep:v1@{D}").parse().expect("both");
        assert_eq!(r.to_string(), format!("oci://localhost:5000/grep:v1@{D}"));
        assert!(r.is_loopback());
        let r: OciReference = "oci://[::1]:5000/grep:v1".parse().expect("v6");
        assert!(r.is_loopback());
        assert!(!"oci://ghcr.io/a:v1".parse::<OciReference>().expect("remote").is_loopback());
    }

    #[test]
    fn refuses_everything_else_naming_why() {
        for (text, why) in [
            ("ghcr.io/a:v1", "expected oci://"),
            ("oci://ghcr.io/a", "no default tag"),
            ("oci://ghcr.io", "no repository"),
            ("oci://ghcr.io/Acme:v1", "lowercase"),
            ("oci://ghcr.io/a:v1@sha512:00", "only sha256"),
            ("oci://ghcr.io/a@sha256:ABC", "64 lowercase hex"),
            ("oci://gh cr.io/a:v1", "host name"),
            ("oci://ghcr.io/a:-v1", "a tag is"),
            ("oci://ghcr.io//a:v1", "lowercase letters"),
        ] {
            let err = text.parse::<OciReference>().expect_err(text).to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
