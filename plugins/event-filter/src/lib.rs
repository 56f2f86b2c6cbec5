//! The event filter: decides which subscribers receive a system event, and,
//! when the event service is configured, polls it for events.
//!
//! A subscriber receives an event when it subscribed to the event's type,
//! is one of the event's target users (if the event names any), and the
//! event is at least as severe as that user's minimum. The answer depends on
//! the event and the subscribers only: the host accepts each event id once,
//! and in cluster mode every node asks its own filter about its own sockets,
//! so the same event is asked about once per node (an earlier version
//! refused ids it had seen, kept in the kv every node shares, and so lost
//! events on the second node).
//!
//! Config:
//! - `min_severity`: `low` (default), `medium`, `high` or `critical`.
//! - `min_severity.<userId>`: the same for one user, e.g.
//!   `min_severity.alice = high`.
//! - `url`: the event service's base URL; the host sets it from
//!   `EVENT_SERVICE_URL`. Without it the plugin is no event source.
//! - `interval_ms`: poll interval of the event source, 10 ms and up
//!   (default 1000).

mod rules;
mod source;

use gateway_sdk::{Event, EventFilter, FilterInfo, PluginInfo, Subscriber, config, upstream};

use rules::Rules;
use source::EventSource;

const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 10;

/// The plugin state.
pub struct SystemEvents {
    rules: Rules,
    /// The event service poller, when `url` is set.
    source: Option<EventSource>,
}

/// Whether config `url` is set, i.e. the plugin is an event source.
fn has_url() -> bool {
    config::get("url").is_some_and(|u| !u.trim().is_empty())
}

fn interval_ms() -> Result<u32, String> {
    config::get_at_least("interval_ms", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
}

impl EventFilter for SystemEvents {
    fn describe() -> FilterInfo {
        FilterInfo {
            plugin: PluginInfo::new(
                "event-filter",
                env!("CARGO_PKG_VERSION"),
                "System events by type, target users and per-user minimum severity; polls the event service",
            ),
            poll_interval_ms: has_url().then(|| interval_ms().unwrap_or(DEFAULT_INTERVAL_MS)),
        }
    }

    fn init() -> Result<Self, String> {
        let rules = Rules::from_config()?;
        let source = if has_url() {
            interval_ms()?;
            Some(EventSource::new(upstream::base_url("EVENT_SERVICE_URL")?))
        } else {
            None
        };
        Ok(Self { rules, source })
    }

    fn filter(&mut self, event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
        subscribers
            .iter()
            .map(|s| self.rules.accepts(event, s))
            .collect()
    }

    fn poll(&mut self) -> Result<Vec<Event>, String> {
        self.source
            .as_mut()
            .map_or_else(|| Ok(Vec::new()), EventSource::poll)
    }
}

gateway_sdk::export_event_filter!(SystemEvents);

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::Severity;
    use gateway_sdk::http::HttpError;
    use gateway_sdk::kv::KvError;
    use gateway_sdk::log::Level;
    use gateway_sdk::testing::{FakeHost, HostHandle};
    use serde_json::{Value, json};
    use source::CHECKPOINT_KEY;

    const URL: &str = "http://events.test/events";

    fn event(id: &str, kind: &str, severity: Severity, targets: Option<&[&str]>) -> Event {
        Event {
            id: id.into(),
            kind: kind.into(),
            title: "Title".into(),
            message: "Message".into(),
            severity,
            timestamp: 1,
            target_user_ids: targets.map(|t| t.iter().map(|u| (*u).to_owned()).collect()),
            extra_json: None,
        }
    }

    fn sub(user: &str, types: &[&str]) -> Subscriber {
        Subscriber {
            user_id: user.into(),
            socket_id: format!("{user}-socket"),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn upstream_event(id: &str, severity: &str) -> Value {
        json!({"id": id, "type": "MARKET_HALT", "title": "Halt", "message": "EURUSD halted",
               "severity": severity, "timestamp": 10})
    }

    fn answer(cursor: Value, events: &[Value]) -> String {
        json!({"cursor": cursor, "events": events}).to_string()
    }

    fn source_host() -> FakeHost {
        FakeHost::new()
            .config("url", "http://events.test")
            .time_ms(1_700_000_000_000)
    }

    /// An answer with `cursor` that replays `e-1` and has `e-2`.
    fn replay_and_more(cursor: Value) -> String {
        answer(
            cursor,
            &[upstream_event("e-1", "low"), upstream_event("e-2", "low")],
        )
    }

    /// A stored checkpoint at `cursor`, having delivered `ids`.
    fn checkpoint(cursor: &str, ids: &[&str]) -> Vec<u8> {
        json!({"cursor": cursor, "delivered": ids})
            .to_string()
            .into_bytes()
    }

    /// The event source's checkpoint in kv.
    fn stored(host: &HostHandle) -> Value {
        serde_json::from_slice(&host.kv(CHECKPOINT_KEY).expect("a checkpoint")).unwrap()
    }

    fn urls(host: &HostHandle) -> Vec<String> {
        host.requests().into_iter().map(|r| r.url).collect()
    }

    fn ids(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn describe_polls_only_with_a_url() {
        let host = FakeHost::new().install();
        let info = SystemEvents::describe();
        assert_eq!(info.plugin.name, "event-filter");
        assert_eq!(info.plugin.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.poll_interval_ms, None);
        host.set_config("url", "http://events.test");
        assert_eq!(SystemEvents::describe().poll_interval_ms, Some(1000));
        host.set_config("interval_ms", "250");
        assert_eq!(SystemEvents::describe().poll_interval_ms, Some(250));
    }

    #[test]
    fn without_url_poll_is_empty_and_sends_nothing() {
        let host = FakeHost::new().install();
        let mut f = SystemEvents::init().unwrap();
        assert_eq!(f.poll(), Ok(vec![]));
        assert!(host.requests().is_empty());
    }

    #[test]
    fn init_refuses_bad_config() {
        let host = FakeHost::new().config("min_severity", "urgent").install();
        let err = SystemEvents::init().err().unwrap();
        assert!(err.contains("config `min_severity` = \"urgent\""), "{err}");
        host.set_config("min_severity", "HIGH");
        host.set_config("min_severity.bob", "loud");
        assert!(
            SystemEvents::init()
                .err()
                .unwrap()
                .contains("`min_severity.bob`")
        );
        host.set_config("min_severity.bob", "critical");
        host.set_config("url", "events.test");
        assert!(SystemEvents::init().err().unwrap().contains("http://"));
        host.set_config("url", "http://events.test");
        assert!(SystemEvents::init().is_ok());
    }

    #[test]
    fn delivers_only_subscribed_types() {
        let _host = FakeHost::new().install();
        let mut f = SystemEvents::init().unwrap();
        let subs = [
            sub("alice", &["MARKET_HALT"]),
            sub("bob", &["NEWS"]),
            sub("carol", &[]),
            sub("dave", &["NEWS", "MARKET_HALT"]),
        ];
        let flags = f.filter(&event("e-1", "MARKET_HALT", Severity::Low, None), &subs);
        assert_eq!(flags, [true, false, false, true]);
    }

    #[test]
    fn targeted_events_reach_their_users_only() {
        let _host = FakeHost::new().install();
        let mut f = SystemEvents::init().unwrap();
        let subs = [
            sub("alice", &["MARGIN_CALL"]),
            sub("bob", &["MARGIN_CALL"]),
            sub("alice", &["MARGIN_CALL"]),
        ];
        let ev = event("e-1", "MARGIN_CALL", Severity::Critical, Some(&["alice"]));
        assert_eq!(f.filter(&ev, &subs), [true, false, true]);
        let nobody = event("e-2", "MARGIN_CALL", Severity::Critical, Some(&[]));
        assert_eq!(f.filter(&nobody, &subs), [false, false, false]);
    }

    #[test]
    fn minimum_severity_per_user() {
        let _host = FakeHost::new()
            .config("min_severity", "medium")
            .config("min_severity.alice", "high")
            .config("min_severity.bob", "low")
            .install();
        let mut f = SystemEvents::init().unwrap();
        let subs = [
            sub("alice", &["NEWS"]),
            sub("bob", &["NEWS"]),
            sub("carol", &["NEWS"]),
        ];
        let cases = [
            (Severity::Low, [false, true, false]),
            (Severity::Medium, [false, true, true]),
            (Severity::High, [true, true, true]),
            (Severity::Critical, [true, true, true]),
        ];
        for (i, (severity, expected)) in cases.into_iter().enumerate() {
            let ev = event(&format!("e-{i}"), "NEWS", severity, None);
            assert_eq!(f.filter(&ev, &subs), expected, "{severity:?}");
        }
    }

    #[test]
    fn default_minimum_is_low() {
        let _host = FakeHost::new().install();
        let mut f = SystemEvents::init().unwrap();
        assert_eq!(
            f.filter(
                &event("e-1", "NEWS", Severity::Low, None),
                &[sub("a", &["NEWS"])]
            ),
            [true]
        );
    }

    #[test]
    fn the_same_event_asked_about_again_gets_the_same_answer() {
        // As when two cluster nodes, or a reloaded version, ask about it.
        let _host = FakeHost::new().install();
        let subs = [sub("alice", &["NEWS"]), sub("bob", &["HALT"])];
        let ev = event("e-1", "NEWS", Severity::High, None);
        let mut first = SystemEvents::init().unwrap();
        assert_eq!(first.filter(&ev, &subs), [true, false]);
        assert_eq!(first.filter(&ev, &subs), [true, false]);
        let mut second = SystemEvents::init().unwrap();
        assert_eq!(second.filter(&ev, &subs), [true, false]);
    }

    #[test]
    fn a_failed_checkpoint_write_fails_the_next_poll_and_moves_nothing() {
        let host = source_host()
            .kv(CHECKPOINT_KEY, &checkpoint("c1", &["e-1"]))
            .respond(URL, 200, &replay_and_more(json!("c2")))
            .install();
        let mut f = SystemEvents::init().unwrap();
        assert_eq!(ids(&f.poll().unwrap()), ["e-2"], "e-1 not twice");

        // The position c2 is stored at the next poll, which cannot write it.
        host.kv_fail(CHECKPOINT_KEY, KvError::Unavailable("disk full".into()));
        assert_eq!(
            f.poll().unwrap_err(),
            "cannot store kv `checkpoint`: disk full (next try in 1 s)"
        );
        host.advance_ms(1_000);
        host.kv_fail(CHECKPOINT_KEY, KvError::QuotaExceeded("64 KiB".into()));
        assert_eq!(
            f.poll().unwrap_err(),
            "cannot store kv `checkpoint`: quota exceeded (64 KiB) (next try in 2 s)"
        );
        assert_eq!(
            host.kv(CHECKPOINT_KEY).unwrap(),
            checkpoint("c1", &["e-1"]),
            "kv did not change"
        );
        assert_eq!(urls(&host).len(), 1, "no request while it cannot store");

        host.advance_ms(2_000);
        host.kv_recover(CHECKPOINT_KEY);
        assert!(f.poll().unwrap().is_empty());
        assert_eq!(
            stored(&host),
            json!({"cursor": "c2", "delivered": ["e-1", "e-2"]})
        );
        assert_eq!(
            urls(&host),
            [format!("{URL}?since=c1"), format!("{URL}?since=c2")]
        );
    }

    #[test]
    fn a_reload_polls_again_only_the_batch_the_host_may_not_have() {
        let host = source_host()
            .respond(
                URL,
                200,
                &answer(json!("c1"), &[upstream_event("e-1", "low")]),
            )
            .install();
        let mut f = SystemEvents::init().unwrap();
        assert_eq!(ids(&f.poll().unwrap()), ["e-1"]);
        drop(f);

        // Reloaded before the next poll: e-1's batch was never settled (the
        // host may not have it), so it comes again; the host drops repeats.
        let mut f = SystemEvents::init().unwrap();
        assert_eq!(ids(&f.poll().unwrap()), ["e-1"]);
        host.respond(URL, 200, &replay_and_more(json!("c2")));
        assert_eq!(ids(&f.poll().unwrap()), ["e-2"], "settles c1, then polls");
        drop(f);

        let mut f = SystemEvents::init().unwrap();
        assert_eq!(ids(&f.poll().unwrap()), ["e-2"], "from c1, without e-1");
        assert!(f.poll().unwrap().is_empty());
        assert_eq!(
            urls(&host),
            [
                URL.to_owned(),
                URL.to_owned(),
                format!("{URL}?since=c1"),
                format!("{URL}?since=c1"),
                format!("{URL}?since=c2"),
            ]
        );
        assert_eq!(stored(&host)["cursor"], "c2");
    }

    #[test]
    fn polls_the_event_service_with_the_stored_cursor() {
        let mut targeted = upstream_event("e-2", "critical");
        targeted["targetUserIds"] = json!(["alice"]);
        targeted["symbol"] = json!("EURUSD");
        let host = source_host()
            .respond(
                URL,
                200,
                &answer(json!("p/1 2"), &[upstream_event("e-1", "low"), targeted]),
            )
            .install();
        let mut f = SystemEvents::init().unwrap();
        let events = f.poll().unwrap();
        assert_eq!(ids(&events), ["e-1", "e-2"]);
        assert_eq!(events[1].severity, Severity::Critical);
        assert_eq!(events[1].target_user_ids, Some(vec!["alice".to_owned()]));
        assert_eq!(
            events[1].extra_json.as_deref(),
            Some(r#"{"symbol":"EURUSD"}"#)
        );

        host.respond(URL, 200, &answer(json!(7), &[]));
        assert!(f.poll().unwrap().is_empty());
        assert_eq!(
            stored(&host),
            json!({"cursor": "p/1 2", "delivered": ["e-1", "e-2"]}),
            "stored at the next poll"
        );
        f.poll().unwrap();
        assert_eq!(
            urls(&host),
            [
                URL.to_owned(),
                format!("{URL}?since=p%2F1%202"),
                format!("{URL}?since=7")
            ]
        );
    }

    #[test]
    fn polled_events_pass_their_own_filter() {
        let _host = source_host()
            .respond(
                URL,
                200,
                &answer(json!(1), &[upstream_event("e-1", "high")]),
            )
            .install();
        let mut f = SystemEvents::init().unwrap();
        let events = f.poll().unwrap();
        assert_eq!(
            f.filter(&events[0], &[sub("alice", &["MARKET_HALT"])]),
            [true]
        );
    }

    #[test]
    fn malformed_events_are_dropped_with_a_warning() {
        let mut bad_type = upstream_event("e-2", "low");
        bad_type["type"] = json!("market halt");
        let items = [
            upstream_event("e-1", "low"),
            bad_type,
            upstream_event("e-3", "severe"),
            json!(null),
        ];
        let host = source_host()
            .respond(URL, 200, &answer(json!(1), &items))
            .install();
        let events = SystemEvents::init().unwrap().poll().unwrap();
        assert_eq!(ids(&events), ["e-1"]);
        let warns = host.logs_at(Level::Warn);
        assert_eq!(warns.len(), 1, "{warns:?}");
        assert!(
            warns[0].contains("dropped 3 of 4 items from the event service"),
            "{}",
            warns[0]
        );
        assert!(
            warns[0].contains("events[1]: type \"market halt\""),
            "{}",
            warns[0]
        );
    }

    #[test]
    fn a_replaying_service_delivers_nothing_twice() {
        let host = source_host()
            .respond(
                URL,
                200,
                &answer(
                    json!("c1"),
                    &[upstream_event("e-1", "low"), upstream_event("e-1", "low")],
                ),
            )
            .install();
        let mut f = SystemEvents::init().unwrap();
        assert_eq!(ids(&f.poll().unwrap()), ["e-1"]);
        host.respond(
            URL,
            200,
            &answer(
                json!("c2"),
                &[upstream_event("e-1", "low"), upstream_event("e-2", "low")],
            ),
        );
        assert_eq!(ids(&f.poll().unwrap()), ["e-2"]);
        assert!(f.poll().unwrap().is_empty());
        assert_eq!(
            urls(&host),
            [
                URL.to_owned(),
                format!("{URL}?since=c1"),
                format!("{URL}?since=c2")
            ]
        );
    }

    #[test]
    fn backs_off_while_the_service_is_down_and_keeps_the_cursor() {
        let host = source_host()
            .kv(CHECKPOINT_KEY, &checkpoint("c1", &[]))
            .fail(URL, HttpError::Timeout)
            .install();
        let mut f = SystemEvents::init().unwrap();
        let err = f.poll().unwrap_err();
        assert!(
            err.contains("timed out") && err.contains("next try in 1 s"),
            "{err}"
        );
        assert_eq!(f.poll(), Ok(vec![]));
        host.advance_ms(1_000);
        host.respond(URL, 200, r#"{"cursor": "c9", "events": "none"}"#);
        assert!(
            f.poll()
                .unwrap_err()
                .contains("`events` is not an array (next try in 2 s)")
        );
        host.advance_ms(1_999);
        assert_eq!(f.poll(), Ok(vec![]));
        host.advance_ms(1);
        host.respond(
            URL,
            200,
            &answer(json!("c2"), &[upstream_event("e-1", "low")]),
        );
        assert_eq!(ids(&f.poll().unwrap()), ["e-1"]);
        assert_eq!(urls(&host), vec![format!("{URL}?since=c1"); 3]);
        assert_eq!(
            stored(&host)["cursor"],
            "c1",
            "c2 is stored at the next poll"
        );
    }
}
