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
//!
//! A worker stuck in a call past its wall-clock deadline (a guest blocked
//! in a WASI sleep, which epoch interruption cannot reach) is *abandoned*:
//! a replacement thread with a fresh instance takes over the queue at once,
//! and the stuck thread exits, dropping its instance, whenever its call
//! returns. At most [`MAX_STUCK`] abandoned threads of a version may be
//! alive at once; beyond that the version is *stalled*: queued and new
//! calls fail with [`CallError::Stalled`] until it is replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;
use wasmtime::Engine;

use super::env::PluginEnv;
use super::error::CallError;
use super::instance::Live;
use super::world::Pre;

/// Jobs a version may have queued before calls are refused as busy.
const QUEUE_DEPTH: usize = 256;

/// Abandoned threads of one version that may be alive at once.
pub(crate) const MAX_STUCK: usize = 4;

/// A unit of work for a worker.
pub(crate) struct Job {
    /// Told which worker took the job, before its instance is started.
    pub(crate) started: oneshot::Sender<Arc<Worker>>,
    /// Gets the live instance (or why there is none) and says whether the
    /// instance survived.
    pub(crate) run: RunOn,
}

/// The body of a [`Job`].
pub(crate) type RunOn = Box<dyn FnOnce(Result<&mut Live, CallError>) -> Verdict + Send>;

/// What a job says about the instance it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The instance is healthy.
    Keep,
    /// The instance is poisoned; drop it.
    Discard,
}

/// One worker thread, as the calls it runs see it.
#[derive(Debug, Default)]
pub(crate) struct Worker {
    abandoned: AtomicBool,
}

/// The senders to one version's workers, and what starts new ones.
pub(crate) struct WorkerPool {
    jobs: Sender<Job>,
    shared: Arc<Shared>,
}

/// What every worker of a version shares.
struct Shared {
    engine: Engine,
    pre: Pre,
    env: Arc<PluginEnv>,
    jobs: Receiver<Job>,
    /// Abandoned threads still running.
    stuck: AtomicUsize,
    stalled: AtomicBool,
}

impl WorkerPool {
    /// Starts `env.instances` workers.
    pub(crate) fn start(engine: &Engine, pre: &Pre, env: &Arc<PluginEnv>) -> Self {
        let (jobs, rx) = crossbeam_channel::bounded::<Job>(QUEUE_DEPTH);
        let shared = Arc::new(Shared {
            engine: engine.clone(),
            pre: pre.clone(),
            env: env.clone(),
            jobs: rx,
            stuck: AtomicUsize::new(0),
            stalled: AtomicBool::new(false),
        });
        for _ in 0..env.instances {
            shared.spawn_worker();
        }
        Self { jobs, shared }
    }

    /// Queues `job`; refuses when the queue is full or the version stalled.
    pub(crate) fn submit(&self, job: Job) -> Result<(), CallError> {
        if self.shared.stalled.load(Ordering::Acquire) {
            return Err(self.shared.stalled_error());
        }
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => CallError::Busy,
            TrySendError::Disconnected(_) => CallError::Unloaded,
        })
    }

    /// Runs `f` on one of the workers. Resolves with its result, or with
    /// [`CallError::WallClock`] once it has run for `wall` (the worker is
    /// then abandoned). A watcher task keeps the deadline even when the
    /// caller stops waiting.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        wall: Duration,
        f: impl FnOnce(&mut Live) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        let (started, started_rx) = oneshot::channel();
        let (tx, rx) = oneshot::channel();
        // The worker runs the call in the caller's span, so the spans of its
        // host imports are the call's children.
        let span = tracing::Span::current();
        self.submit(Job {
            started,
            run: Box::new(move |live| {
                let _in_call = span.enter();
                let result = live.and_then(f);
                let verdict = match &result {
                    Err(e) if e.poisons_instance() => Verdict::Discard,
                    _ => Verdict::Keep,
                };
                // The caller may have given up waiting; the result then has no reader.
                let _ = tx.send(result);
                verdict
            }),
        })?;
        let shared = self.shared.clone();
        let watcher = tokio::spawn(async move {
            let Ok(worker) = started_rx.await else {
                return rx.await.unwrap_or(Err(CallError::Unloaded));
            };
            match tokio::time::timeout(wall, rx).await {
                Ok(result) => result.unwrap_or(Err(CallError::Unloaded)),
                Err(_) => {
                    shared.abandon(&worker);
                    Err(CallError::WallClock {
                        wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
                    })
                }
            }
        });
        watcher.await.unwrap_or(Err(CallError::Unloaded))
    }

    /// Whether the version has stalled (see the module docs).
    pub(crate) fn is_stalled(&self) -> bool {
        self.shared.stalled.load(Ordering::Acquire)
    }
}

impl Shared {
    fn spawn_worker(self: &Arc<Self>) {
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("plugin-{}", self.env.name))
            .spawn(move || shared.work(&Arc::new(Worker::default())));
        if let Err(e) = spawned {
            tracing::error!(plugin = %self.env.name, "cannot start plugin worker: {e}");
        }
    }

    /// Gives up on `worker`, stuck in a call: a replacement takes over the
    /// queue, or, with too many threads already stuck, the version stalls.
    fn abandon(self: &Arc<Self>, worker: &Arc<Worker>) {
        if worker.abandoned.swap(true, Ordering::AcqRel) {
            return;
        }
        let stuck = self.stuck.fetch_add(1, Ordering::AcqRel) + 1;
        if stuck > MAX_STUCK {
            tracing::error!(
                plugin = %self.env.name,
                "{stuck} instances stuck past their wall-clock deadline; the plugin is stalled until it is replaced"
            );
            self.stalled.store(true, Ordering::Release);
            let err = self.stalled_error();
            while let Ok(job) = self.jobs.try_recv() {
                (job.run)(Err(err.clone()));
            }
        } else {
            tracing::warn!(
                plugin = %self.env.name,
                "instance stuck past its wall-clock deadline; replaced ({stuck} stuck)"
            );
            self.spawn_worker();
        }
    }

    fn stalled_error(&self) -> CallError {
        CallError::Stalled {
            stuck: self.stuck.load(Ordering::Acquire),
        }
    }

    /// Runs jobs until the version is dropped or this worker is abandoned.
    /// Instances start with the first job that needs one, so instantiation
    /// and `init` run under that job's wall-clock deadline.
    fn work(&self, me: &Arc<Worker>) {
        let (engine, pre, env) = (&self.engine, &self.pre, &self.env);
        let mut born = env.generation();
        let mut live: Option<Live> = None;
        loop {
            if me.abandoned.load(Ordering::Acquire) {
                self.stuck.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            let Ok(job) = self.jobs.recv() else { return };
            if self.stalled.load(Ordering::Acquire) {
                (job.run)(Err(self.stalled_error()));
                continue;
            }
            // The caller may have given up; the job still runs.
            let _ = job.started.send(me.clone());
            if born != env.generation() {
                born = env.generation();
                live = None;
            }
            if live.is_none() {
                match Live::start(engine, pre, env) {
                    Ok(l) => live = Some(l),
                    Err(e) => {
                        tracing::warn!(plugin = %env.name, "instantiating failed: {e}");
                        (job.run)(Err(e));
                        continue;
                    }
                }
            }
            if let Some(l) = live.as_mut()
                && (job.run)(Ok(l)) == Verdict::Discard
            {
                live = None;
            }
        }
    }
}
