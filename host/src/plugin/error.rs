//! Why a plugin call or a plugin load failed.

use std::time::Duration;

use wasmtime::Trap;

use super::state::HostState;

/// A failed call into a plugin. The gateway keeps serving whatever the cause.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CallError {
    /// The call used more CPU time than its deadline; the instance was discarded.
    #[error("deadline of {deadline_ms} ms exceeded")]
    Timeout {
        /// The deadline.
        deadline_ms: u64,
    },
    /// The call ran longer than its wall-clock deadline (blocked, not
    /// computing); its instance was abandoned and replaced.
    #[error("wall-clock deadline of {wall_ms} ms exceeded; the instance was replaced")]
    WallClock {
        /// The deadline.
        wall_ms: u64,
    },
    /// So many instances got stuck that the version refuses calls until it
    /// is replaced.
    #[error("stalled: {stuck} instances stuck past their wall-clock deadline; replace the plugin")]
    Stalled {
        /// Instances stuck.
        stuck: usize,
    },
    /// The instance grew past its memory cap; it was discarded.
    #[error("memory cap of {cap_mib} MiB exceeded")]
    MemoryExceeded {
        /// The cap.
        cap_mib: u64,
    },
    /// The instance trapped (a panic, an abort, a wasm fault); it was discarded.
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin ran and returned an error of its own.
    #[error("plugin error: {0}")]
    Plugin(String),
    /// A new instance's `init` refused to start.
    #[error("init failed: {0}")]
    Init(String),
    /// Every instance is busy and the queue is full.
    #[error("plugin busy")]
    Busy,
    /// Too many failures in a row; calls resume after the pause.
    #[error("circuit open after repeated failures; retry in {} ms", retry_in.as_millis())]
    CircuitOpen {
        /// Time left in the pause.
        retry_in: Duration,
    },
    /// The plugin was unloaded or replaced while the call waited.
    #[error("plugin unloaded")]
    Unloaded,
}

impl CallError {
    /// Whether the failure counts against the plugin's circuit breaker.
    pub fn counts_as_failure(&self) -> bool {
        !matches!(
            self,
            CallError::Busy | CallError::CircuitOpen { .. } | CallError::Unloaded
        )
    }

    /// Whether the instance must be discarded (wasmtime poisons it).
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            CallError::Timeout { .. }
                | CallError::MemoryExceeded { .. }
                | CallError::Trap(_)
                | CallError::Init(_)
        )
    }

    /// A stable code for metrics and the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "timeout",
            CallError::WallClock { .. } => "wall_clock",
            CallError::Stalled { .. } => "stalled",
            CallError::MemoryExceeded { .. } => "memory",
            CallError::Trap(_) => "trap",
            CallError::Plugin(_) => "plugin",
            CallError::Init(_) => "init",
            CallError::Busy => "busy",
            CallError::CircuitOpen { .. } => "circuit_open",
            CallError::Unloaded => "unloaded",
        }
    }

    /// Classifies an error wasmtime returned from a call into `state`'s instance.
    pub(crate) fn from_wasmtime(e: &wasmtime::Error, state: &mut HostState) -> Self {
        if std::mem::take(&mut state.memory.exceeded) {
            return CallError::MemoryExceeded {
                cap_mib: state.env.limits.memory_mib,
            };
        }
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                deadline_ms: state.budget.deadline().as_millis() as u64,
            };
        }
        let mut text = match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        if let Some(panic) = state.take_stderr_tail() {
            text = format!("{text} (plugin stderr: {panic})");
        }
        if let Some((cut, _)) = text.char_indices().nth(1000) {
            text.truncate(cut);
        }
        CallError::Trap(text)
    }
}

/// Why a plugin file was not loaded. The running version, if any, stays.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// Its manifest does not parse.
    #[error("invalid manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// The parse error.
        reason: String,
    },
    /// The bytes are not a component wasmtime accepts.
    #[error("not a valid wasm component: {0}")]
    Compile(String),
    /// It exports none (or several) of the plugin worlds.
    #[error(
        "exports none of the plugin worlds (price-source, order-poller, chat-responder, event-filter); it exports: [{}]",
        .0.join(", ")
    )]
    WrongWorld(Vec<String>),
    /// Its imports cannot be satisfied for its kind, or its exports have the wrong types.
    #[error("cannot link as a {kind} plugin: {reason}")]
    Link {
        /// The kind detected from its exports.
        kind: String,
        /// What wasmtime reported.
        reason: String,
    },
    /// It failed to instantiate, `init` or `describe`.
    #[error("failed its start-up check: {0}")]
    Startup(CallError),
    /// A plugin with this name is disabled by its manifest or config.
    #[error("disabled by configuration")]
    Disabled,
}
