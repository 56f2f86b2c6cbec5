//! The order poller: polls the trading service for order notifications and
//! position updates and hands them to the host, which delivers each to its
//! own user.
//!
//! Requests: `GET {url}/notifications` on the very first poll, then
//! `GET {url}/notifications?since=CURSOR`; answer
//! `{ "cursor", "orders": [OrderNotification], "positions": [PositionUpdate] }`
//! with the contract's camelCase fields. Fields beyond the record's travel
//! in `extra-json`. Items missing a required field, or orders of an unknown
//! type, are dropped with a warning.
//!
//! Nothing is delivered twice or skipped, across polls, reloads and crashes:
//! the cursor and the keys of the last 1000 delivered items are stored
//! together, with one kv write (kv `checkpoint`), at the start of the next
//! poll, once the host has accepted the batch (see the SDK's `cursor`
//! module); an item already delivered (same type, id and timestamp) is not
//! delivered again. When that write fails, the poll fails and nothing
//! moves; the next poll tries again.
//!
//! Config:
//! - `url` (required): the service's base URL; the host sets it from
//!   `TRADING_SERVICE_URL`.
//! - `interval_ms`: poll interval, 10 ms and up (default 1000).
//!
//! When the service fails (transport error, non-2xx status, invalid JSON or
//! answer), `poll` returns the error once, then skips polls with exponential
//! backoff (1 s, 2 s, 4 s … at most 30 s) until a poll succeeds.

mod items;

use gateway_sdk::backoff::Backoff;
use gateway_sdk::cursor::Checkpoint;
use gateway_sdk::fields::{self, Drops};
use gateway_sdk::{
    OrderBatch, OrderPoller, PluginInfo, PollerInfo, config, log, records, upstream,
};

const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 10;
/// kv key of the checkpoint: the upstream cursor and the recently delivered
/// item keys.
const CHECKPOINT_KEY: &str = "checkpoint";
/// How many delivered item keys are remembered.
const DELIVERED_CAPACITY: usize = 1000;

/// The plugin state.
pub struct TradingPoller {
    /// The service's base URL.
    base: String,
    /// Where the next poll continues, and what was delivered last.
    checkpoint: Checkpoint,
    backoff: Backoff,
}

fn interval_ms() -> Result<u32, String> {
    config::get_at_least("interval_ms", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
}

impl TradingPoller {
    /// The URL of the next request.
    fn url(&self) -> String {
        match self.checkpoint.cursor() {
            None => format!("{}/notifications", self.base),
            Some(c) => format!("{}/notifications?since={}", self.base, upstream::encode(c)),
        }
    }

    /// One request: the new, valid items of the answer. It first stores the
    /// position the previous poll reached, and the position moves only when
    /// the request succeeds.
    fn fetch(&mut self) -> Result<OrderBatch, String> {
        self.checkpoint.settle()?;
        let url = self.url();
        let answer = upstream::get_json(&url)?;
        let shown = upstream::redacted_url(&url);
        let invalid = |e: String| format!("GET {shown}: invalid answer: {e}");
        let answer = fields::object(&answer).map_err(invalid)?;
        let cursor = fields::cursor(answer).map_err(invalid)?;
        let raw_orders = fields::array(answer, "orders").map_err(invalid)?;
        let raw_positions = fields::array(answer, "positions").map_err(invalid)?;

        let mut drops = Drops::default();
        let mut next = self.checkpoint.draft();
        let mut repeated = 0;
        let mut fresh = |key: String| {
            let new = next.deliver(key);
            repeated += usize::from(!new);
            new
        };
        let orders: Vec<_> = raw_orders
            .iter()
            .enumerate()
            .filter_map(|(i, v)| drops.keep(|| format!("orders[{i}]"), records::order(v)))
            .filter(|o| fresh(items::order_key(o)))
            .collect();
        let positions: Vec<_> = raw_positions
            .iter()
            .enumerate()
            .filter_map(|(i, v)| drops.keep(|| format!("positions[{i}]"), records::position(v)))
            .filter(|p| fresh(items::position_key(p)))
            .collect();
        drops.warn(
            raw_orders.len() + raw_positions.len(),
            "the trading service",
        );
        if repeated > 0 {
            log::debug(&format!(
                "skipped {repeated} items that were already delivered"
            ));
        }

        next.advance(cursor);
        self.checkpoint.reach(next);
        Ok(OrderBatch { orders, positions })
    }
}

impl OrderPoller for TradingPoller {
    fn describe() -> PollerInfo {
        PollerInfo {
            plugin: PluginInfo::new(
                "order-poller",
                env!("CARGO_PKG_VERSION"),
                "Order notifications and position updates polled from the trading service",
            ),
            interval_ms: interval_ms().unwrap_or(DEFAULT_INTERVAL_MS),
        }
    }

    fn init() -> Result<Self, String> {
        let base = upstream::base_url("TRADING_SERVICE_URL")?;
        interval_ms()?;
        Ok(Self {
            base,
            checkpoint: Checkpoint::load(CHECKPOINT_KEY, DELIVERED_CAPACITY),
            backoff: Backoff::default(),
        })
    }

    fn poll(&mut self) -> Result<OrderBatch, String> {
        let Some(attempt) = self.backoff.attempt() else {
            return Ok(OrderBatch {
                orders: Vec::new(),
                positions: Vec::new(),
            });
        };
        let fetched = self.fetch();
        self.backoff.record(attempt, fetched)
    }
}

gateway_sdk::export_order_poller!(TradingPoller);

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::http::HttpError;
    use gateway_sdk::kv::KvError;
    use gateway_sdk::log::Level;
    use gateway_sdk::testing::{FakeHost, HostHandle};
    use serde_json::{Value, json};

    const BASE: &str = "http://trading.test";
    const URL: &str = "http://trading.test/notifications";

    fn order(id: &str, kind: &str, user: &str, ts: u64) -> Value {
        json!({"orderId": id, "type": kind, "symbol": "EURUSD", "userId": user, "timestamp": ts})
    }

    fn position(id: &str, user: &str, pnl: f64, ts: u64) -> Value {
        json!({"positionId": id, "symbol": "EURUSD", "userId": user, "unrealizedPnL": pnl, "timestamp": ts})
    }

    fn answer(cursor: Value, orders: &[Value], positions: &[Value]) -> String {
        json!({"cursor": cursor, "orders": orders, "positions": positions}).to_string()
    }

    /// An answer with `cursor` and one new order, `o-1` of alice.
    fn one_order(cursor: Value) -> String {
        answer(cursor, &[order("o-1", "ORDER_CREATED", "alice", 1)], &[])
    }

    /// An answer with `cursor` that replays the creation of `o-1` (see
    /// [`one_order`]) and has its execution.
    fn replay_and_fill(cursor: Value) -> String {
        let orders = [
            order("o-1", "ORDER_CREATED", "alice", 1),
            order("o-1", "ORDER_EXECUTED", "alice", 4),
        ];
        answer(cursor, &orders, &[])
    }

    fn host() -> FakeHost {
        FakeHost::new()
            .config("url", BASE)
            .time_ms(1_700_000_000_000)
    }

    /// A stored checkpoint at `cursor`, having delivered `keys`.
    fn checkpoint(cursor: &str, keys: &[&str]) -> Vec<u8> {
        json!({"cursor": cursor, "delivered": keys})
            .to_string()
            .into_bytes()
    }

    /// The checkpoint in kv.
    fn stored(host: &HostHandle) -> Value {
        serde_json::from_slice(&host.kv(CHECKPOINT_KEY).expect("a checkpoint")).unwrap()
    }

    fn urls(host: &HostHandle) -> Vec<String> {
        host.requests().into_iter().map(|r| r.url).collect()
    }

    fn ids(batch: &OrderBatch) -> Vec<String> {
        let orders = batch
            .orders
            .iter()
            .map(|o| format!("{}:{}", o.order_id, o.kind));
        let positions = batch
            .positions
            .iter()
            .map(|p| format!("{}@{}", p.position_id, p.timestamp));
        orders.chain(positions).collect()
    }

    #[test]
    fn describe_and_required_url() {
        let host = FakeHost::new().config("interval_ms", "500").install();
        let info = TradingPoller::describe();
        assert_eq!(info.plugin.name, "order-poller");
        assert_eq!(info.plugin.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.interval_ms, 500);
        let err = TradingPoller::init().err().unwrap();
        assert!(err.starts_with("config `url` is required"), "{err}");
        assert!(err.contains("TRADING_SERVICE_URL"), "{err}");
        host.set_config("url", BASE);
        host.set_config("interval_ms", "1");
        assert!(TradingPoller::init().err().unwrap().contains("at least 10"));
    }

    #[test]
    fn first_poll_has_no_cursor_then_the_stored_cursor_is_sent() {
        let host = host()
            .respond(
                URL,
                200,
                &answer(
                    json!("2024-05-01T10:00:00Z/7"),
                    &[order("o-1", "ORDER_CREATED", "alice", 1)],
                    &[position("p-1", "bob", 3.5, 2)],
                ),
            )
            .install();
        let mut p = TradingPoller::init().unwrap();
        let batch = p.poll().unwrap();
        assert_eq!(ids(&batch), ["o-1:ORDER_CREATED", "p-1@2"]);
        assert_eq!(batch.orders[0].user_id, "alice");
        assert_eq!(batch.positions[0].user_id, "bob");
        assert_eq!(batch.positions[0].unrealized_pnl, 3.5);
        assert_eq!(host.kv(CHECKPOINT_KEY), None, "stored at the next poll");

        host.respond(URL, 200, &answer(json!(42), &[], &[]));
        assert_eq!(ids(&p.poll().unwrap()), Vec::<String>::new());
        assert_eq!(
            stored(&host),
            json!({"cursor": "2024-05-01T10:00:00Z/7", "delivered": ["ORDER_CREATED|o-1|1", "POSITION|p-1|2"]})
        );
        p.poll().unwrap();
        assert_eq!(stored(&host)["cursor"], "42");
        assert_eq!(
            urls(&host),
            [
                URL.to_owned(),
                format!("{URL}?since=2024-05-01T10%3A00%3A00Z%2F7"),
                format!("{URL}?since=42"),
            ]
        );
    }

    #[test]
    fn an_answer_without_cursor_keeps_the_previous_one() {
        let host = host()
            .kv(CHECKPOINT_KEY, &checkpoint("c1", &[]))
            .respond(URL, 200, r#"{"orders": []}"#)
            .install();
        let mut p = TradingPoller::init().unwrap();
        p.poll().unwrap();
        p.poll().unwrap();
        assert_eq!(
            urls(&host),
            [format!("{URL}?since=c1"), format!("{URL}?since=c1")]
        );
        assert_eq!(host.kv(CHECKPOINT_KEY).unwrap(), checkpoint("c1", &[]));
    }

    #[test]
    fn malformed_items_are_dropped_with_a_warning() {
        let mut missing_user = order("o-3", "ORDER_CREATED", "x", 3);
        missing_user.as_object_mut().unwrap().remove("userId");
        let orders = [
            order("o-1", "ORDER_EXECUTED", "alice", 1),
            order("o-2", "ORDER_EXPLODED", "alice", 2),
            missing_user,
            json!("o-4"),
        ];
        let positions = [
            position("p-1", "bob", 1.0, 1),
            json!({"positionId": "p-2", "symbol": "EURUSD", "userId": "bob", "timestamp": 1}),
        ];
        let host = host()
            .respond(URL, 200, &answer(json!("c"), &orders, &positions))
            .install();
        let batch = TradingPoller::init().unwrap().poll().unwrap();
        assert_eq!(ids(&batch), ["o-1:ORDER_EXECUTED", "p-1@1"]);
        let warns = host.logs_at(Level::Warn);
        assert_eq!(warns.len(), 1, "{warns:?}");
        assert!(warns[0].contains("dropped 4 of 6 items"), "{}", warns[0]);
        assert!(
            warns[0].contains("orders[1]: unknown order type \"ORDER_EXPLODED\""),
            "{}",
            warns[0]
        );
    }

    #[test]
    fn extra_fields_pass_through_as_json() {
        let mut o = order("o-1", "ORDER_PARTIALLY_FILLED", "alice", 1);
        o["filledQuantity"] = json!(500);
        o["quantity"] = json!(1000);
        let _host = host()
            .respond(URL, 200, &answer(json!(1), &[o], &[]))
            .install();
        let batch = TradingPoller::init().unwrap().poll().unwrap();
        assert_eq!(batch.orders[0].quantity, Some(1000.0));
        assert_eq!(
            batch.orders[0].extra_json.as_deref(),
            Some(r#"{"filledQuantity":500}"#)
        );
    }

    #[test]
    fn replayed_items_are_not_delivered_twice() {
        let first = [
            order("o-1", "ORDER_CREATED", "alice", 1),
            order("o-1", "ORDER_CREATED", "alice", 1),
        ];
        let host = host()
            .respond(
                URL,
                200,
                &answer(json!(1), &first, &[position("p-1", "bob", 1.0, 5)]),
            )
            .install();
        let mut p = TradingPoller::init().unwrap();
        assert_eq!(
            ids(&p.poll().unwrap()),
            ["o-1:ORDER_CREATED", "p-1@5"],
            "same item twice in one answer"
        );

        // The service replays the same items with new ones: a partial fill,
        // a fill of the same order, and a newer update of the same position.
        let again = [
            order("o-1", "ORDER_CREATED", "alice", 1),
            order("o-1", "ORDER_PARTIALLY_FILLED", "alice", 2),
            order("o-1", "ORDER_PARTIALLY_FILLED", "alice", 3),
        ];
        let positions = [
            position("p-1", "bob", 1.0, 5),
            position("p-1", "bob", 2.0, 6),
        ];
        host.respond(URL, 200, &answer(json!(2), &again, &positions));
        assert_eq!(
            ids(&p.poll().unwrap()),
            [
                "o-1:ORDER_PARTIALLY_FILLED",
                "o-1:ORDER_PARTIALLY_FILLED",
                "p-1@6"
            ]
        );
        assert_eq!(ids(&p.poll().unwrap()), Vec::<String>::new());
    }

    #[test]
    fn a_reload_continues_from_the_stored_cursor_without_duplicates() {
        let host = host().respond(URL, 200, &one_order(json!("c1"))).install();
        let mut p = TradingPoller::init().unwrap();
        assert_eq!(ids(&p.poll().unwrap()), ["o-1:ORDER_CREATED"]);
        host.respond(URL, 200, &answer(json!("c1"), &[], &[]));
        assert!(p.poll().unwrap().orders.is_empty(), "settles c1");
        drop(p);

        // A new instance over the same kv; the service overlaps its answer.
        let overlap = [
            order("o-1", "ORDER_CREATED", "alice", 1),
            order("o-1", "ORDER_EXECUTED", "alice", 4),
        ];
        host.respond(URL, 200, &answer(json!("c2"), &overlap, &[]));
        let mut p = TradingPoller::init().unwrap();
        assert_eq!(ids(&p.poll().unwrap()), ["o-1:ORDER_EXECUTED"]);
        assert_eq!(
            urls(&host),
            [
                URL.to_owned(),
                format!("{URL}?since=c1"),
                format!("{URL}?since=c1")
            ]
        );
    }

    #[test]
    fn a_failed_poll_moves_neither_the_cursor_nor_the_dedup_memory() {
        let host = host()
            .kv(CHECKPOINT_KEY, &checkpoint("c1", &[]))
            .respond(
                URL,
                200,
                r#"{"cursor": "c2", "orders": [{"orderId": "o-1", "type": "ORDER_CREATED", "symbol": "EURUSD", "userId": "alice", "timestamp": 1}], "positions": {}}"#,
            )
            .install();
        let mut p = TradingPoller::init().unwrap();
        let err = p.poll().unwrap_err();
        assert!(err.contains("`positions` is not an array"), "{err}");
        assert_eq!(host.kv(CHECKPOINT_KEY).unwrap(), checkpoint("c1", &[]));

        host.advance_ms(1_000);
        host.respond(URL, 200, r#"{"cursor": {"page": 2}}"#);
        assert!(p.poll().unwrap_err().contains("`cursor` is neither"));

        host.advance_ms(2_000);
        host.respond(URL, 200, &one_order(json!("c2")));
        assert_eq!(ids(&p.poll().unwrap()), ["o-1:ORDER_CREATED"]);
        assert_eq!(urls(&host), vec![format!("{URL}?since=c1"); 3]);
        assert_eq!(host.kv(CHECKPOINT_KEY).unwrap(), checkpoint("c1", &[]));
    }

    #[test]
    fn dedup_memory_in_kv_is_bounded() {
        let orders: Vec<_> = (0..1100)
            .map(|i| order(&format!("o-{i}"), "ORDER_CREATED", "alice", 1))
            .collect();
        let host = host()
            .respond(URL, 200, &answer(json!(1), &orders, &[]))
            .install();
        let mut p = TradingPoller::init().unwrap();
        assert_eq!(p.poll().unwrap().orders.len(), 1100);
        host.respond(URL, 200, &answer(json!(2), &[], &[]));
        p.poll().unwrap();
        let delivered = stored(&host)["delivered"].as_array().unwrap().clone();
        assert_eq!(delivered.len(), DELIVERED_CAPACITY);
        assert_eq!(delivered.last().unwrap(), "ORDER_CREATED|o-1099|1");
        assert_eq!(delivered[0], "ORDER_CREATED|o-100|1");
    }

    #[test]
    fn a_failed_checkpoint_write_fails_the_next_poll_and_moves_nothing() {
        let host = host()
            .kv(CHECKPOINT_KEY, &checkpoint("c1", &["ORDER_CREATED|o-1|1"]))
            .respond(URL, 200, &replay_and_fill(json!("c2")))
            .install();
        let mut p = TradingPoller::init().unwrap();
        assert_eq!(
            ids(&p.poll().unwrap()),
            ["o-1:ORDER_EXECUTED"],
            "o-1's creation not twice"
        );
        host.kv_fail(CHECKPOINT_KEY, KvError::QuotaExceeded("64 KiB".into()));
        assert_eq!(
            p.poll().unwrap_err(),
            "cannot store kv `checkpoint`: quota exceeded (64 KiB) (next try in 1 s)"
        );
        assert_eq!(
            host.kv(CHECKPOINT_KEY).unwrap(),
            checkpoint("c1", &["ORDER_CREATED|o-1|1"]),
            "kv did not change"
        );

        host.advance_ms(1_000);
        host.kv_recover(CHECKPOINT_KEY);
        assert_eq!(ids(&p.poll().unwrap()), Vec::<String>::new());
        assert_eq!(
            urls(&host),
            [format!("{URL}?since=c1"), format!("{URL}?since=c2")],
            "no request while it could not store"
        );
        assert_eq!(
            stored(&host),
            json!({"cursor": "c2", "delivered": ["ORDER_CREATED|o-1|1", "ORDER_EXECUTED|o-1|4"]})
        );
    }

    #[test]
    fn a_reload_polls_again_only_the_batch_the_host_may_not_have() {
        let host = host().respond(URL, 200, &one_order(json!("c1"))).install();
        let mut p = TradingPoller::init().unwrap();
        assert_eq!(ids(&p.poll().unwrap()), ["o-1:ORDER_CREATED"]);
        host.respond(URL, 200, &replay_and_fill(json!("c2")));
        assert_eq!(ids(&p.poll().unwrap()), ["o-1:ORDER_EXECUTED"]);
        // Reloaded (a crash, or the host could not accept the fill) before
        // the next poll stored c2: the fill comes again, the creation not.
        drop(p);

        let mut p = TradingPoller::init().unwrap();
        assert_eq!(ids(&p.poll().unwrap()), ["o-1:ORDER_EXECUTED"]);
        assert_eq!(ids(&p.poll().unwrap()), Vec::<String>::new());
        assert_eq!(
            urls(&host),
            [
                URL.to_owned(),
                format!("{URL}?since=c1"),
                format!("{URL}?since=c1"),
                format!("{URL}?since=c2"),
            ]
        );
    }

    #[test]
    fn backs_off_while_the_service_is_down() {
        let host = host()
            .fail(URL, HttpError::Transport("connection refused".into()))
            .install();
        let mut p = TradingPoller::init().unwrap();
        let err = p.poll().unwrap_err();
        assert!(
            err.contains(
                "GET http://trading.test/notifications failed: transport error: connection refused"
            ),
            "{err}"
        );
        assert!(err.ends_with("(next try in 1 s)"), "{err}");
        assert_eq!(
            p.poll().unwrap(),
            OrderBatch {
                orders: vec![],
                positions: vec![]
            }
        );
        assert_eq!(host.requests().len(), 1);

        host.advance_ms(1_000);
        host.respond(URL, 502, "bad gateway");
        assert!(
            p.poll()
                .unwrap_err()
                .contains("HTTP 502: bad gateway (next try in 2 s)")
        );
        host.advance_ms(1_000);
        p.poll().unwrap();
        assert_eq!(host.requests().len(), 2);

        host.advance_ms(1_000);
        host.respond(URL, 200, &one_order(json!(1)));
        assert_eq!(p.poll().unwrap().orders.len(), 1);
        host.respond(URL, 200, "not json");
        let err = p.poll().unwrap_err();
        assert!(
            err.contains("invalid JSON") && err.contains("next try in 1 s"),
            "{err}"
        );
        assert_eq!(host.requests().len(), 4);
    }
}
