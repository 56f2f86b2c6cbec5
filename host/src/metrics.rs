//! Prometheus metrics: connections, users, events in and out by type,
//! rejections by contract code, latency histograms (tick to emit, plugin
//! calls by plugin and export, event filtering), parked sockets, build
//! info, and per plugin its calls, errors, busy time, circuit breaker and
//! lease (read from the plugin registry and the leases at scrape time).
//!
//! Recording is a few atomic operations: histograms are observed once per
//! tick batch, plugin call or filtered event, never per socket write.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry as PromRegistry;

use crate::cluster::lease::Leases;
use crate::delivery::CutOff;
use crate::plugin::registry::Registry;
use crate::plugin::runner::is_source;
use crate::protocol::ErrorCode;

type Labels = Vec<(&'static str, String)>;

/// Bucket bounds of tick-to-emit latency, in seconds: 10 µs to 1 s (a
/// fan-out is microseconds for a few sockets, milliseconds for thousands).
const TICK_EMIT_BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Bucket bounds of plugin calls and event filtering, in seconds: 50 µs (a
/// pure computation) to 30 s (a chat responder waiting on an LLM).
const CALL_BUCKETS: [f64; 18] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Why order notifications leave the replay history (see
/// [`Metrics::history_pruned`]).
const PRUNE_REASONS: [&str; 3] = ["age", "size", "budget"];

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

/// Plugin call durations by plugin and export, and failures by plugin and
/// error code: the plugin registry records, the metrics registry reports
/// (both hold the same series).
#[derive(Clone)]
pub(crate) struct PluginCallMetrics {
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    failures: Family<Labels, Counter>,
}

impl Default for PluginCallMetrics {
    fn default() -> Self {
        Self {
            durations: Family::new_with_constructor(call_histogram),
            failures: Family::default(),
        }
    }
}

impl PluginCallMetrics {
    /// Records a call of `export` of `plugin` that took `seconds`.
    pub(crate) fn observe(&self, plugin: &str, export: &'static str, seconds: f64) {
        self.durations
            .get_or_create(&vec![
                ("plugin", plugin.to_owned()),
                ("export", export.to_owned()),
            ])
            .observe(seconds);
    }

    /// Counts a failed call of `plugin` with error `code`.
    pub(crate) fn failed(&self, plugin: &str, code: &'static str) {
        self.failures
            .get_or_create(&vec![
                ("plugin", plugin.to_owned()),
                ("code", code.to_owned()),
            ])
            .inc();
    }
}

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
    /// Symbols passed from one price source to another.
    owner_switches: Family<Labels, Counter>,
    /// Sockets parked because their send buffer was full.
    pub(crate) parked_sockets: Gauge,
    /// Seconds from a tick batch reaching fan-out to its updates queued on
    /// every subscriber's socket.
    pub(crate) tick_emit: Histogram,
    /// Seconds to filter one event through every event filter plugin.
    pub(crate) event_filter: Histogram,
}

impl Metrics {
    /// Metrics that also report the plugins of `plugins` and, in cluster
    /// mode, which of their `leases` this node holds.
    pub(crate) fn new(plugins: Arc<Registry>, leases: Option<Arc<Leases>>) -> Self {
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
        let parked_sockets = Gauge::default();
        let tick_emit = Histogram::new(TICK_EMIT_BUCKETS);
        let event_filter = call_histogram();
        let calls = plugins.call_metrics();
        // Known reasons start at zero, so that a dashboard finds the series
        // before the first event.
        for why in CutOff::ALL {
            let _ = cut_off.get_or_create(&vec![("reason", why.as_str().to_owned())]);
        }
        for reason in PRUNE_REASONS {
            let _ = history_pruned.get_or_create(&vec![("reason", reason.to_owned())]);
        }
        registry.register(
            "build",
            "The gateway's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_owned())]),
        );
        registry.register(
            "tick_emit_seconds",
            "Seconds from a tick batch reaching fan-out to its price updates queued on every subscriber's socket",
            tick_emit.clone(),
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Seconds a plugin call took (queueing included), by plugin and export",
            calls.durations,
        );
        registry.register(
            "event_filter_seconds",
            "Seconds to filter one event through every event filter plugin",
            event_filter.clone(),
        );
        registry.register(
            "parked_sockets",
            "Sockets whose send buffer was full and has not drained yet",
            parked_sockets.clone(),
        );
        registry.register(
            "plugin_failures",
            "Failed plugin calls, by plugin and error code",
            calls.failures,
        );
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
        registry.register_collector(Box::new(PluginCollector { plugins, leases }));
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
            parked_sockets,
            tick_emit,
            event_filter,
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
        debug_assert!(PRUNE_REASONS.contains(&reason), "unknown reason {reason}");
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

/// Reads plugin counters, breakers and leases on each scrape.
#[derive(Debug)]
struct PluginCollector {
    plugins: Arc<Registry>,
    leases: Option<Arc<Leases>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("plugins", &self.slots().len())
            .finish()
    }
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("held", &self.held())
            .finish()
    }
}

impl Collector for PluginCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let slots = self.plugins.slots();
        let counters: [(&str, &str, SlotValue); 3] = [
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
        for (name, help, value) in counters {
            let probe = ConstCounter::new(0.0f64);
            let mut metric = encoder.encode_descriptor(name, help, None, probe.metric_type())?;
            for slot in &slots {
                let labels = vec![("plugin", slot.name().to_owned())];
                ConstCounter::new(value(slot)).encode(metric.encode_family(&labels)?)?;
            }
        }
        let probe = ConstGauge::new(0i64);
        let mut metric = encoder.encode_descriptor(
            "plugin_circuit_open",
            "1 while a plugin's circuit breaker refuses calls, by plugin",
            None,
            probe.metric_type(),
        )?;
        for slot in &slots {
            let labels = vec![("plugin", slot.name().to_owned())];
            ConstGauge::new(i64::from(slot.circuit_open()))
                .encode(metric.encode_family(&labels)?)?;
        }
        let held = self.leases.as_ref().map(|l| l.held());
        let mut metric = encoder.encode_descriptor(
            "plugin_lease_held",
            "1 while this node holds a source plugin's lease and polls it (a gateway without a cluster holds them all), by plugin",
            None,
            probe.metric_type(),
        )?;
        for slot in &slots {
            if !slot.current().is_some_and(|v| is_source(v.kind)) {
                continue;
            }
            let holds = held
                .as_ref()
                .is_none_or(|held| held.iter().any(|n| n == slot.name()));
            let labels = vec![("plugin", slot.name().to_owned())];
            ConstGauge::new(i64::from(holds)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
