//! The per-request egress check: is this outgoing request inside the
//! call's network grants, before DNS and again on the resolved address?

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::{AddressClass, HostPattern, NetGrant, Scheme, classify};

/// One outgoing HTTP request as the host sees it, before any DNS lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound<'a> {
    /// The method, exactly as sent (`GET`).
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// A DNS name or an IP literal (IPv6 with or without brackets).
    pub host: &'a str,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
}

impl fmt::Display for Outbound<'_> {
    /// `scheme://host:port`, the form refusals name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
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
    /// A grant covers the destination, but not this method.
    #[error("method {method} not granted for {target}")]
    MethodNotGranted {
        /// The method sent.
        method: String,
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

/// Checks a request before DNS: some grant must admit its scheme, host and
/// port, and allow its method.
pub fn check_request(grants: &[NetGrant], request: &Outbound<'_>) -> Result<(), EgressRefusal> {
    let mut admitted = false;
    for grant in grants {
        if grant.destination.admits(request.scheme, request.host, request.port) {
            if grant.methods.allows(request.method) {
                return Ok(());
            }
            admitted = true;
        }
    }
    if admitted {
        Err(EgressRefusal::MethodNotGranted {
            method: request.method.to_owned(),
            target: request.to_string(),
        })
    } else {
        Err(EgressRefusal::NotGranted { target: request.to_string() })
    }
}

/// Checks the address a request (that passed [`check_request`]) resolved
/// to, before connecting. A public address is fine; an internal one
/// (loopback, private, link-local, metadata, ...) needs a grant that names
/// it as an address or network, for the same scheme, port and method.
/// Connect to exactly this address, never to the result of a second lookup.
pub fn check_address(grants: &[NetGrant], request: &Outbound<'_>, ip: IpAddr) -> Result<(), EgressRefusal> {
    let class = classify(ip);
    let named = || {
        grants.iter().any(|g| {
            let d = &g.destination;
            d.scheme == request.scheme
                && (d.first_port..=d.last_port).contains(&request.port)
                && matches!(d.host, HostPattern::Network { .. })
                && d.admits_address(ip)
                && g.methods.allows(request.method)
        })
    };
    if class == AddressClass::Public || named() {
        return Ok(());
    }
    Err(EgressRefusal::InternalAddress { target: request.to_string(), ip, class })
}

/// Checks a raw socket use (`tcp` connect, `udp` send or receive) against
/// the socket grants: some grant of that scheme must contain the address
/// and port.
pub fn check_socket(grants: &[NetGrant], scheme: Scheme, addr: SocketAddr) -> Result<(), EgressRefusal> {
    if grants.iter().any(|g| g.destination.admits_socket(scheme, addr)) {
        Ok(())
    } else {
        let target = match addr {
            SocketAddr::V4(a) => format!("{scheme}://{a}"),
            SocketAddr::V6(a) => format!("{scheme}://[{}]:{}", a.ip(), a.port()),
        };
        Err(EgressRefusal::NotGranted { target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Methods;

    fn grant(text: &str, methods: &[&str]) -> NetGrant {
        NetGrant {
            destination: text.parse().unwrap_or_else(|e| panic!("{e}")),
            methods: Methods::parse(methods).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn get<'a>(scheme: Scheme, host: &'a str, port: u16) -> Outbound<'a> {
        Outbound { method: "GET", scheme, host, port }
    }

    #[test]
    fn names_resolving_inside_are_refused_unless_the_range_is_named() {
        let grants = [grant("http://fixture.test:8080", &[])];
        let request = get(Scheme::Http, "fixture.test", 8080);
        check_request(&grants, &request).expect("granted by name");
        let refused = check_address(&grants, &request, ip("127.0.0.1"));
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("destination http://fixture.test:8080 resolved to 127.0.0.1 (loopback address), which no grant names".into())
        );
        for internal in ["10.0.0.5", "169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1", "0.0.0.0"] {
            assert!(check_address(&grants, &request, ip(internal)).is_err(), "{internal}");
        }
        assert!(check_address(&grants, &request, ip("93.184.216.34")).is_ok());

        // Naming loopback explicitly (same scheme and port) lets the name
        // resolve there; another port or scheme does not.
        let with_loopback = [grant("http://fixture.test:8080", &[]), grant("http://127.0.0.0/8:8080", &[])];
        assert!(check_address(&with_loopback, &request, ip("127.0.0.1")).is_ok());
        let other_port = [grant("http://fixture.test:8080", &[]), grant("http://127.0.0.0/8:9090", &[])];
        assert!(check_address(&other_port, &request, ip("127.0.0.1")).is_err());
        assert!(check_address(&with_loopback, &request, ip("10.0.0.1")).is_err());
    }

    #[test]
    fn sockets_need_a_socket_grant_for_the_address_and_port() {
        let addr = |text: &str| text.parse::<SocketAddr>().unwrap_or_else(|e| panic!("{text}: {e}"));
        let grants = [grant("tcp://10.0.0.0/8:5432", &[]), grant("http://10.0.0.0/8:5432", &[])];
        check_socket(&grants, Scheme::Tcp, addr("10.1.2.3:5432")).expect("granted");
        let refused = check_socket(&grants, Scheme::Tcp, addr("10.1.2.3:22")).expect_err("port");
        assert_eq!(refused.to_string(), "destination not granted: tcp://10.1.2.3:22");
        assert!(check_socket(&grants, Scheme::Udp, addr("10.1.2.3:5432")).is_err(), "udp is not tcp");
        assert!(check_socket(&grants[1..], Scheme::Tcp, addr("10.1.2.3:5432")).is_err(), "http is not tcp");
        assert!(check_socket(&grants, Scheme::Tcp, addr("[::1]:5432")).is_err());
    }

    #[test]
    fn refusals_name_the_destination_and_method() {
        let err = check_request(&[], &get(Scheme::Http, "10.0.0.5", 80)).expect_err("nothing granted");
        assert_eq!(err.to_string(), "destination not granted: http://10.0.0.5:80");
        let grants = [grant("https://api.github.com", &["GET", "HEAD"])];
        let post = Outbound { method: "POST", scheme: Scheme::Https, host: "api.github.com", port: 443 };
        let err = check_request(&grants, &post).expect_err("POST not granted");
        assert_eq!(err.to_string(), "method POST not granted for https://api.github.com:443");
        check_request(&grants, &get(Scheme::Https, "API.GitHub.com", 443))
            .expect("names are case-insensitive");
    }
}
