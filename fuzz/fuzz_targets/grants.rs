//! Differential: guest paths, destinations and grant resolution against
//! small reference models written here, on generated paths, patterns,
//! requests and offers.
//!
//! - `GuestPath::new` accepts exactly the absolute paths other than `/`,
//!   without NUL or `\`, that are already their own normal form (the model
//!   resolves `.`, `..` and empty components and compares).
//! - `Destination::admits` agrees with a model that compares DNS labels and
//!   address bits; `admits_address` and `admits_socket` with the model's
//!   address test.
//! - `covers` is sound: when a request covers an offer, every concrete
//!   destination the offer admits, the request admits too (a requested `*`
//!   excepted for addresses: it covers them by definition, see `covers`).
//! - `resolve` agrees with a model: it refuses exactly the offers naming a
//!   mount, variable, secret or destination the tool did not request (or a
//!   mount twice, or methods it did not ask for), and otherwise grants each
//!   offered mount once at the narrower access, every variable offered, each
//!   secret once bound to the granted HTTP destinations, and each offered
//!   destination with the methods both sides name.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use airlock_policy::{
    Access, CapabilityRequest, Destination, EnvRequest, GuestPath, HostPattern, HostRequest, Methods,
    MountRequest, NetGrant, Offer, OfferedEnv, OfferedMount, OfferedSecret, Scheme, SecretRequest, resolve,
};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

const SEGMENTS: &[&str] = &["workspace", "docs", ".", "..", "", "a", "b.c", "\\", "\0", "ä", " "];
const NAMES: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "EXAMPLE.com",
    "a.example.com.",
    "example.org",
    "xexample.com",
    "a..example.com",
    "com",
    "localhost",
];
const WILDCARDS: &[&str] = &["*.example.com", "*.a.example.com", "*.EXAMPLE.com", "*.org.", "*"];
const SCHEMES: [Scheme; 4] = [Scheme::Http, Scheme::Https, Scheme::Tcp, Scheme::Udp];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD"];

/// Addresses near each other, so networks overlap.
fn address(u: &mut Unstructured<'_>) -> arbitrary::Result<IpAddr> {
    Ok(match u.int_in_range(0..=3)? {
        0 => IpAddr::V4(Ipv4Addr::new(
            10,
            u.int_in_range(0..=1)?,
            u.int_in_range(0..=3)?,
            u.int_in_range(0..=3)?,
        )),
        1 => IpAddr::V4(Ipv4Addr::new(*u.choose(&[127, 169, 192, 8])?, 0, 0, u.int_in_range(0..=2)?)),
        2 => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u.int_in_range(0..=3)?)),
        // IPv4-mapped: must meet IPv4 patterns.
        _ => {
            IpAddr::V6(Ipv4Addr::new(10, 0, u.int_in_range(0..=3)?, u.int_in_range(0..=3)?).to_ipv6_mapped())
        }
    })
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A destination's text; usually one that parses.
fn destination_text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let scheme = ["http", "https", "tcp", "udp", "HTTPS"][u.int_in_range(0..=4)?];
    let host = match u.int_in_range(0..=3)? {
        0 => (*u.choose(NAMES)?).to_owned(),
        1 => (*u.choose(WILDCARDS)?).to_owned(),
        2 => bracketed(address(u)?),
        _ => {
            let ip = address(u)?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = u.int_in_range(0..=max)?;
            match mask(ip, prefix) {
                IpAddr::V4(v4) => format!("{v4}/{prefix}"),
                IpAddr::V6(v6) => format!("[{v6}/{prefix}]"),
            }
        }
    };
    let port = match u.int_in_range(0..=3)? {
        0 => String::new(),
        1 => format!(":{}", u.int_in_range(1..=9u16)?),
        2 => {
            let first = u.int_in_range(1..=9u16)?;
            format!(":{first}-{}", u.int_in_range(first..=12)?)
        }
        _ => format!(":{}", *u.choose(&[80u16, 443, 8080])?),
    };
    Ok(format!("{scheme}://{host}{port}"))
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(bits(u128::from(u32::from(v4)), 32, prefix) as u32)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(bits(u128::from(v6), 128, prefix))),
    }
}

/// The first `prefix` of `width` bits of `value`, the rest zero: by
/// shifting out and back (the implementation masks).
fn bits(value: u128, width: u32, prefix: u8) -> u128 {
    let drop = width - u32::from(prefix);
    if drop >= 128 { 0 } else { (value >> drop) << drop }
}

/// A concrete request: scheme, host as a client writes it, port.
#[derive(Debug)]
struct Probe {
    scheme: Scheme,
    host: String,
    port: u16,
}

fn probe(u: &mut Unstructured<'_>) -> arbitrary::Result<Probe> {
    let host = match u.int_in_range(0..=2)? {
        0 => (*u.choose(NAMES)?).to_owned(),
        1 => bracketed(address(u)?),
        _ => address(u)?.to_string(),
    };
    let port = if u.arbitrary()? { u.int_in_range(1..=12)? } else { *u.choose(&[80, 443, 8080])? };
    Ok(Probe { scheme: *u.choose(&SCHEMES)?, host, port })
}

/// The model of `admits`: labels compared case-insensitively after one
/// trailing dot; address bits compared after unmapping IPv4-mapped IPv6.
fn model_admits(d: &Destination, p: &Probe) -> bool {
    if p.scheme != d.scheme || !(d.first_port..=d.last_port).contains(&p.port) {
        return false;
    }
    let literal = p.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&p.host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return model_contains(d, ip);
    }
    let name = p.host.strip_suffix('.').unwrap_or(&p.host).to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    match &d.host {
        HostPattern::Name(n) => name == *n,
        HostPattern::Wildcard(domain) => {
            let under: Vec<&str> = domain.split('.').collect();
            labels.len() > under.len() && labels[labels.len() - under.len()..] == under[..]
        }
        HostPattern::AnyName => true,
        HostPattern::Network { .. } => false,
    }
}

fn model_contains(d: &Destination, ip: IpAddr) -> bool {
    let HostPattern::Network { addr, prefix } = d.host else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, addr) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            bits(u128::from(u32::from(a)), 32, prefix) == bits(u128::from(u32::from(b)), 32, prefix)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            bits(u128::from(a), 128, prefix) == bits(u128::from(b), 128, prefix)
        }
        _ => false,
    }
}

/// The model of `GuestPath::new`: a path is valid when it is absolute, not
/// `/`, free of NUL and `\`, and equal to its own normal form.
fn model_guest_path(path: &str) -> bool {
    if !path.starts_with('/') || path == "/" || path.contains(['\0', '\\']) {
        return false;
    }
    let mut normal: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                normal.pop();
            }
            part => normal.push(part),
        }
    }
    format!("/{}", normal.join("/")) == path
}

fn guest_text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let mut path = if u.ratio(7, 8)? { String::from("/") } else { String::new() };
    let n = u.int_in_range(0..=3)?;
    for i in 0..n {
        if i > 0 {
            path.push('/');
        }
        path.push_str(u.choose(SEGMENTS)?);
    }
    if u.ratio(1, 8)? {
        path.push('/');
    }
    Ok(path)
}

fn methods(u: &mut Unstructured<'_>) -> arbitrary::Result<Methods> {
    let mut chosen: Vec<&str> = METHODS.iter().copied().filter(|_| u.ratio(1, 2).unwrap_or(false)).collect();
    if chosen.is_empty() {
        chosen.push(METHODS[0]);
    }
    Ok(Methods::parse(&chosen).expect("standard methods"))
}

#[derive(Debug)]
struct Case {
    paths: Vec<String>,
    destinations: Vec<Destination>,
    probes: Vec<Probe>,
    request: CapabilityRequest,
    offer: Offer,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let paths = (0..u.int_in_range(0..=4)?).map(|_| guest_text(u)).collect::<Result<_, _>>()?;
        let mut destinations = Vec::new();
        for _ in 0..u.int_in_range(1..=6)? {
            if let Ok(d) = destination_text(u)?.parse::<Destination>() {
                destinations.push(d);
            }
        }
        let probes = (0..u.int_in_range(1..=8)?).map(|_| probe(u)).collect::<Result<_, _>>()?;
        let guests: Vec<GuestPath> =
            ["/workspace", "/docs", "/tmp/x"].iter().filter_map(|p| GuestPath::new(p).ok()).collect();
        let access = |u: &mut Unstructured<'_>| -> arbitrary::Result<Access> {
            Ok(if u.arbitrary()? { Access::ReadWrite } else { Access::ReadOnly })
        };
        let env_names = ["LANG", "TOKEN", "HOME"];
        let mut request = CapabilityRequest::default();
        let mut offer = Offer::default();
        for _ in 0..u.int_in_range(0..=3)? {
            request.mounts.push(MountRequest {
                guest_path: u.choose(&guests)?.clone(),
                access: access(u)?,
                reason: String::new(),
            });
        }
        for _ in 0..u.int_in_range(0..=3)? {
            offer.mounts.push(OfferedMount {
                host: PathBuf::from(format!("/srv/{}", u.int_in_range(0..=9)?)),
                guest: u.choose(&guests)?.clone(),
                access: access(u)?,
            });
        }
        for _ in 0..u.int_in_range(0..=2)? {
            request.env.push(EnvRequest { name: (*u.choose(&env_names)?).into(), reason: String::new() });
        }
        for _ in 0..u.int_in_range(0..=2)? {
            offer.env.push(OfferedEnv { name: (*u.choose(&env_names)?).into(), value: "v".into() });
        }
        for _ in 0..u.int_in_range(0..=2)? {
            request.secrets.push(SecretRequest {
                name: (*u.choose(&env_names)?).into(),
                reason: String::new(),
                reveal: u.arbitrary()?,
            });
        }
        for _ in 0..u.int_in_range(0..=2)? {
            offer
                .secrets
                .push(OfferedSecret { name: (*u.choose(&env_names)?).into(), value: "s".to_owned().into() });
        }
        for d in &destinations {
            if u.arbitrary()? {
                request.hosts.push(HostRequest {
                    destination: d.clone(),
                    methods: methods(u)?,
                    reason: String::new(),
                });
            }
            if u.arbitrary()? {
                offer.hosts.push(NetGrant { destination: d.clone(), methods: methods(u)? });
            }
        }
        Ok(Case { paths, destinations, probes, request, offer })
    }
}

fuzz_target!(|case: Case| {
    for path in &case.paths {
        assert_eq!(GuestPath::new(path).is_ok(), model_guest_path(path), "guest path {path:?}");
    }
    for d in &case.destinations {
        for p in &case.probes {
            assert_eq!(d.admits(p.scheme, &p.host, p.port), model_admits(d, p), "{d:?} admits {p:?}");
            let literal = p.host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = literal.parse::<IpAddr>() {
                let socket = SocketAddr::new(ip, p.port);
                let model = p.scheme == d.scheme
                    && (d.first_port..=d.last_port).contains(&p.port)
                    && model_contains(d, ip);
                assert_eq!(d.admits_socket(p.scheme, socket), model, "{d:?} admits socket {socket}");
                if matches!(d.host, HostPattern::Network { .. }) {
                    assert_eq!(d.admits_address(ip), model_contains(d, ip), "{d:?} admits address {ip}");
                }
            }
        }
        for wider in &case.destinations {
            if !wider.covers(d) {
                continue;
            }
            for p in &case.probes {
                let any_name_over_address = wider.host == HostPattern::AnyName
                    && p.host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok();
                if d.admits(p.scheme, &p.host, p.port) && !any_name_over_address {
                    assert!(wider.admits(p.scheme, &p.host, p.port), "{wider:?} covers {d:?} but not {p:?}");
                }
            }
        }
    }
    check_resolve(&case.request, &case.offer);
});

fn check_resolve(request: &CapabilityRequest, offer: &Offer) {
    let mut seen = Vec::new();
    let mount_refused = offer.mounts.iter().any(|m| {
        let twice = seen.contains(&&m.guest);
        seen.push(&m.guest);
        twice || !request.mounts.iter().any(|r| r.guest_path == m.guest)
    });
    let env_refused = offer.env.iter().any(|e| !request.env.iter().any(|r| r.name == e.name));
    let secret_refused = offer.secrets.iter().any(|s| !request.secrets.iter().any(|r| r.name == s.name));
    let host_refused = offer.hosts.iter().any(|o| {
        let asked: Vec<&HostRequest> =
            request.hosts.iter().filter(|r| r.destination.covers(&o.destination)).collect();
        asked.is_empty() || !o.methods.as_slice().iter().any(|m| asked.iter().any(|r| r.methods.allows(m)))
    });
    let refused = mount_refused || env_refused || secret_refused || host_refused;
    let result = resolve("tool", request, offer);
    assert_eq!(result.is_err(), refused, "resolve({request:?}, {offer:?}) = {result:?}");
    let Ok(grants) = result else { return };
    assert_eq!(grants.mounts().len(), offer.mounts.len());
    for (grant, offered) in grants.mounts().iter().zip(&offer.mounts) {
        let asked = request.mounts.iter().find(|r| r.guest_path == offered.guest).expect("requested");
        assert_eq!(grant.guest, offered.guest);
        assert_eq!(grant.host, offered.host);
        assert_eq!(grant.access, asked.access.min(offered.access), "the narrower access");
    }
    assert_eq!(grants.env().len(), offer.env.len());
    let mut names: Vec<&str> = offer.secrets.iter().map(|s| s.name.as_str()).collect();
    names.dedup();
    let granted: Vec<&str> = grants.secrets().iter().map(|s| s.name.as_str()).collect();
    for name in &granted {
        assert!(names.contains(name));
    }
    assert_eq!(granted.len(), {
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        unique.len()
    });
    let http: Vec<&Destination> =
        grants.hosts().iter().map(|h| &h.destination).filter(|d| !d.scheme.is_socket()).collect();
    for secret in grants.secrets() {
        assert!(!secret.reveal, "no reveal without policy");
        assert_eq!(secret.destinations.iter().collect::<Vec<_>>(), http);
    }
    for host in grants.hosts() {
        assert!(offer.hosts.iter().any(|o| o.destination == host.destination), "{host:?} was offered");
        for m in host.methods.as_slice() {
            assert!(offer.hosts.iter().any(|o| o.destination == host.destination && o.methods.allows(m)));
            assert!(
                request.hosts.iter().any(|r| r.destination.covers(&host.destination) && r.methods.allows(m))
            );
        }
    }
    let mut distinct: Vec<&Destination> = offer.hosts.iter().map(|o| &o.destination).collect();
    distinct.dedup();
    assert!(grants.hosts().len() <= distinct.len());
}
