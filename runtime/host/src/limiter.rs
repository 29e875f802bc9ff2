//! Memory limit enforcement that remembers it said no.
//!
//! The limit is one budget for the whole call: every linear memory of every
//! instance the component creates counts, summed (a component may define
//! several memories, and each growth is checked against the total, not
//! against the one memory growing), and so do table elements.

use wasmtime::ResourceLimiter;

/// Caps linear memory growth and records whether a growth was refused, so
/// a trap that follows (a Rust guest aborts when allocation fails) can be
/// reported as "memory limit exceeded" rather than as a generic trap.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    /// Bytes of linear memory the call's instances hold, all memories summed.
    memory_bytes: usize,
    /// Elements of all the call's tables, summed.
    table_elements: usize,
    pub(crate) refused: bool,
}

/// Instances, tables and memories one call may create. Generous for any
/// component wit-bindgen or componentize-* produce; bounded so a component
/// cannot exhaust the pool on its own.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;
/// Table elements of one call, all tables summed.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            memory_bytes: 0,
            table_elements: 0,
            refused: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_bytes.saturating_sub(current).saturating_add(desired);
        if total > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        self.memory_bytes = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The pool's own ceiling refused it: the same thing for the caller.
        self.refused = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.table_elements.saturating_sub(current).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_are_one_budget_however_many_there_are() {
        let mut limiter = MemoryLimiter::new(64 << 20);
        // Four memories of 16 MiB each: the budget, exactly.
        for _ in 0..4 {
            assert!(limiter.memory_growing(0, 16 << 20, None).expect("grow"));
        }
        assert!(
            !limiter.memory_growing(0, 1 << 16, None).expect("grow"),
            "a fifth memory is over the budget"
        );
        assert!(
            !limiter.memory_growing(16 << 20, (16 << 20) + (1 << 16), None).expect("grow"),
            "so is growing one"
        );
        assert!(limiter.refused);
        let mut tables = MemoryLimiter::new(64 << 20);
        assert!(tables.table_growing(0, MAX_TABLE_ELEMENTS / 2, None).expect("grow"));
        assert!(tables.table_growing(0, MAX_TABLE_ELEMENTS / 2, None).expect("grow"));
        assert!(!tables.table_growing(0, 1, None).expect("grow"), "tables are summed too");
    }
}
