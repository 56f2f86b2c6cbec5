//! Test guest: an event filter that traps on every event. What the event
//! then becomes is the filter's `[failure] filter` policy: delivered to
//! nobody it was asked about (`closed`, the default) or to all (`open`).

use gateway_sdk::{Event, EventFilter, FilterInfo, PluginInfo, Subscriber};

/// Panics when asked.
pub struct Broken;

impl EventFilter for Broken {
    fn describe() -> FilterInfo {
        FilterInfo {
            plugin: PluginInfo::new("failing-filter", "0.1.0", "panics in filter"),
            poll_interval_ms: None,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Broken)
    }

    fn filter(&mut self, event: &Event, _subscribers: &[Subscriber]) -> Vec<bool> {
        panic!("filter of {} panics on purpose", event.id)
    }
}

gateway_sdk::export_event_filter!(Broken);
