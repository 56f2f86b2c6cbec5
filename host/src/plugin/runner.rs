//! Drives source plugins: one task per price source, order poller and
//! polling event filter calls `poll` at the interval the plugin described
//! and hands the values to the gateway's sink. The task always uses the
//! slot's current version, so a hot swap changes what it calls without a
//! restart, and it ends when the plugin is unloaded. An open circuit
//! pauses it for the breaker's pause.
//!
//! Order notifications and events are handed over to be *accepted*
//! (sequenced or recorded durably) before the next poll: a poller that
//! stores its position at the start of its next poll (the SDK's
//! `Checkpoint` does) therefore never moves past what was not accepted.
//! When a batch is not accepted, the plugin's instances are renewed, so the
//! plugin forgets the position it reached and polls from its stored one
//! again; what was accepted before is not delivered twice.
//!
//! A price source whose circuit opens is reported as silenced, so the
//! symbols it owns pass to a backup source at once (see [`super::owners`]).
//!
//! In cluster mode a runner polls only while its node holds the plugin's
//! lease; when it gains the lease it renews the plugin's instances, so the
//! plugin starts from the checkpoint in the shared kv store.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::error::CallError;
use super::kind::PluginKind;
use super::owners::Claim;
use super::registry::Slot;
use crate::cluster::lease::{LeaseGuard, Leases};
use crate::protocol::payloads::{Event, OrderBatch, Tick};

/// Why a batch was not accepted; it is polled again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAccepted(pub String);

/// Where source plugins' values go.
pub trait SourceSink: Send + Sync + 'static {
    /// New ticks from price source `plugin`.
    fn ticks(&self, plugin: &str, ticks: Vec<Tick>);
    /// Price source `plugin` was loaded or replaced and claims `claim`.
    fn claimed(&self, plugin: &str, claim: Claim);
    /// Price source `plugin` was unloaded.
    fn released(&self, plugin: &str);
    /// Price source `plugin` produces nothing for a while: its circuit is open.
    fn silenced(&self, plugin: &str);
    /// New order notifications and position updates; resolves once they
    /// are accepted (sequenced durably).
    fn orders(
        &self,
        plugin: &str,
        batch: OrderBatch,
    ) -> BoxFuture<'static, Result<(), NotAccepted>>;
    /// New events from an event source; resolves once they are accepted.
    fn events(
        &self,
        plugin: &str,
        events: Vec<Event>,
    ) -> BoxFuture<'static, Result<(), NotAccepted>>;
}

/// How long a runner waits after a batch was not accepted.
const RETRY_NOT_ACCEPTED: Duration = Duration::from_secs(1);

/// How often a non-polling plugin is checked for a version that polls.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Whether plugins of `kind` are driven by a runner.
pub fn is_source(kind: PluginKind) -> bool {
    kind != PluginKind::ChatResponder
}

/// Starts the runner of `slot`; with `leases`, it polls only while this
/// node holds the plugin's lease.
pub fn spawn(
    slot: Arc<Slot>,
    sink: Arc<dyn SourceSink>,
    leases: Option<Arc<Leases>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut next = Instant::now();
        let mut lease: Option<LeaseGuard> = None;
        let mut leading = false;
        while let Some(version) = slot.current() {
            let Some(interval) = version
                .description
                .interval
                .filter(|_| is_source(version.kind))
            else {
                drop(version);
                tokio::time::sleep(IDLE_CHECK).await;
                continue;
            };
            if let Some(leases) = &leases {
                let guard = lease.get_or_insert_with(|| leases.compete(slot.name()));
                if !guard.is_held() {
                    leading = false;
                    drop(version);
                    tokio::time::sleep(leases.recheck()).await;
                    next = Instant::now();
                    continue;
                }
                if !leading {
                    leading = true;
                    version.env.renew_instances();
                }
            }
            let kind = version.kind;
            drop(version);
            let pause = match poll_once(&slot, kind, sink.as_ref()).await {
                Ok(()) => None,
                Err(Failed::Call(e)) => {
                    if kind == PluginKind::PriceSource && slot.circuit_open() {
                        sink.silenced(slot.name());
                    }
                    match e {
                        CallError::CircuitOpen { retry_in } => Some(retry_in),
                        _ => None,
                    }
                }
                Err(Failed::NotAccepted(e)) => {
                    tracing::warn!(
                        plugin = slot.name(),
                        "output not accepted; polling it again: {e}"
                    );
                    if let Some(version) = slot.current() {
                        version.env.renew_instances();
                    }
                    Some(RETRY_NOT_ACCEPTED)
                }
            };
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now;
            }
            if let Some(pause) = pause {
                next = next.max(now + pause);
            }
            tokio::time::sleep_until(next).await;
        }
        tracing::debug!(plugin = slot.name(), "runner stopped: plugin unloaded");
    })
}

/// Why one poll produced nothing accepted.
enum Failed {
    /// The plugin call failed.
    Call(CallError),
    /// Its output was not accepted.
    NotAccepted(NotAccepted),
}

async fn poll_once(slot: &Slot, kind: PluginKind, sink: &dyn SourceSink) -> Result<(), Failed> {
    let name = slot.name();
    match kind {
        PluginKind::PriceSource => {
            let ticks = slot
                .call("poll", |v| async move { v.poll_prices().await })
                .await
                .map_err(Failed::Call)?;
            if !ticks.is_empty() {
                sink.ticks(name, ticks);
            }
        }
        PluginKind::OrderPoller => {
            let batch = slot
                .call("poll", |v| async move { v.poll_orders().await })
                .await
                .map_err(Failed::Call)?;
            if !batch.orders.is_empty() || !batch.positions.is_empty() {
                sink.orders(name, batch)
                    .await
                    .map_err(Failed::NotAccepted)?;
            }
        }
        PluginKind::EventFilter => {
            let events = slot
                .call("poll", |v| async move { v.poll_events().await })
                .await
                .map_err(Failed::Call)?;
            if !events.is_empty() {
                sink.events(name, events)
                    .await
                    .map_err(Failed::NotAccepted)?;
            }
        }
        PluginKind::ChatResponder => {}
    }
    Ok(())
}
