//! One live instance of a plugin: its store, deadline enforcement and the
//! wrapper every call goes through.
//!
//! The CPU deadline uses epoch interruption: the store's deadline is set to
//! the budget in epoch ticks; when it is reached, the callback checks the
//! guest time actually used (wall time less blocking host imports) and
//! either extends the deadline or interrupts the guest.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use super::engine::EPOCH_TICK;
use super::env::PluginEnv;
use super::error::CallError;
use super::state::HostState;
use super::world::{Exports, Pre};

/// A store with an instantiated, initialised plugin.
pub struct Live {
    store: Store<HostState>,
    exports: Exports,
}

fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1
}

impl Live {
    /// Instantiates the plugin and runs its `init`, both within the deadline.
    pub fn start(engine: &Engine, pre: &Pre, env: &Arc<PluginEnv>) -> Result<Self, CallError> {
        let mut store = Store::new(engine, HostState::new(env.clone()));
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_callback(|ctx| match ctx.data().budget.remaining() {
            Some(left) => Ok(UpdateDeadline::Continue(ticks(left))),
            None => Err(Trap::Interrupt.into()),
        });
        begin(&mut store);
        let exports = match pre.instantiate(&mut store) {
            Ok(e) => e,
            Err(e) => {
                let err = CallError::from_wasmtime(&e, store.data_mut());
                return Err(match err {
                    CallError::Trap(m) => CallError::Init(m),
                    other => other,
                });
            }
        };
        let mut live = Self { store, exports };
        match live.call(|store, ex| ex.init(store))? {
            Ok(()) => Ok(live),
            Err(reason) => Err(CallError::Init(reason)),
        }
    }

    /// Runs one guest call under the deadline and memory cap.
    pub fn call<R>(
        &mut self,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        begin(&mut self.store);
        f(&mut self.store, &self.exports)
            .map_err(|e| CallError::from_wasmtime(&e, self.store.data_mut()))
    }

    /// The store's data, for per-call setup (the chat chunk sink).
    pub fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }
}

fn begin(store: &mut Store<HostState>) {
    let state = store.data_mut();
    state.budget.begin();
    state.memory.exceeded = false;
    let deadline = state.budget.deadline();
    store.set_epoch_deadline(ticks(deadline));
}
