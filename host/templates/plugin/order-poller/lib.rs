//! An order poller: every `interval_ms` the gateway calls `poll`, and each
//! order notification it returns goes to its own user (`userId`).
//!
//! This one polls an HTTP service: `GET {url}/orders` on the very first
//! poll, then `GET {url}/orders?since=CURSOR`, answered with
//! `{"cursor": "…", "orders": [{"orderId", "type", "symbol", "userId",
//! "timestamp", …}]}`. Without `url` it is idle (empty batches).
//!
//! It neither skips nor repeats across reloads and restarts: the cursor and
//! the keys of the orders delivered last are one kv checkpoint, stored at
//! the start of the next poll (once the gateway has accepted this batch;
//! see `gateway_sdk::cursor`).
//!
//! Config (in the manifest's `[config]`):
//! - `url`: the service's base URL; its host must be in `allowed_hosts`.
//! - `interval_ms`: the poll interval, 10 ms and up (default 1000).

use gateway_sdk::cursor::Checkpoint;
use gateway_sdk::fields::{self, Drops};
use gateway_sdk::{OrderBatch, OrderPoller, PluginInfo, PollerInfo, config, records, upstream};

const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 10;
/// kv key of the checkpoint.
const CHECKPOINT_KEY: &str = "checkpoint";
/// How many delivered order keys are remembered.
const DELIVERED_CAPACITY: usize = 1000;

/// The plugin's state, kept between polls.
pub struct Poller {
    /// The service's base URL; none: idle.
    base: Option<String>,
    checkpoint: Checkpoint,
}

fn interval_ms() -> Result<u32, String> {
    config::get_at_least("interval_ms", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
}

impl Poller {
    /// One request to `base`: the orders not delivered before.
    fn fetch(&mut self, base: &str) -> Result<OrderBatch, String> {
        self.checkpoint.settle()?;
        let url = match self.checkpoint.cursor() {
            None => format!("{base}/orders"),
            Some(c) => format!("{base}/orders?since={}", upstream::encode(c)),
        };
        let answer = upstream::get_json(&url)?;
        let answer = fields::object(&answer)?;
        let cursor = fields::cursor(answer)?;
        let items = fields::array(answer, "orders")?;
        let mut drops = Drops::default();
        let mut next = self.checkpoint.draft();
        let orders: Vec<_> = items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| drops.keep(|| format!("orders[{i}]"), records::order(v)))
            .filter(|o| next.deliver(format!("{}|{}|{}", o.kind, o.order_id, o.timestamp)))
            .collect();
        drops.warn(items.len(), "the order service");
        next.advance(cursor);
        self.checkpoint.reach(next);
        Ok(OrderBatch {
            orders,
            positions: Vec::new(),
        })
    }
}

impl OrderPoller for Poller {
    fn describe() -> PollerInfo {
        PollerInfo {
            plugin: PluginInfo::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                "An example order poller: orders from an HTTP service, by cursor",
            ),
            interval_ms: interval_ms().unwrap_or(DEFAULT_INTERVAL_MS),
        }
    }

    fn init() -> Result<Self, String> {
        interval_ms()?;
        let base = match config::get("url").filter(|u| !u.trim().is_empty()) {
            Some(url) => Some(upstream::http_url("url", url.trim().trim_end_matches('/'))?),
            None => None,
        };
        Ok(Self {
            base,
            checkpoint: Checkpoint::load(CHECKPOINT_KEY, DELIVERED_CAPACITY),
        })
    }

    fn poll(&mut self) -> Result<OrderBatch, String> {
        match self.base.clone() {
            Some(base) => self.fetch(&base),
            None => Ok(OrderBatch {
                orders: Vec::new(),
                positions: Vec::new(),
            }),
        }
    }
}

gateway_sdk::export_order_poller!(Poller);

/// Native tests: the plugin's trait methods against the SDK's fake host
/// (`cargo test`, no wasm needed).
#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::testing::FakeHost;

    const ANSWER: &str = r#"{"cursor": "c1", "orders": [
        {"orderId": "o-1", "type": "ORDER_EXECUTED", "symbol": "EURUSD", "userId": "alice",
         "side": "BUY", "quantity": 1000, "price": 1.0851, "timestamp": 1700000000000},
        {"orderId": "o-2", "type": "NOT_A_TYPE", "symbol": "EURUSD", "userId": "bob",
         "timestamp": 1700000000001}
    ]}"#;

    #[test]
    fn polls_orders_and_continues_from_the_cursor() {
        let host = FakeHost::new()
            .config("url", "http://orders.test")
            .respond("http://orders.test/orders", 200, ANSWER)
            .install();
        let mut poller = Poller::init().unwrap();
        let batch = poller.poll().unwrap();
        assert_eq!(batch.orders.len(), 1, "the unknown type is dropped");
        assert_eq!(batch.orders[0].order_id, "o-1");
        assert_eq!(batch.orders[0].user_id, "alice");
        assert_eq!(host.take_requests()[0].url, "http://orders.test/orders");

        // The same order again is not delivered twice.
        let again = poller.poll().unwrap();
        assert!(again.orders.is_empty());
        assert_eq!(
            host.take_requests()[0].url,
            "http://orders.test/orders?since=c1"
        );
    }

    #[test]
    fn without_url_it_is_idle() {
        let host = FakeHost::new().install();
        let mut poller = Poller::init().unwrap();
        assert!(poller.poll().unwrap().orders.is_empty());
        assert!(host.requests().is_empty());
    }

    #[test]
    fn a_failing_service_fails_the_poll() {
        let _host = FakeHost::new()
            .config("url", "http://orders.test")
            .respond("http://orders.test/orders", 503, "down")
            .install();
        let mut poller = Poller::init().unwrap();
        assert!(poller.poll().is_err());
    }
}
