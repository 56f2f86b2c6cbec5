//! The event source: polls the event service (`GET {url}/events`, then
//! `GET {url}/events?since=CURSOR`; answer `{ cursor, events: [Event] }`).
//!
//! Like the order poller, it stores the cursor (kv `cursor`) and the ids of
//! the last 1000 delivered events (kv `delivered`) only once a batch is
//! built, so neither a reload nor a replaying service delivers an event
//! twice, and backs off exponentially while the service fails.

use gateway_sdk::{Event, clock, kv, log};

use crate::backoff::Backoff;
use crate::fields::{self, Drops};
use crate::seen::{self, Seen};
use crate::{events, upstream};

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
    /// Where the next poll continues; none before the first answer with one.
    cursor: Option<String>,
    delivered: Seen,
    backoff: Backoff,
}

impl EventSource {
    /// A source for the service at `base`, continuing from the stored cursor.
    pub(crate) fn new(base: String) -> Self {
        Self {
            base,
            cursor: kv::get_string(CURSOR_KEY).filter(|c| !c.is_empty()),
            delivered: Seen::load(DELIVERED_KEY, DELIVERED_CAPACITY),
            backoff: Backoff::default(),
        }
    }

    /// New events, or none while backing off.
    pub(crate) fn poll(&mut self) -> Result<Vec<Event>, String> {
        let now = clock::now_ms();
        if !self.backoff.ready(now) {
            return Ok(Vec::new());
        }
        match self.fetch() {
            Ok(events) => {
                self.backoff.succeeded();
                Ok(events)
            }
            Err(e) => Err(self.backoff.failed(now, e)),
        }
    }

    /// The URL of the next request.
    fn url(&self) -> String {
        match &self.cursor {
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
            delivered.save(DELIVERED_KEY, DELIVERED_CAPACITY)?;
        }
        let cursor = cursor.or_else(|| self.cursor.clone());
        if cursor != self.cursor
            && let Some(c) = &cursor
        {
            kv::set_string(CURSOR_KEY, c).map_err(|e| seen::kv_failure(CURSOR_KEY, &e))?;
        }
        self.cursor = cursor;
        self.delivered = delivered;
        Ok(events)
    }
}
