//! Prometheus metrics: connections, users, events in and out by type,
//! rejections by code, and plugin calls, errors and busy time by plugin
//! (read from the plugin registry at scrape time).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as PromRegistry;

use crate::plugin::registry::Registry;
use crate::protocol::ErrorCode;

type Labels = Vec<(&'static str, String)>;

/// The gateway's counters and gauges.
pub(crate) struct Metrics {
    registry: PromRegistry,
    /// Open Socket.IO connections.
    pub(crate) connections: Gauge,
    /// Users with at least one connection.
    pub(crate) users: Gauge,
    events_in: Family<Labels, Counter>,
    events_out: Family<Labels, Counter>,
    rejections: Family<Labels, Counter>,
    /// `price:update` events sent (the hot path keeps its own handle).
    pub(crate) price_updates_out: Counter,
    /// Price updates held back for a congested socket (conflated).
    pub(crate) conflated: Counter,
    /// Notifications that could not be written to a socket.
    pub(crate) undelivered: Counter,
    cut_off: Family<Labels, Counter>,
    history_pruned: Family<Labels, Counter>,
    /// Order notifications kept for replay (a gateway without a cluster).
    pub(crate) history_entries: Gauge,
    owner_switches: Family<Labels, Counter>,
}

impl Metrics {
    /// Metrics that also report the plugins of `plugins`.
    pub(crate) fn new(plugins: Arc<Registry>) -> Self {
        let mut registry = PromRegistry::with_prefix("gateway");
        let connections = Gauge::default();
        let users = Gauge::default();
        let events_in = Family::<Labels, Counter>::default();
        let events_out = Family::<Labels, Counter>::default();
        let rejections = Family::<Labels, Counter>::default();
        let conflated = Counter::default();
        let price_updates_out = events_out
            .get_or_create(&vec![("event", "price:update".to_owned())])
            .clone();
        let undelivered = Counter::default();
        let cut_off = Family::<Labels, Counter>::default();
        let history_pruned = Family::<Labels, Counter>::default();
        let history_entries = Gauge::default();
        registry.register(
            "connections",
            "Open Socket.IO connections",
            connections.clone(),
        );
        registry.register("users", "Users with at least one connection", users.clone());
        registry.register(
            "events_in",
            "Client events received, by event",
            events_in.clone(),
        );
        registry.register(
            "events_out",
            "Server events sent, by event",
            events_out.clone(),
        );
        registry.register(
            "rejections",
            "Refused connections and events, by code",
            rejections.clone(),
        );
        registry.register(
            "price_updates_conflated",
            "Price updates conflated for congested sockets",
            conflated.clone(),
        );
        registry.register(
            "notifications_undelivered",
            "Notifications a socket could not take",
            undelivered.clone(),
        );
        registry.register(
            "sockets_cut_off",
            "Sockets cut off (nothing more sent, close retried), by reason",
            cut_off.clone(),
        );
        registry.register(
            "order_history_pruned",
            "Order notifications dropped from the replay history, by reason (age, size, budget)",
            history_pruned.clone(),
        );
        registry.register(
            "order_history_entries",
            "Order notifications kept for replay",
            history_entries.clone(),
        );
        let owner_switches = Family::<Labels, Counter>::default();
        registry.register(
            "price_source_switches",
            "Symbols passed from one price source to another (failover or hand-back), by symbol and reason",
            owner_switches.clone(),
        );
        registry.register_collector(Box::new(PluginCollector(plugins)));
        Self {
            registry,
            connections,
            users,
            events_in,
            events_out,
            rejections,
            price_updates_out,
            conflated,
            undelivered,
            cut_off,
            history_pruned,
            history_entries,
            owner_switches,
        }
    }

    /// Counts `symbol` passing to another price source for `reason`.
    pub(crate) fn owner_switched(&self, symbol: &str, reason: &'static str) {
        self.owner_switches
            .get_or_create(&vec![
                ("symbol", symbol.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }

    /// Counts a client event.
    pub(crate) fn event_in(&self, event: &str) {
        self.events_in
            .get_or_create(&vec![("event", event.to_owned())])
            .inc();
    }

    /// Counts `n` server events sent.
    pub(crate) fn events_out(&self, event: &str, n: u64) {
        self.events_out
            .get_or_create(&vec![("event", event.to_owned())])
            .inc_by(n);
    }

    /// Counts a rejection.
    pub(crate) fn rejected(&self, code: ErrorCode) {
        self.rejections
            .get_or_create(&vec![("code", code.as_str().to_owned())])
            .inc();
    }

    /// Counts a socket cut off for `reason`.
    pub(crate) fn cut_off(&self, reason: &'static str) {
        self.cut_off
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Counts `n` notifications pruned from the replay history for `reason`.
    pub(crate) fn history_pruned(&self, reason: &'static str, n: u64) {
        if n > 0 {
            self.history_pruned
                .get_or_create(&vec![("reason", reason.to_owned())])
                .inc_by(n);
        }
    }

    /// The text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Reads one number off a plugin's slot.
type SlotValue = fn(&crate::plugin::registry::Slot) -> f64;

/// Reads plugin counters from the registry on each scrape.
#[derive(Debug)]
struct PluginCollector(Arc<Registry>);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("plugins", &self.slots().len())
            .finish()
    }
}

impl Collector for PluginCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let slots = self.0.slots();
        let series: [(&str, &str, SlotValue); 3] = [
            ("plugin_calls", "Plugin calls, by plugin", |s| {
                s.calls() as f64
            }),
            ("plugin_errors", "Failed plugin calls, by plugin", |s| {
                s.errors() as f64
            }),
            (
                "plugin_call_seconds",
                "Time spent in plugin calls, by plugin",
                |s| s.busy().as_secs_f64(),
            ),
        ];
        for (name, help, value) in series {
            let probe = ConstCounter::new(0.0f64);
            let mut metric = encoder.encode_descriptor(name, help, None, probe.metric_type())?;
            for slot in &slots {
                let labels = vec![("plugin", slot.name().to_owned())];
                ConstCounter::new(value(slot)).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
