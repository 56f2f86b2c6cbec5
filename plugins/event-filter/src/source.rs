//! The event source: polls the event service (`GET {url}/events`, then
//! `GET {url}/events?since=CURSOR`; answer `{ cursor, events: [Event] }`).
//!
//! Like the order poller, it stores the cursor (kv `cursor`) and the ids of
//! the last 1000 delivered events (kv `delivered`) only once a batch is
//! built, so neither a reload nor a replaying service delivers an event
//! twice, and backs off exponentially while the service fails.

use gateway_sdk::backoff::Backoff;
use gateway_sdk::cursor::{Cursor, RecentKeys};
use gateway_sdk::fields::{self, Drops};
use gateway_sdk::{Event, log, upstream};

use crate::events;

/// kv key of the upstream cursor.
const CURSOR_KEY: &str = "cursor";
/// kv key of the recently delivered event ids.
const DELIVERED_KEY: &str = "delivered";
/// How many delivered event ids are remembered.
const DELIVERED_CAPACITY: usize = 1000;

/// The poller's state.
#[derive(Debug)]
pub(crate) struct EventSource {
    /// The service's base URL.
    base: String,
    /// Where the next poll continues.
    cursor: Cursor,
    delivered: RecentKeys,
    backoff: Backoff,
}

impl EventSource {
    /// A source for the service at `base`, continuing from the stored cursor.
    pub(crate) fn new(base: String) -> Self {
        Self {
            base,
            cursor: Cursor::load(CURSOR_KEY),
            delivered: RecentKeys::load(DELIVERED_KEY, DELIVERED_CAPACITY),
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
        match self.cursor.get() {
            None => format!("{}/events", self.base),
            Some(c) => format!("{}/events?since={}", self.base, upstream::encode(c)),
        }
    }

    /// One request: the new, valid events of the answer. The cursor and the
    /// delivered ids change (in memory and in kv) only when it succeeds.
    fn fetch(&mut self) -> Result<Vec<Event>, String> {
        let url = self.url();
        let answer = upstream::get_json(&url)?;
        let invalid = |e: String| format!("GET {url}: invalid answer: {e}");
        let answer = fields::object(&answer).map_err(invalid)?;
        let cursor = fields::cursor(answer).map_err(invalid)?;
        let raw = fields::array(answer, "events").map_err(invalid)?;

        let mut drops = Drops::default();
        let mut delivered = self.delivered.clone();
        let mut repeated = 0;
        let events: Vec<Event> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, v)| drops.keep(|| format!("events[{i}]"), events::event(v)))
            .filter(|e| {
                let new = delivered.insert(e.id.clone());
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

        if !events.is_empty() {
            delivered.save(DELIVERED_CAPACITY)?;
        }
        self.cursor.advance(cursor)?;
        self.delivered = delivered;
        Ok(events)
    }
}
