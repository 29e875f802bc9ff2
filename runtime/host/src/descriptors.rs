//! The per-call budget of host file descriptors.
//!
//! The handle cap (`Limits::handles`) bounds how many resources a call
//! holds; most of them are host memory. Some hold a descriptor of the
//! process: a file or directory the guest opened, a socket it created.
//! Those come out of one process-wide `RLIMIT_NOFILE`, so each call gets a
//! smaller budget of its own (`Limits::open_files`), checked before every
//! `open-at`, `create-tcp-socket` and `create-udp-socket` (see
//! [`crate::capability::fs::add_open_guard`] and
//! [`crate::capability::net::socket::add_create_guard`]).
//!
//! The budget counts what is *held*: closing a file gives its descriptor
//! back. wasmtime-wasi drops a descriptor without telling us, so the budget
//! remembers the handle number of each descriptor it admitted and, when it
//! looks full, forgets the ones whose handle no longer holds a descriptor of
//! that kind. A handle number reused for another descriptor the budget
//! admitted is the same entry again, so nothing is counted twice.

use std::collections::HashMap;

use wasmtime::component::{Resource, ResourceTable};

/// What a held descriptor is, to check it is still there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A file or directory from `open-at`.
    File,
    /// A socket from `create-tcp-socket`.
    Tcp,
    /// A socket from `create-udp-socket`.
    Udp,
}

/// The call held as many descriptors as it may and asked for one more.
/// Raised as the host call's error: it ends the call with
/// `LimitExceeded::OpenFiles`.
#[derive(Debug, thiserror::Error)]
#[error("file descriptor limit of {0} reached")]
pub(crate) struct DescriptorsExhausted(pub(crate) u32);

/// One call's descriptors: the handle numbers of those it holds.
pub(crate) struct Descriptors {
    limit: u32,
    held: HashMap<u32, Kind>,
}

impl Descriptors {
    pub(crate) fn new(limit: u32) -> Self {
        Self { limit, held: HashMap::new() }
    }

    /// Whether one more descriptor fits. When the budget looks full, the
    /// ones the guest has dropped since are forgotten first.
    pub(crate) fn admit(&mut self, table: &ResourceTable) -> Result<(), DescriptorsExhausted> {
        if self.held.len() < self.limit as usize {
            return Ok(());
        }
        self.held.retain(|&rep, &mut kind| still_held(table, rep, kind));
        if self.held.len() < self.limit as usize { Ok(()) } else { Err(DescriptorsExhausted(self.limit)) }
    }

    /// Records a descriptor the guest now holds at handle `rep`.
    pub(crate) fn opened(&mut self, rep: u32, kind: Kind) {
        self.held.insert(rep, kind);
    }
}

/// Whether handle `rep` still holds a descriptor of `kind`.
fn still_held(table: &ResourceTable, rep: u32, kind: Kind) -> bool {
    use wasmtime_wasi::filesystem::Descriptor;
    use wasmtime_wasi::p2::{TcpSocket, UdpSocket};
    match kind {
        Kind::File => table.get(&Resource::<Descriptor>::new_borrow(rep)).is_ok(),
        Kind::Tcp => table.get(&Resource::<TcpSocket>::new_borrow(rep)).is_ok(),
        Kind::Udp => table.get(&Resource::<UdpSocket>::new_borrow(rep)).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_handle_gives_its_descriptor_back() {
        let mut table = ResourceTable::new();
        let mut budget = Descriptors::new(2);
        let a = table.push(0_u8).expect("push");
        let b = table.push(1_u8).expect("push");
        budget.opened(a.rep(), Kind::File);
        budget.opened(b.rep(), Kind::File);
        // Neither handle holds a descriptor: both are forgotten.
        assert!(budget.admit(&table).is_ok());
        assert!(budget.held.is_empty());
    }

    #[test]
    fn a_full_budget_refuses_with_its_limit() {
        let table = ResourceTable::new();
        let mut budget = Descriptors::new(0);
        let err = budget.admit(&table).expect_err("full");
        assert_eq!(err.to_string(), "file descriptor limit of 0 reached");
    }
}
