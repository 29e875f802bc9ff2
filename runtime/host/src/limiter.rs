//! Memory limit enforcement that remembers it said no.

use wasmtime::ResourceLimiter;

/// Caps linear memory growth and records whether a growth was refused, so
/// a trap that follows (a Rust guest aborts when allocation fails) can be
/// reported as "memory limit exceeded" rather than as a generic trap.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    pub(crate) refused: bool,
}

/// Instances, tables and memories one call may create. Generous for any
/// component wit-bindgen or componentize-* produce; bounded so a component
/// cannot exhaust the pool on its own.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self { max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX), refused: false }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The pool's own ceiling refused it: the same thing for the caller.
        self.refused = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
