//! The event source: polls the event service (`GET {url}/events`, then
//! `GET {url}/events?since=CURSOR`; answer `{ cursor, events: [Event] }`).
//!
//! Like the order poller, it stores the cursor and the ids of the last 1000
//! delivered events together, with one kv write (kv `checkpoint`), at the
//! start of the next poll (once the host has accepted the batch), so
//! neither a reload, a crash nor a replaying service delivers an event
//! twice, and a failed write skips none; it backs off exponentially while
//! the service fails.

use gateway_sdk::backoff::Backoff;
use gateway_sdk::cursor::Checkpoint;
use gateway_sdk::fields::{self, Drops};
use gateway_sdk::{Event, log, records, upstream};

/// kv key of the checkpoint: the upstream cursor and the recently delivered
/// event ids.
pub(crate) const CHECKPOINT_KEY: &str = "checkpoint";
/// How many delivered event ids are remembered.
const DELIVERED_CAPACITY: usize = 1000;

/// The poller's state.
#[derive(Debug)]
pub(crate) struct EventSource {
    /// The service's base URL.
    base: String,
    /// Where the next poll continues, and what was delivered last.
    checkpoint: Checkpoint,
    backoff: Backoff,
}

impl EventSource {
    /// A source for the service at `base`, continuing from the stored cursor.
    pub(crate) fn new(base: String) -> Self {
        Self {
            base,
            checkpoint: Checkpoint::load(CHECKPOINT_KEY, DELIVERED_CAPACITY),
            backoff: Backoff::default(),
        }
    }

    /// New events, or none while backing off.
    pub(crate) fn poll(&mut self) -> Result<Vec<Event>, String> {
        let Some(attempt) = self.backoff.attempt() else {
            return Ok(Vec::new());
        };
        let fetched = self.fetch();
        self.backoff.record(attempt, fetched)
    }

    /// The URL of the next request.
    fn url(&self) -> String {
        match self.checkpoint.cursor() {
            None => format!("{}/events", self.base),
            Some(c) => format!("{}/events?since={}", self.base, upstream::encode(c)),
        }
    }

    /// One request: the new, valid events of the answer. It first stores
    /// the position the previous poll reached, and the position moves only
    /// when the request succeeds.
    fn fetch(&mut self) -> Result<Vec<Event>, String> {
        self.checkpoint.settle()?;
        let url = self.url();
        let answer = upstream::get_json(&url)?;
        let shown = upstream::redacted_url(&url);
        let invalid = |e: String| format!("GET {shown}: invalid answer: {e}");
        let answer = fields::object(&answer).map_err(invalid)?;
        let cursor = fields::cursor(answer).map_err(invalid)?;
        let raw = fields::array(answer, "events").map_err(invalid)?;

        let mut drops = Drops::default();
        let mut next = self.checkpoint.draft();
        let mut repeated = 0;
        let events: Vec<Event> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, v)| drops.keep(|| format!("events[{i}]"), records::event(v)))
            .filter(|e| {
                let new = next.deliver(e.id.clone());
                repeated += usize::from(!new);
                new
            })
            .collect();
        drops.warn(raw.len(), "the event service");
        if repeated > 0 {
            log::debug(&format!(
                "skipped {repeated} events that were already delivered"
            ));
        }

        next.advance(cursor);
        self.checkpoint.reach(next);
        Ok(events)
    }
}
