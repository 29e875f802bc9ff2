//! Network destinations in grants: `scheme://host[:port|:first-last]`.
//!
//! A host is a DNS name (`api.github.com`), a wildcard for the names under
//! a domain (`*.example.com`: `a.example.com`, `a.b.example.com`, not
//! `example.com` itself), an IP address (`127.0.0.1`, `[::1]`) or a network
//! (`10.0.0.0/8`, `[fd00::/8]`). Without a port, the scheme's default (80 or
//! 443) is the only port.
//!
//! A request is checked twice: its scheme, host and port before any DNS
//! lookup ([`Destination::admits`]), and the address it resolved to before
//! connecting ([`Destination::admits_address`]). Name patterns admit only
//! public addresses; an internal address (loopback, private, link-local,
//! metadata, ...) is reachable only through a grant that names it as an
//! address or network.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::address::{AddressClass, classify};

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The default port: 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Https => "https",
        })
    }
}

/// The host part of a destination.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this name (lowercase, no trailing dot).
    Name(String),
    /// Any name strictly under this domain.
    Wildcard(String),
    /// An address (prefix = full length) or a network.
    Network {
        /// The network address (host bits zero).
        addr: IpAddr,
        /// Prefix length in bits.
        prefix: u8,
    },
}

/// A destination a grant allows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Scheme.
    pub scheme: Scheme,
    /// Host pattern.
    pub host: HostPattern,
    /// First allowed port.
    pub first_port: u16,
    /// Last allowed port (inclusive).
    pub last_port: u16,
}

/// Why a destination pattern does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad destination `{text}`: {reason}")]
pub struct DestinationError {
    text: String,
    reason: String,
}

impl FromStr for Destination {
    type Err = DestinationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| DestinationError { text: text.to_owned(), reason: reason.to_owned() };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if rest.contains(['@', '?', '#']) {
            return Err(bad("no user info, query or fragment: a destination is scheme://host[:port]"));
        }
        let (host, port) = split_host_port(rest).map_err(|r| bad(&r))?;
        let host = parse_host(host).map_err(|r| bad(&r))?;
        let (first_port, last_port) = match port {
            None => (scheme.default_port(), scheme.default_port()),
            Some(port) => parse_ports(port).map_err(|r| bad(&r))?,
        };
        Ok(Self { scheme, host, first_port, last_port })
    }
}

/// Splits `host[:port]`, `[v6][:port]` and `[v6/prefix][:port]`.
fn split_host_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or("unclosed `[`")?;
        return match after {
            "" => Ok((host, None)),
            _ => after.strip_prefix(':').map(|p| (host, Some(p))).ok_or_else(|| "junk after `]`".to_owned()),
        };
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Ok((host, Some(port))),
        Some(_) => Err("write IPv6 addresses in brackets: [::1]:8080".to_owned()),
        None => Ok((rest, None)),
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    if let Some((addr, prefix)) = host.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{addr}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 =
            prefix.parse().ok().filter(|p| *p <= max).ok_or(format!("prefix must be 0 to {max}"))?;
        if mask(addr, prefix) != addr {
            return Err(format!("`{host}` has host bits set; write the network address"));
        }
        return Ok(HostPattern::Network { addr, prefix });
    }
    if let Ok(addr) = host.parse::<IpAddr>() {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Ok(HostPattern::Network { addr, prefix });
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let (wildcard, domain) = match name.strip_prefix("*.") {
        Some(domain) => (true, domain.to_owned()),
        None => (false, name),
    };
    if domain.contains('*') {
        return Err("a wildcard is allowed only as the whole first label: *.example.com".to_owned());
    }
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !labels_ok || domain.len() > 253 {
        return Err(format!(
            "`{domain}` is not a valid DNS name (ASCII letters, digits, `-`; IDNs in punycode)"
        ));
    }
    if wildcard && !domain.contains('.') {
        return Err("a wildcard needs a domain of at least two labels: *.example.com, not *.com".to_owned());
    }
    Ok(if wildcard { HostPattern::Wildcard(domain) } else { HostPattern::Name(domain) })
}

fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    let port =
        |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or(format!("`{p}` is not a port (1-65535)"));
    match text.split_once('-') {
        Some((first, last)) => {
            let (first, last) = (port(first)?, port(last)?);
            if first > last {
                return Err(format!("port range {first}-{last} is reversed"));
            }
            Ok((first, last))
        }
        None => port(text).map(|p| (p, p)),
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4, so `::ffff:10.0.0.1` meets
/// `10.0.0.0/8` patterns.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl Destination {
    /// Whether a request for `scheme://host:port` is within this grant,
    /// before any DNS lookup. `host` is a DNS name or an IP literal (IPv6
    /// with or without brackets); names compare case-insensitively,
    /// ignoring one trailing dot. An IP literal matches only an address or
    /// network pattern; a name matches only a name or wildcard pattern.
    pub fn admits(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        if scheme != self.scheme || port < self.first_port || port > self.last_port {
            return false;
        }
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return self.contains(ip);
        }
        let host = host.strip_suffix('.').unwrap_or(host);
        match &self.host {
            HostPattern::Name(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Wildcard(domain) => {
                host.len() > domain.len() + 1
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
                    && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
            }
            HostPattern::Network { .. } => false,
        }
    }

    /// Whether this grant lets a connection reach `ip` (the address a
    /// request resolved to). Name and wildcard grants admit only public
    /// addresses; address and network grants admit exactly their range.
    pub fn admits_address(&self, ip: IpAddr) -> bool {
        match self.host {
            HostPattern::Network { .. } => self.contains(ip),
            HostPattern::Name(_) | HostPattern::Wildcard(_) => classify(ip) == AddressClass::Public,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match self.host {
            HostPattern::Network { addr, prefix } => {
                let ip = canonical(ip);
                ip.is_ipv4() == addr.is_ipv4() && mask(ip, prefix) == addr
            }
            _ => false,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Wildcard(domain) => write!(f, "*.{domain}")?,
            HostPattern::Network { addr: IpAddr::V4(a), prefix: 32 } => write!(f, "{a}")?,
            HostPattern::Network { addr: IpAddr::V6(a), prefix: 128 } => write!(f, "[{a}]")?,
            HostPattern::Network { addr: IpAddr::V4(a), prefix } => write!(f, "{a}/{prefix}")?,
            HostPattern::Network { addr: IpAddr::V6(a), prefix } => write!(f, "[{a}/{prefix}]")?,
        }
        match (self.first_port, self.last_port) {
            (p, q) if p == q && p == self.scheme.default_port() => Ok(()),
            (p, q) if p == q => write!(f, ":{p}"),
            (p, q) => write!(f, ":{p}-{q}"),
        }
    }
}

/// Why a request may not leave the sandbox. The message names the
/// destination and never suggests how to widen a grant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EgressRefusal {
    /// No grant covers the scheme, host and port.
    #[error("destination not granted: {target}")]
    NotGranted {
        /// `scheme://host:port` as requested.
        target: String,
    },
    /// The host is granted by name, but resolved to an internal address
    /// that no grant names.
    #[error("destination {target} resolved to {ip} ({class} address), which no grant names")]
    InternalAddress {
        /// `scheme://host:port` as requested.
        target: String,
        /// The resolved address.
        ip: IpAddr,
        /// Its class.
        class: AddressClass,
    },
}

fn target(scheme: Scheme, host: &str, port: u16) -> String {
    format!("{scheme}://{host}:{port}")
}

/// Checks a request before DNS: some grant must admit its scheme, host and
/// port.
pub fn check_request(
    grants: &[Destination],
    scheme: Scheme,
    host: &str,
    port: u16,
) -> Result<(), EgressRefusal> {
    if grants.iter().any(|g| g.admits(scheme, host, port)) {
        Ok(())
    } else {
        Err(EgressRefusal::NotGranted { target: target(scheme, host, port) })
    }
}

/// Checks the address a request (that passed [`check_request`]) resolved
/// to, before connecting. A public address is fine; an internal one
/// (loopback, private, link-local, metadata, ...) needs a grant that names
/// it as an address or network, for the same scheme and port. Connect to
/// exactly this address, never to the result of a second lookup.
pub fn check_address(
    grants: &[Destination],
    scheme: Scheme,
    host: &str,
    port: u16,
    ip: IpAddr,
) -> Result<(), EgressRefusal> {
    let class = classify(ip);
    let named = || {
        grants.iter().any(|g| {
            g.scheme == scheme
                && (g.first_port..=g.last_port).contains(&port)
                && matches!(g.host, HostPattern::Network { .. })
                && g.admits_address(ip)
        })
    };
    if class == AddressClass::Public || named() {
        return Ok(());
    }
    Err(EgressRefusal::InternalAddress { target: target(scheme, host, port), ip, class })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(text: &str) -> Destination {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_and_displays_round_trip() {
        for text in [
            "https://api.github.com",
            "http://localhost:8080",
            "https://*.example.com:8443-8450",
            "http://127.0.0.1:9000",
            "http://10.0.0.0/8",
            "http://[::1]:8080",
            "http://[fd00::/8]:80-90",
        ] {
            assert_eq!(dest(text).to_string(), text);
        }
        assert_eq!(dest("HTTPS://API.GitHub.com.:443").to_string(), "https://api.github.com");
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, reason) in [
            ("api.github.com", "expected scheme://host"),
            ("ftp://x.example", "http or https"),
            ("https://", "empty host"),
            ("https://a.example.com/path", "not an IP address"),
            ("https://user@a.example.com", "no user info"),
            ("https://a.*.example.com", "whole first label"),
            ("https://*.com", "at least two labels"),
            ("https://exa_mple.com", "not a valid DNS name"),
            ("https://a.example.com:0", "not a port"),
            ("https://a.example.com:99999", "not a port"),
            ("https://a.example.com:90-80", "reversed"),
            ("http://10.0.0.1/8", "host bits set"),
            ("http://10.0.0.0/33", "prefix must be 0 to 32"),
            ("http://::1:80", "brackets"),
            ("http://[::1", "unclosed"),
        ] {
            let err = text.parse::<Destination>().expect_err(text).to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn names_wildcards_ports_and_schemes() {
        let api = dest("https://api.github.com");
        assert!(api.admits(Scheme::Https, "api.github.com", 443));
        assert!(api.admits(Scheme::Https, "API.GITHUB.COM.", 443));
        assert!(!api.admits(Scheme::Http, "api.github.com", 443), "scheme");
        assert!(!api.admits(Scheme::Https, "api.github.com", 8443), "port");
        assert!(!api.admits(Scheme::Https, "evil-api.github.com", 443));
        assert!(!api.admits(Scheme::Https, "api.github.com.evil.example", 443));

        let wild = dest("https://*.example.com:8000-8100");
        assert!(wild.admits(Scheme::Https, "a.example.com", 8000));
        assert!(wild.admits(Scheme::Https, "a.b.example.com", 8100));
        assert!(!wild.admits(Scheme::Https, "example.com", 8000), "the domain itself");
        assert!(!wild.admits(Scheme::Https, "badexample.com", 8000));
        assert!(!wild.admits(Scheme::Https, "a.example.com", 8101));
    }

    #[test]
    fn ip_literals_match_only_address_grants() {
        let net = dest("http://10.0.0.0/8:80");
        assert!(net.admits(Scheme::Http, "10.1.2.3", 80));
        assert!(net.admits(Scheme::Http, "[::ffff:10.1.2.3]", 80), "mapped form");
        assert!(!net.admits(Scheme::Http, "11.0.0.1", 80));
        let name = dest("http://localhost:80");
        assert!(!name.admits(Scheme::Http, "127.0.0.1", 80), "a name grant never admits a literal");
        let v6 = dest("http://[::1]:8080");
        assert!(v6.admits(Scheme::Http, "[::1]", 8080));
        assert!(v6.admits(Scheme::Http, "::1", 8080));
    }

    #[test]
    fn names_resolving_inside_are_refused_unless_the_range_is_named() {
        let grants = [dest("http://fixture.test:8080")];
        check_request(&grants, Scheme::Http, "fixture.test", 8080).expect("granted by name");
        let refused = check_address(&grants, Scheme::Http, "fixture.test", 8080, ip("127.0.0.1"));
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("destination http://fixture.test:8080 resolved to 127.0.0.1 (loopback address), which no grant names".into())
        );
        for internal in ["10.0.0.5", "169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1", "0.0.0.0"] {
            assert!(
                check_address(&grants, Scheme::Http, "fixture.test", 8080, ip(internal)).is_err(),
                "{internal}"
            );
        }
        assert!(check_address(&grants, Scheme::Http, "fixture.test", 8080, ip("93.184.216.34")).is_ok());

        // Naming loopback explicitly (same scheme and port) lets the name
        // resolve there; another port or scheme does not.
        let with_loopback = [dest("http://fixture.test:8080"), dest("http://127.0.0.0/8:8080")];
        assert!(check_address(&with_loopback, Scheme::Http, "fixture.test", 8080, ip("127.0.0.1")).is_ok());
        let other_port = [dest("http://fixture.test:8080"), dest("http://127.0.0.0/8:9090")];
        assert!(check_address(&other_port, Scheme::Http, "fixture.test", 8080, ip("127.0.0.1")).is_err());
        assert!(check_address(&with_loopback, Scheme::Http, "fixture.test", 8080, ip("10.0.0.1")).is_err());
    }

    #[test]
    fn refusal_names_the_destination() {
        let err = check_request(&[], Scheme::Http, "10.0.0.5", 80).expect_err("nothing granted");
        assert_eq!(err.to_string(), "destination not granted: http://10.0.0.5:80");
    }
}
