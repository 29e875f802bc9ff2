//! Raw sockets (`wasi:sockets`): off unless a `tcp://` or `udp://` grant
//! names the address range and ports.
//!
//! With no socket grant, TCP and UDP stay disabled in the WASI context, as
//! every call starts. With one, only connects (TCP) and sends/receives
//! (UDP) to granted address:port pairs pass, plus the implicit bind to the
//! unspecified address that a connect or send performs. Listening and
//! accepting are never granted, and name lookup stays off: socket grants
//! name addresses, never DNS names. A refused use is recorded like a
//! refused HTTP request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use airlock_policy::{NetGrant, Scheme, check_socket};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

use super::State;

/// Enables TCP and/or UDP when `grants` holds socket destinations, with an
/// address check that admits exactly them.
pub(super) fn prepare(wasi: &mut WasiCtxBuilder, grants: &[NetGrant], state: &Arc<Mutex<State>>) {
    let sockets: Arc<[NetGrant]> =
        grants.iter().filter(|g| g.destination.scheme.is_socket()).cloned().collect();
    if sockets.is_empty() {
        return;
    }
    let tcp = sockets.iter().any(|g| g.destination.scheme == Scheme::Tcp);
    let udp = sockets.iter().any(|g| g.destination.scheme == Scheme::Udp);
    let state = state.clone();
    wasi.allow_tcp(tcp).allow_udp(udp).socket_addr_check(move |addr, usage| {
        let verdict = decide(&sockets, addr, usage);
        if let Err(reason) = &verdict {
            State::refuse(&state, reason.clone());
        }
        Box::pin(std::future::ready(verdict.is_ok()))
    });
}

fn decide(grants: &[NetGrant], addr: SocketAddr, usage: SocketAddrUse) -> Result<(), String> {
    let checked = |scheme| check_socket(grants, scheme, addr).map_err(|e| e.to_string());
    match usage {
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind if addr.ip().is_unspecified() => Ok(()),
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => Err(format!("binding {addr} is not granted")),
        SocketAddrUse::TcpConnect => checked(Scheme::Tcp),
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => checked(Scheme::Udp),
        SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => Err("listening is never granted".to_owned()),
    }
}
