//! Drives source plugins: one task per price source, order poller and
//! polling event filter calls `poll` at the interval the plugin described
//! and hands the values to the gateway's sink. The task always uses the
//! slot's current version, so a hot swap changes what it calls without a
//! restart, and it ends when the plugin is unloaded. An open circuit
//! pauses it for the breaker's pause.
//!
//! In cluster mode a runner polls only while its node holds the plugin's
//! lease; when it gains the lease it renews the plugin's instances, so the
//! plugin starts from the checkpoint in the shared kv store.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::error::CallError;
use super::kind::PluginKind;
use super::registry::Slot;
use crate::cluster::lease::{LeaseGuard, Leases};
use crate::protocol::payloads::{Event, OrderBatch, Tick};

/// Where source plugins' values go.
pub trait SourceSink: Send + Sync + 'static {
    /// New ticks from price source `plugin`.
    fn ticks(&self, plugin: &str, ticks: Vec<Tick>);
    /// New order notifications and position updates.
    fn orders(&self, plugin: &str, batch: OrderBatch);
    /// New events from an event source.
    fn events(&self, plugin: &str, events: Vec<Event>);
}

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
                Err(CallError::CircuitOpen { retry_in }) => Some(retry_in),
                _ => None,
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

async fn poll_once(slot: &Slot, kind: PluginKind, sink: &dyn SourceSink) -> Result<(), CallError> {
    let name = slot.name();
    match kind {
        PluginKind::PriceSource => {
            let ticks = slot.call(|v| async move { v.poll_prices().await }).await?;
            if !ticks.is_empty() {
                sink.ticks(name, ticks);
            }
        }
        PluginKind::OrderPoller => {
            let batch = slot.call(|v| async move { v.poll_orders().await }).await?;
            if !batch.orders.is_empty() || !batch.positions.is_empty() {
                sink.orders(name, batch);
            }
        }
        PluginKind::EventFilter => {
            let events = slot.call(|v| async move { v.poll_events().await }).await?;
            if !events.is_empty() {
                sink.events(name, events);
            }
        }
        PluginKind::ChatResponder => {}
    }
    Ok(())
}
