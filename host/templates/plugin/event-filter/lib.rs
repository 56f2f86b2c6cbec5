//! An event filter: for each system event the gateway asks `filter` which
//! of the subscribed sockets receive it (every filter loaded must agree).
//! A filter may also be a source of events (`poll` with a
//! `poll_interval_ms` in `describe`); this one is not.
//!
//! This one passes an event to a subscriber when the subscriber asked for
//! its type, is one of its target users (if it names any), and the event is
//! at least as severe as `min_severity`.
//!
//! Config (in the manifest's `[config]`; all optional):
//! - `min_severity`: `low` (default), `medium`, `high` or `critical`.

use gateway_sdk::{Event, EventFilter, FilterInfo, PluginInfo, Severity, Subscriber, config};

/// The plugin's state, kept between calls.
pub struct Filter {
    min_severity: Severity,
}

impl Filter {
    /// Whether `subscriber` receives `event`.
    fn accepts(&self, event: &Event, subscriber: &Subscriber) -> bool {
        let wanted = subscriber.event_types.contains(&event.kind);
        let addressed = event
            .target_user_ids
            .as_ref()
            .is_none_or(|users| users.contains(&subscriber.user_id));
        wanted && addressed && event.severity.rank() >= self.min_severity.rank()
    }
}

impl EventFilter for Filter {
    fn describe() -> FilterInfo {
        FilterInfo {
            plugin: PluginInfo::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                "An example event filter: by type, target users and minimum severity",
            ),
            poll_interval_ms: None,
        }
    }

    fn init() -> Result<Self, String> {
        let min_severity = match config::get("min_severity") {
            Some(s) => Severity::parse(&s).ok_or_else(|| {
                format!("min_severity must be low, medium, high or critical, got {s:?}")
            })?,
            None => Severity::Low,
        };
        Ok(Self { min_severity })
    }

    fn filter(&mut self, event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
        subscribers.iter().map(|s| self.accepts(event, s)).collect()
    }
}

gateway_sdk::export_event_filter!(Filter);

/// Native tests: the plugin's trait methods against the SDK's fake host
/// (`cargo test`, no wasm needed).
#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::testing::FakeHost;

    fn event(severity: Severity, targets: Option<&[&str]>) -> Event {
        Event {
            id: "e-1".into(),
            kind: "MARKET_HALT".into(),
            title: "Halt".into(),
            message: "EURUSD halted".into(),
            severity,
            timestamp: 1,
            target_user_ids: targets.map(|t| t.iter().map(|u| (*u).to_owned()).collect()),
            extra_json: None,
        }
    }

    fn subscriber(user: &str, types: &[&str]) -> Subscriber {
        Subscriber {
            user_id: user.into(),
            socket_id: format!("{user}-socket"),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn passes_events_by_type_target_and_severity() {
        let _host = FakeHost::new().config("min_severity", "medium").install();
        let mut filter = Filter::init().unwrap();
        let subs = [
            subscriber("alice", &["MARKET_HALT"]),
            subscriber("bob", &["MARKET_HALT"]),
            subscriber("carol", &["NEWS"]),
        ];
        let all = filter.filter(&event(Severity::High, None), &subs);
        assert_eq!(all, [true, true, false]);
        let targeted = filter.filter(&event(Severity::High, Some(&["bob"])), &subs);
        assert_eq!(targeted, [false, true, false]);
        let minor = filter.filter(&event(Severity::Low, None), &subs);
        assert_eq!(minor, [false, false, false]);
    }

    #[test]
    fn refuses_an_unknown_severity() {
        let _host = FakeHost::new().config("min_severity", "loud").install();
        assert!(Filter::init().is_err());
    }
}
