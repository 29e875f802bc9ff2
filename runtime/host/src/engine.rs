//! The process-wide engine: configuration, epoch ticker, linker.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::artifact::ArtifactCache;
use crate::bindings::airlock::tool::{content, log, network, progress, secrets};
use crate::error::RuntimeError;
use crate::state::HostState;

/// How often the epoch ticker advances the engine's epoch. Deadlines are
/// checked at this granularity, so a runaway tool is stopped within one tick
/// of its deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Process-wide settings. Defaults suit a long-running server; the CLI uses
/// a small pool.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Most calls that may run at once (instance pool size). Default 256.
    /// A call beyond it fails with an internal error instead of allocating.
    pub max_concurrent_calls: u32,
    /// Hard ceiling on any call's memory limit, in bytes. Default 4 GiB
    /// (the wasm32 maximum). Per-call limits above it are refused.
    pub max_memory_bytes: u64,
    /// Most native stack wasm code may use, in bytes. Default 512 KiB.
    /// Runaway recursion traps with a stack-limit error.
    pub max_wasm_stack: usize,
    /// Where compiled artifacts are kept, or `None` to compile in memory on
    /// every load. Default: `None`. The directory must be writable only by
    /// the runtime's user: an artifact is native code.
    pub cache_dir: Option<PathBuf>,
    /// Do a tool's file I/O on the calling thread instead of tokio's
    /// blocking pool. Default `true`: about 4x faster for file-heavy tools
    /// (page-cache reads take microseconds). Set `false` when mounts may sit
    /// on a network filesystem: a read that hangs would then hold a runtime
    /// worker, and the call's deadline cannot fire until the read returns.
    /// Sandboxing is the same either way.
    pub blocking_file_io: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 256,
            max_memory_bytes: 4 << 30,
            max_wasm_stack: 512 << 10,
            cache_dir: None,
            blocking_file_io: true,
        }
    }
}

/// One per process: the engine, the linker and the artifact cache.
///
/// Cheap to share behind an `Arc`; [`Runtime::load`] and calls on the
/// loaded tools may run concurrently from many tasks.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) cache: ArtifactCache,
    pub(crate) config: RuntimeConfig,
    pub(crate) ticker: Arc<Ticker>,
}

impl Runtime {
    /// Creates the engine, starts the epoch ticker and opens the cache.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine =
            Engine::new(&engine_config(&config)).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::capability::fs::add_open_guard(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::capability::fs::add_usage_tracking(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::capability::env::add_read_tracking(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::capability::net::socket::add_create_guard(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::capability::net::headers::add_headers_guard(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        progress::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        content::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        network::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        secrets::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = ArtifactCache::open(config.cache_dir.clone(), &engine)?;
        let ticker = Arc::new(
            Ticker::start(&engine)
                .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?,
        );
        Ok(Self { engine, linker, cache, config, ticker })
    }

    /// The configuration this runtime was created with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }
}

fn engine_config(rc: &RuntimeConfig) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // WASIp2 only: component-model async support costs ~5 µs per call and
    // hurts multi-thread scaling (notes/wasmtime-48.md, B3).
    config.concurrency_support(false);
    config.max_wasm_stack(rc.max_wasm_stack);
    let n = rc.max_concurrent_calls.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 4)
        .total_memories(n)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(usize::try_from(rc.max_memory_bytes).unwrap_or(usize::MAX))
        .max_unused_warm_slots(n.min(64))
        // The tuning that makes the pool scale on 2 cores: reset slots with
        // memset instead of madvise, scan only dirty pages, batch decommits.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(256 << 10)
        .pagemap_scan(Enabled::Auto)
        .decommit_batch_size(64);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`]. It holds
/// only a weak reference, so it never keeps an engine alive. Shared by the
/// runtime and every tool it loaded: deadlines keep working as long as any
/// of them is alive, and the thread stops when the last one is dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine) -> std::io::Result<Self> {
        let weak = engine.weak();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new().name("airlock-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
        Ok(Self { stop, handle: Some(handle) })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
