//! Network destinations in grants: `scheme://host[:port|:first-last]`.
//!
//! A host is a DNS name (`api.github.com`), a wildcard for the names under
//! a domain (`*.example.com`: `a.example.com`, `a.b.example.com`, not
//! `example.com` itself), `*` for any DNS name, an IP address (`127.0.0.1`,
//! `[::1]`) or a network (`10.0.0.0/8`, `[fd00::/8]`). Without a port, the
//! scheme's default (80 or 443) is the only port. Name patterns (including
//! `*`) never match an IP literal: addresses are reachable only through
//! patterns written as addresses.
//!
//! A request is checked twice (see [`crate::check_request`]): its scheme,
//! host and port before any DNS lookup ([`Destination::admits`]), and the
//! address it resolved to before connecting ([`Destination::admits_address`]). Name patterns admit only
//! public addresses; an internal address (loopback, private, link-local,
//! metadata, ...) is reachable only through a grant that names it as an
//! address or network.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::address::{AddressClass, classify};

/// What a destination is for: HTTP requests through `wasi:http`, or raw
/// sockets through `wasi:sockets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// Raw TCP connections (`wasi:sockets`); addresses and networks only.
    Tcp,
    /// UDP datagrams (`wasi:sockets`); addresses and networks only.
    Udp,
}

impl Scheme {
    /// The default port: 80 or 443; `None` for sockets, which must name one.
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Http => Some(80),
            Self::Https => Some(443),
            Self::Tcp | Self::Udp => None,
        }
    }

    /// True for `tcp` and `udp`.
    pub fn is_socket(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
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
    /// Any DNS name (`*`); never an IP literal.
    AnyName,
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
            "tcp" => Scheme::Tcp,
            "udp" => Scheme::Udp,
            _ => return Err(bad("the scheme must be http, https, tcp or udp")),
        };
        if rest.contains(['@', '?', '#']) {
            return Err(bad("no user info, query or fragment: a destination is scheme://host[:port]"));
        }
        let (host, port) = split_host_port(rest).map_err(|r| bad(&r))?;
        let host = parse_host(host).map_err(|r| bad(&r))?;
        if scheme.is_socket() && !matches!(host, HostPattern::Network { .. }) {
            return Err(bad("a socket destination names an address or network: tools get no name lookup"));
        }
        let (first_port, last_port) = match (port, scheme.default_port()) {
            (Some(port), _) => parse_ports(port).map_err(|r| bad(&r))?,
            (None, Some(default)) => (default, default),
            (None, None) => {
                return Err(bad("a socket destination needs a port or range: tcp://10.0.0.0/8:5432"));
            }
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
    if host == "*" {
        return Ok(HostPattern::AnyName);
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

/// Whether `name` is strictly under `domain` (ASCII case-insensitive).
fn is_under(name: &str, domain: &str) -> bool {
    name.len() > domain.len() + 1
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
        && name[name.len() - domain.len()..].eq_ignore_ascii_case(domain)
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
            HostPattern::Wildcard(domain) => is_under(host, domain),
            HostPattern::AnyName => true,
            HostPattern::Network { .. } => false,
        }
    }

    /// Whether `other` lies inside `self`, as an offered destination must lie
    /// inside a requested one: same scheme, port range within, host pattern
    /// within (a name under a wildcard, a network inside a network). A
    /// requested `*` covers every host pattern, addresses included: it means
    /// "whatever the operator grants", and the grant is what is enforced.
    pub fn covers(&self, other: &Destination) -> bool {
        if self.scheme != other.scheme
            || other.first_port < self.first_port
            || other.last_port > self.last_port
        {
            return false;
        }
        match (&self.host, &other.host) {
            // In a request, `*` is "whatever the operator grants": it covers
            // address grants too. As a grant it still admits names only.
            (HostPattern::AnyName, _) => true,
            (HostPattern::Name(a), HostPattern::Name(b)) => a == b,
            (HostPattern::Wildcard(domain), HostPattern::Name(name)) => is_under(name, domain),
            (HostPattern::Wildcard(domain), HostPattern::Wildcard(sub)) => {
                sub == domain || is_under(sub, domain)
            }
            (HostPattern::Network { addr, prefix }, HostPattern::Network { addr: other_addr, prefix: p }) => {
                p >= prefix && addr.is_ipv4() == other_addr.is_ipv4() && mask(*other_addr, *prefix) == *addr
            }
            _ => false,
        }
    }

    /// Whether this grant lets a connection reach `ip` (the address a
    /// request resolved to). Name and wildcard grants admit only public
    /// addresses; address and network grants admit exactly their range.
    pub fn admits_address(&self, ip: IpAddr) -> bool {
        match self.host {
            HostPattern::Network { .. } => self.contains(ip),
            HostPattern::Name(_) | HostPattern::Wildcard(_) | HostPattern::AnyName => {
                classify(ip) == AddressClass::Public
            }
        }
    }

    /// Whether a socket of this destination's scheme may reach `addr`:
    /// the address inside the network, the port inside the range.
    pub fn admits_socket(&self, scheme: Scheme, addr: std::net::SocketAddr) -> bool {
        scheme == self.scheme
            && (self.first_port..=self.last_port).contains(&addr.port())
            && self.contains(addr.ip())
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

impl fmt::Display for HostPattern {
    /// As written in a destination: `api.github.com`, `*.example.com`, `*`,
    /// `10.0.0.0/8`, `[::1]`, `[fd00::/8]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Wildcard(domain) => write!(f, "*.{domain}"),
            Self::AnyName => f.write_str("*"),
            Self::Network { addr: IpAddr::V4(a), prefix: 32 } => write!(f, "{a}"),
            Self::Network { addr: IpAddr::V6(a), prefix: 128 } => write!(f, "[{a}]"),
            Self::Network { addr: IpAddr::V4(a), prefix } => write!(f, "{a}/{prefix}"),
            Self::Network { addr: IpAddr::V6(a), prefix } => write!(f, "[{a}/{prefix}]"),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match (self.first_port, self.last_port) {
            (p, q) if p == q && Some(p) == self.scheme.default_port() => Ok(()),
            (p, q) if p == q => write!(f, ":{p}"),
            (p, q) => write!(f, ":{p}-{q}"),
        }
    }
}

impl serde::Serialize for Destination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Destination {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
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
            "https://*",
            "tcp://10.0.0.0/8:5432",
            "udp://[::1]:53",
        ] {
            assert_eq!(dest(text).to_string(), text);
        }
        assert_eq!(dest("HTTPS://API.GitHub.com.:443").to_string(), "https://api.github.com");
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, reason) in [
            ("api.github.com", "expected scheme://host"),
            ("ftp://x.example", "http, https, tcp or udp"),
            ("tcp://db.internal:5432", "no name lookup"),
            ("tcp://10.0.0.1", "needs a port"),
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
    fn any_name_admits_names_only() {
        let any = dest("https://*");
        assert!(any.admits(Scheme::Https, "api.osv.dev", 443));
        assert!(!any.admits(Scheme::Https, "10.0.0.5", 443), "an IP literal needs an address grant");
        assert!(!any.admits(Scheme::Https, "[::1]", 443));
        assert!(!any.admits(Scheme::Http, "api.osv.dev", 80), "scheme and port still apply");
        assert!(!any.admits_address(ip("127.0.0.1")), "names reach public addresses only");
    }

    #[test]
    fn covers_is_containment() {
        let covers = |a: &str, b: &str| dest(a).covers(&dest(b));
        assert!(covers("https://*", "https://api.github.com"));
        assert!(covers("https://*", "https://*.example.com"));
        assert!(covers("https://*:1-65535", "https://10.0.0.1"), "a requested `*` covers address grants");
        assert!(covers("https://*.example.com", "https://a.b.example.com"));
        assert!(covers("https://*.example.com", "https://*.b.example.com"));
        assert!(!covers("https://*.example.com", "https://example.com"));
        assert!(!covers("https://*.example.com", "https://badexample.com"));
        assert!(covers("http://10.0.0.0/8:1-65535", "http://10.1.0.0/16:8080"));
        assert!(!covers("http://10.0.0.0/16", "http://10.0.0.0/8"));
        assert!(!covers("http://127.0.0.1:1-65535", "https://127.0.0.1:443"), "scheme differs");
        assert!(!covers("https://api.github.com", "https://api.github.com:8443"), "port outside");
    }
}
