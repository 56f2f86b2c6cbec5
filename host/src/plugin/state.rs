//! What a plugin's wasmtime `Store` carries: the plugin's environment
//! (config, allowlist, limits, kv, market view), its WASI context, the
//! memory cap and the CPU budget of the call in progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use super::capability::chat_stream::ChunkSink;
use super::capability::stdio::StderrTail;
use super::env::PluginEnv;

/// The data of one plugin instance's store.
pub struct HostState {
    pub(crate) env: Arc<PluginEnv>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) budget: CallBudget,
    pub(crate) chunks: Option<ChunkSink>,
    stderr_tail: StderrTail,
}

impl HostState {
    /// A fresh state for a new instance of the plugin described by `env`.
    pub fn new(env: Arc<PluginEnv>) -> Self {
        let stderr_tail = StderrTail::default();
        let wasi = super::capability::stdio::wasi_ctx(&env.name, stderr_tail.clone());
        let memory = MemoryCap::new(env.limits.memory_bytes());
        let budget = CallBudget::new(env.limits.deadline());
        Self {
            env,
            wasi,
            table: ResourceTable::new(),
            memory,
            budget,
            chunks: None,
            stderr_tail,
        }
    }

    /// The last lines the plugin wrote to stderr (a panic message, usually),
    /// cleared by reading.
    pub(crate) fn take_stderr_tail(&mut self) -> Option<String> {
        let tail = std::mem::take(&mut *self.stderr_tail.lock());
        (!tail.is_empty()).then_some(tail)
    }

    /// Bytes of linear memory the instance holds, over all its memories.
    pub fn linear_memory_bytes(&self) -> usize {
        self.memory.granted
    }

    /// Runs blocking host work (an HTTP request, a disk write) so that its
    /// wall time does not count against the guest's CPU deadline.
    pub(crate) fn off_the_clock<R>(&mut self, work: impl FnOnce(&PluginEnv) -> R) -> R {
        let started = Instant::now();
        let result = work(&self.env);
        self.budget.host_time += started.elapsed();
        result
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The CPU-time budget of one guest call: wall time since the call began,
/// less the time spent in blocking host imports.
#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    deadline: Duration,
    started: Instant,
    host_time: Duration,
}

impl CallBudget {
    fn new(deadline: Duration) -> Self {
        Self {
            deadline,
            started: Instant::now(),
            host_time: Duration::ZERO,
        }
    }

    /// Starts the clock for a new call.
    pub(crate) fn begin(&mut self) {
        self.started = Instant::now();
        self.host_time = Duration::ZERO;
    }

    /// The guest time still allowed, or `None` once the deadline passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let used = self.started.elapsed().saturating_sub(self.host_time);
        self.deadline.checked_sub(used).filter(|d| !d.is_zero())
    }

    /// The call's deadline.
    pub(crate) fn deadline(&self) -> Duration {
        self.deadline
    }
}

/// Caps the linear memory of one plugin instance: all its memories
/// together (a component may have several), and how many memories, tables
/// and core instances it may create. Remembers that the memory cap was hit
/// so the failure is reported as such rather than as a generic trap.
#[derive(Debug)]
pub struct MemoryCap {
    max_bytes: usize,
    /// Bytes of linear memory granted so far, over every memory.
    granted: usize,
    pub(crate) exceeded: bool,
}

impl MemoryCap {
    fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            granted: 0,
            exceeded: false,
        }
    }
}

/// Most table elements an instance may have.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Most linear memories one instance may create.
pub(crate) const MAX_MEMORIES: usize = 4;

/// Most tables one instance may create.
pub(crate) const MAX_TABLES: usize = 16;

/// Most core instances one instance may create (a component links several
/// modules; interpreters bundled as components bring dozens).
pub(crate) const MAX_CORE_INSTANCES: usize = 64;

impl ResourceLimiter for MemoryCap {
    /// Called when a memory is created (from 0) and when it grows.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.granted.saturating_add(desired.saturating_sub(current));
        if total > self.max_bytes {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "memory cap of {} MiB exceeded (wanted {} MiB over all memories)",
                self.max_bytes >> 20,
                total >> 20
            ));
        }
        self.granted = total;
        Ok(true)
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
        MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_every_memory_of_the_instance() {
        let mut cap = MemoryCap::new(16 << 20);
        for _ in 0..3 {
            assert!(cap.memory_growing(0, 5 << 20, None).unwrap());
        }
        assert!(cap.memory_growing(0, 5 << 20, None).is_err());
        assert!(cap.exceeded);
        let mut cap = MemoryCap::new(16 << 20);
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(cap.memory_growing(1 << 20, 16 << 20, None).unwrap());
        assert!(
            cap.memory_growing(16 << 20, (16 << 20) + 65536, None)
                .is_err()
        );
    }
}
