//! The threads that run a plugin version's calls.
//!
//! Each version gets `instances` worker threads, each owning one store and
//! instance; jobs arrive over a bounded channel. Plugin code therefore never
//! runs on the tokio runtime, and blocking host imports only block their own
//! worker. A call that poisons its instance (trap, timeout, memory cap)
//! drops it; the next job instantiates a fresh one, as it does after
//! [`PluginEnv::renew_instances`]. When the version is
//! replaced or unloaded its sender is dropped: queued jobs still run, then
//! the threads exit.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use wasmtime::Engine;

use super::env::PluginEnv;
use super::error::CallError;
use super::instance::Live;
use super::world::Pre;

/// Jobs a version may have queued before calls are refused as busy.
const QUEUE_DEPTH: usize = 256;

/// A unit of work for a worker: gets the live instance (or why there is
/// none) and says whether the instance survived.
pub(crate) type Job = Box<dyn FnOnce(Result<&mut Live, CallError>) -> Verdict + Send>;

/// What a job says about the instance it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The instance is healthy.
    Keep,
    /// The instance is poisoned; drop it.
    Discard,
}

/// The senders to one version's workers.
pub(crate) struct WorkerPool {
    jobs: Sender<Job>,
}

impl WorkerPool {
    /// Starts `env.instances` workers; each instantiates eagerly.
    pub(crate) fn start(engine: &Engine, pre: &Pre, env: &Arc<PluginEnv>) -> Self {
        let (jobs, rx) = crossbeam_channel::bounded::<Job>(QUEUE_DEPTH);
        for i in 0..env.instances {
            let (engine, pre, worker_env, rx) =
                (engine.clone(), pre.clone(), env.clone(), rx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("plugin-{}-{i}", env.name))
                .spawn(move || work(&engine, &pre, &worker_env, &rx));
            if let Err(e) = spawned {
                tracing::error!(plugin = %env.name, "cannot start plugin worker: {e}");
            }
        }
        Self { jobs }
    }

    /// Queues `job`; refuses when the queue is full.
    pub(crate) fn submit(&self, job: Job) -> Result<(), CallError> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => CallError::Busy,
            TrySendError::Disconnected(_) => CallError::Unloaded,
        })
    }
}

fn work(engine: &Engine, pre: &Pre, env: &Arc<PluginEnv>, jobs: &Receiver<Job>) {
    let mut born = env.generation();
    let mut live = Live::start(engine, pre, env).ok();
    for job in jobs {
        if born != env.generation() {
            born = env.generation();
            live = None;
        }
        if live.is_none() {
            match Live::start(engine, pre, env) {
                Ok(l) => live = Some(l),
                Err(e) => {
                    tracing::warn!(plugin = %env.name, "instantiating failed: {e}");
                    job(Err(e));
                    continue;
                }
            }
        }
        if let Some(l) = live.as_mut()
            && job(Ok(l)) == Verdict::Discard
        {
            live = None;
        }
    }
}
