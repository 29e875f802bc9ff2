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
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::SocketError;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::{tcp_create_socket, udp_create_socket};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsView};

use super::State;
use crate::descriptors::Kind;
use crate::state::HostState;

/// The `wasi:sockets` version wasmtime-wasi 48 defines (guests importing
/// any 0.2.x match it).
const TCP_CREATE_SOCKET: &str = "wasi:sockets/tcp-create-socket@0.2.12";
const UDP_CREATE_SOCKET: &str = "wasi:sockets/udp-create-socket@0.2.12";

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
        match (&verdict, usage) {
            (Err(reason), _) => State::refuse(&state, reason.clone()),
            (Ok(()), SocketAddrUse::TcpConnect) => State::contacted(&state, format!("tcp://{addr}")),
            (Ok(()), SocketAddrUse::UdpSend) => State::contacted(&state, format!("udp://{addr}")),
            (Ok(()), _) => {}
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

/// Puts the call's descriptor budget in front of wasmtime-wasi's
/// `create-tcp-socket` and `create-udp-socket`: a socket is a host
/// descriptor from the moment it is created, before any address check.
pub(crate) fn add_create_guard(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(TCP_CREATE_SOCKET)?.func_wrap(
        "create-tcp-socket",
        |mut store, (family,): (IpAddressFamily,)| {
            let state = store.data_mut();
            state.descriptors.admit(&state.table)?;
            let created = tcp_create_socket::Host::create_tcp_socket(&mut state.sockets(), family);
            admitted(state, created, Kind::Tcp)
        },
    )?;
    linker.instance(UDP_CREATE_SOCKET)?.func_wrap_async(
        "create-udp-socket",
        |mut store, (family,): (IpAddressFamily,)| {
            Box::new(async move {
                let state = store.data_mut();
                state.descriptors.admit(&state.table)?;
                let created = udp_create_socket::Host::create_udp_socket(&mut state.sockets(), family).await;
                admitted(state, created, Kind::Udp)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Counts a created socket against the budget, and turns wasmtime-wasi's
/// result into the guest's error code or a trap.
fn admitted<T: 'static>(
    state: &mut HostState,
    created: Result<Resource<T>, SocketError>,
    kind: Kind,
) -> wasmtime::Result<(Result<Resource<T>, ErrorCode>,)> {
    match created {
        Ok(socket) => {
            state.descriptors.opened(socket.rep(), kind);
            Ok((Ok(socket),))
        }
        Err(error) => Ok((Err(error.downcast()?),)),
    }
}
