//! Plugin platform benchmark: compile time with and without the cache,
//! instantiate time, per-call overhead of each plugin kind (raw guest call
//! and through the async worker hop), event filter cost per subscriber, and
//! hot reload time (file written -> new version serving, cache warm).
//!
//! Run: `cargo bench -p gateway-tests --bench plugin_platform`. Prints a
//! table and one JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::plugin::engine::PluginEngine;
use gateway::plugin::env::{HostServices, PluginEnv};
use gateway::plugin::instance::Live;
use gateway::plugin::kind::PluginKind;
use gateway::plugin::kv_store::KvStore;
use gateway::plugin::manifest::{Limits, Manifest};
use gateway::plugin::version::Subscriber;
use gateway::plugin::watch;
use gateway::plugin::world::{Exports, Linkers, Pre};
use gateway::price_cache::PriceCache;
use gateway::protocol::payloads::{Event, Severity, Tick};
use gateway_tests::{Platform, SWAP_A, SWAP_B, guest};
use serde_json::json;

fn services(market: Arc<PriceCache>) -> HostServices {
    HostServices {
        kv: Arc::new(KvStore::in_memory()),
        market,
        http: reqwest::Client::new(),
        runtime: tokio::runtime::Handle::current(),
        default_limits: Limits::default(),
    }
}

fn embedded(name: &str) -> &'static [u8] {
    gateway::embedded::EMBEDDED_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
}

fn per_op(total: Duration, n: u32) -> f64 {
    total.as_secs_f64() * 1e9 / f64::from(n)
}

struct Row {
    what: String,
    value: f64,
    unit: &'static str,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |what: &str, value: f64, unit: &'static str| {
        println!("{what:<58} {value:>12.3} {unit}");
        rows.push(Row {
            what: what.into(),
            value,
            unit,
        });
    };
    let cache = tempfile::tempdir().unwrap();
    let engine = Arc::new(PluginEngine::new(Some(cache.path().to_owned()), 64 << 20).unwrap());
    let market = Arc::new(PriceCache::new(60));
    let now = gateway::time::now_ms();
    for i in 0..600u64 {
        market.record(&Tick {
            symbol: "EURUSD".into(),
            bid: 1.08 + i as f64 * 1e-5,
            ask: 1.0801 + i as f64 * 1e-5,
            timestamp: now - 600_000 + i * 1000,
        });
    }
    let linkers = Linkers::new(engine.engine()).unwrap();
    let svc = services(market.clone());
    println!("pooling allocator: {}", engine.pooling());

    for name in [
        "sim-prices",
        "order-poller",
        "chat-assistant",
        "event-filter",
        "http-prices",
    ] {
        let wasm = embedded(name);
        row(
            &format!("{name}: wasm size"),
            wasm.len() as f64 / 1024.0,
            "KiB",
        );
        let t = Instant::now();
        let component = engine.compile(wasm).unwrap();
        row(
            &format!("{name}: compile, cache cold"),
            t.elapsed().as_secs_f64() * 1e3,
            "ms",
        );
        let t = Instant::now();
        let _ = engine.compile(wasm).unwrap();
        row(
            &format!("{name}: load, cache warm"),
            t.elapsed().as_secs_f64() * 1e3,
            "ms",
        );
        let kind = PluginKind::detect(&component, engine.engine()).unwrap();
        let pre = Pre::new(kind, &component, &linkers).unwrap();
        let mut manifest = Manifest::default();
        manifest.config.insert(
            "url".into(),
            gateway::plugin::manifest::ConfigValue::String("http://127.0.0.1:9".into()),
        );
        let env = Arc::new(PluginEnv::new(name, &manifest, &svc));
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            drop(Live::start(engine.engine(), &pre, &env).unwrap());
        }
        row(
            &format!("{name}: instantiate + init"),
            per_op(t.elapsed(), n) / 1e3,
            "µs",
        );
    }

    // Per-call overhead: a price poll, raw on this thread.
    let pre = |name: &str| {
        let c = engine.compile(embedded(name)).unwrap();
        let kind = PluginKind::detect(&c, engine.engine()).unwrap();
        Pre::new(kind, &c, &linkers).unwrap()
    };
    let mut sim_manifest = Manifest::default();
    for (k, v) in [("symbols", "EURUSD"), ("seed", "1")] {
        sim_manifest.config.insert(
            k.into(),
            gateway::plugin::manifest::ConfigValue::String(v.into()),
        );
    }
    let sim_env = Arc::new(PluginEnv::new("sim-prices", &sim_manifest, &svc));
    let mut live = Live::start(engine.engine(), &pre("sim-prices"), &sim_env).unwrap();
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        live.call(|store, ex| match ex {
            Exports::PriceSource(p) => p.gateway_plugins_price_source().call_poll(store),
            _ => unreachable!(),
        })
        .unwrap()
        .unwrap();
    }
    row(
        "price poll (1 symbol), raw guest call",
        per_op(t.elapsed(), n),
        "ns",
    );

    // The same poll through the platform: registry slot -> worker thread -> oneshot.
    let p = Platform::with_defaults(vec![gateway_tests::default_plugin(
        "sim-prices",
        sim_manifest.clone(),
    )]);
    p.host.load_all().await;
    let slot = p.host.registry().get("sim-prices").unwrap();
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        slot.call("poll", |v| async move { v.poll_prices().await })
            .await
            .unwrap();
    }
    row(
        "price poll (1 symbol), async call via worker",
        per_op(t.elapsed(), n) / 1e3,
        "µs",
    );

    // Event filter cost per subscriber.
    let filter_env = Arc::new(PluginEnv::new("event-filter", &Manifest::default(), &svc));
    let mut filter = Live::start(engine.engine(), &pre("event-filter"), &filter_env).unwrap();
    for subs in [1usize, 100, 1000] {
        let subscribers: Vec<Subscriber> = (0..subs)
            .map(|i| Subscriber {
                user_id: format!("u{i}"),
                socket_id: format!("s{i}"),
                event_types: vec!["MARKET_HALT".into()],
            })
            .collect();
        let wit_subs: Vec<_> = subscribers
            .iter()
            .map(Into::into)
            .collect::<Vec<gateway::plugin::bindings::types::Subscriber>>();
        let n = if subs >= 1000 { 200 } else { 2000 };
        let t = Instant::now();
        for i in 0..n {
            let ev = Event {
                id: format!("e{subs}-{i}"),
                kind: "MARKET_HALT".into(),
                title: "t".into(),
                message: "m".into(),
                severity: Severity::High,
                timestamp: now,
                target_user_ids: None,
                extra: Default::default(),
            };
            let ev: gateway::plugin::bindings::types::Event = (&ev).into();
            filter
                .call(|store, ex| match ex {
                    Exports::EventFilter(p) => p
                        .gateway_plugins_event_filter()
                        .call_filter(store, &ev, &wit_subs),
                    _ => unreachable!(),
                })
                .unwrap();
        }
        row(
            &format!("event filter, {subs} subscribers: per subscriber"),
            per_op(t.elapsed(), n) / subs as f64,
            "ns",
        );
    }

    // Chat: one answer.
    let chat_env = Arc::new(PluginEnv::new("chat-assistant", &Manifest::default(), &svc));
    let mut chat = Live::start(engine.engine(), &pre("chat-assistant"), &chat_env).unwrap();
    let n = 500;
    let t = Instant::now();
    for i in 0..n {
        let req = gateway::plugin::bindings::types::ChatRequest {
            id: format!("r{i}"),
            user_id: "u".into(),
            message: "what is the trend of EURUSD?".into(),
            current_symbol: None,
        };
        chat.call(|store, ex| match ex {
            Exports::ChatResponder(p) => {
                p.gateway_plugins_chat_responder().call_respond(store, &req)
            }
            _ => unreachable!(),
        })
        .unwrap()
        .unwrap();
    }
    row(
        "chat answer (trend, 600-point history), raw guest call",
        per_op(t.elapsed(), n) / 1e3,
        "µs",
    );

    // Hot reload: file written -> new version serving (compile cache warm).
    let p = Platform::new();
    let _watch = watch::watch(p.host.clone(), &p.dir()).unwrap();
    let (a, b) = (guest(SWAP_A), guest(SWAP_B));
    p.publish("swap", &a, None);
    p.host.sync("swap").await;
    p.publish("swap", &b, None);
    p.host.sync("swap").await;
    let mut samples = Vec::new();
    for round in 0..10 {
        let (bytes, version) = if round % 2 == 0 {
            (&a, "1.0.0")
        } else {
            (&b, "2.0.0")
        };
        let t = Instant::now();
        p.publish("swap", bytes, None);
        loop {
            let v = p
                .host
                .registry()
                .get("swap")
                .and_then(|s| s.current())
                .map(|v| v.description.version.clone());
            if v.as_deref() == Some(version) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    row(
        "hot reload, file written -> new version serving (median)",
        samples[samples.len() / 2],
        "ms",
    );
    row("hot reload (max of 10)", samples[samples.len() - 1], "ms");
    row(
        "  of which settle delay (watch::SETTLE)",
        watch::SETTLE.as_secs_f64() * 1e3,
        "ms",
    );

    let json: Vec<_> = rows.iter().map(|r| json!({ "what": r.what, "value": (r.value * 1000.0).round() / 1000.0, "unit": r.unit })).collect();
    println!(
        "{}",
        json!({ "bench": "plugin_platform", "profile": if cfg!(debug_assertions) { "debug" } else { "release" }, "results": json })
    );
}
