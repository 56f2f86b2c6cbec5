//! Events: each is accepted once (its id recorded durably; an id accepted
//! before is dropped), then offered to the event filter plugins together
//! with the sockets that subscribed to its type (and, when it names target
//! users, are theirs), and delivered to the sockets every filter accepts. A
//! filter that fails is asked once more; if it fails again, its manifest's
//! `[failure] filter` decides: `closed` (the default) drops the event for
//! the subscribers it was asked about, `open` keeps them. In cluster mode
//! every node filters and delivers to its own sockets.

use std::sync::Arc;

use super::{Delivery, Mode, NotAccepted};
use crate::plugin::manifest::FilterFailure;
use crate::plugin::registry::Slot;
use crate::plugin::version::Subscriber;
use crate::plugin::{CallError, PluginKind};
use crate::protocol::payloads::Event;
use crate::protocol::server;

impl Delivery {
    /// Accepts events: their ids are recorded (events accepted before are
    /// dropped), then they are filtered and delivered in the background
    /// (in cluster mode: published for every node to do so).
    pub(crate) async fn accept_events(
        self: Arc<Self>,
        events: Vec<Event>,
    ) -> Result<(), NotAccepted> {
        let journal = match &self.mode {
            Mode::Cluster { uplink } => return uplink.events(events).await.map_err(NotAccepted),
            Mode::Local { journal, .. } => journal.clone(),
        };
        let (events, fresh) = tokio::task::spawn_blocking(move || {
            let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
            let fresh = journal.accept_events(&ids);
            (events, fresh)
        })
        .await
        .map_err(|e| NotAccepted(format!("accepting events stopped: {e}")))?;
        let fresh = fresh.map_err(NotAccepted)?;
        let new: Vec<Event> = events
            .into_iter()
            .zip(fresh)
            .filter_map(|(event, new)| new.then_some(event))
            .collect();
        if !new.is_empty() {
            tokio::spawn(async move {
                for event in new {
                    self.publish_event(event).await;
                }
            });
        }
        Ok(())
    }

    /// Filters `event` through the event filter plugins and delivers it to
    /// this node's subscribers.
    pub(crate) async fn publish_event(&self, event: Event) {
        let candidates = self
            .index
            .event_subscribers(&event.kind, event.target_user_ids.as_deref());
        if candidates.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        let mut keep = vec![true; candidates.len()];
        for slot in self.plugins.of_kind(PluginKind::EventFilter) {
            let idx: Vec<usize> = (0..candidates.len()).filter(|&i| keep[i]).collect();
            if idx.is_empty() {
                break;
            }
            let subscribers: Vec<Subscriber> = idx
                .iter()
                .map(|&i| {
                    let (outlet, user, types) = &candidates[i];
                    Subscriber {
                        user_id: user.clone(),
                        socket_id: outlet.sid().to_string(),
                        event_types: types.clone(),
                    }
                })
                .collect();
            match filter_with_retry(&slot, &event, subscribers).await {
                Ok(flags) => {
                    for (&i, ok) in idx.iter().zip(flags) {
                        keep[i] = ok;
                    }
                }
                Err(e) => {
                    let policy = slot
                        .current()
                        .map_or(FilterFailure::Closed, |v| v.env.failure.filter);
                    tracing::warn!(plugin = slot.name(), event = %event.id, ?policy, "event filter failed: {e}");
                    if policy == FilterFailure::Closed {
                        for &i in &idx {
                            keep[i] = false;
                        }
                    }
                }
            }
        }
        self.metrics
            .event_filter
            .observe(started.elapsed().as_secs_f64());
        let Ok(raw) = serde_json::value::to_raw_value(&event) else {
            return;
        };
        for ((outlet, _, _), _) in candidates.iter().zip(keep).filter(|(_, k)| *k) {
            self.deliver_notification(outlet, server::EVENT_NOTIFICATION, &raw);
        }
    }
}

/// Asks filter `slot` about `event`, once more if the first call failed
/// in the plugin (a trapped instance is replaced in between); not after a
/// wall-clock overrun, an open circuit or a stall, which would only wait
/// again.
async fn filter_with_retry(
    slot: &Slot,
    event: &Event,
    subscribers: Vec<Subscriber>,
) -> Result<Vec<bool>, CallError> {
    let mut last = None;
    for _ in 0..2 {
        let (ev, subs) = (event.clone(), subscribers.clone());
        match slot
            .call("filter", |v| async move { v.filter(&ev, &subs).await })
            .await
        {
            Ok(flags) => return Ok(flags),
            Err(
                e @ (CallError::CircuitOpen { .. }
                | CallError::Stalled { .. }
                | CallError::WallClock { .. }
                | CallError::Unloaded),
            ) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(CallError::Unloaded))
}
