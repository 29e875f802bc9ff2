//! Per-call store data: everything one instance can touch.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::airlock::tool::network;
use crate::capability::content::ContentSink;
use crate::capability::log::LogSink;
use crate::capability::net::Egress;
use crate::capability::net::headers::HeaderBudget;
use crate::capability::progress::ProgressSink;
use crate::capability::secret::Vault;
use crate::descriptors::Descriptors;
use crate::limiter::MemoryLimiter;
use crate::redact::Redactor;
use crate::usage::MountTracker;

/// The data of one call's `Store`. Built fresh for every call from the
/// call's grants and dropped with the store.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// Host descriptors the call holds (files, sockets), against
    /// `Limits::open_files`.
    pub(crate) descriptors: Descriptors,
    /// HTTP header bytes the call has built, against
    /// `NetLimits::header_bytes`.
    pub(crate) headers: HeaderBudget,
    pub(crate) log: LogSink,
    pub(crate) progress: ProgressSink,
    pub(crate) content: ContentSink,
    pub(crate) http: WasiHttpCtx,
    pub(crate) egress: Egress,
    pub(crate) vault: Vault,
    /// The call's redactor (`None`: no secrets). Log lines go through it as
    /// they arrive, before they are cut to size.
    pub(crate) redactor: Option<Arc<Redactor>>,
    /// Which mount each descriptor belongs to, and how each was used.
    pub(crate) mounts: MountTracker,
    /// Whether the guest asked for its environment.
    pub(crate) env_read: bool,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.egress }
    }
}

impl network::Host for HostState {
    fn last_refusal(&mut self) -> Option<String> {
        self.egress.last_refusal()
    }
}
