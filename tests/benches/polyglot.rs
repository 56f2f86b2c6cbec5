//! Plugins in other languages against their Rust counterparts: the
//! JavaScript event filter (componentize-js) against the default Rust
//! `event-filter`, the Python chat responder (componentize-py) against the
//! default Rust `chat-assistant`. For each: component size, compile with the
//! cache cold, load from the cache, instantiate + `init`, linear memory of
//! a fresh instance, and the cost of one call.
//!
//! Run: `cargo bench -p gateway-tests --bench polyglot` (builds the
//! examples with npm and componentize-py first). Prints a table and one
//! JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::plugin::bindings::types as wit;
use gateway::plugin::engine::PluginEngine;
use gateway::plugin::env::{HostServices, PluginEnv};
use gateway::plugin::instance::Live;
use gateway::plugin::kind::PluginKind;
use gateway::plugin::kv_store::KvStore;
use gateway::plugin::manifest::{Limits, Manifest};
use gateway::plugin::version::Subscriber;
use gateway::plugin::world::{Exports, Linkers, Pre};
use gateway::price_cache::PriceCache;
use gateway::protocol::payloads::{Event, Severity, Tick};
use gateway_tests::polyglot;
use serde_json::json;

/// One plugin under measurement.
struct Subject {
    label: &'static str,
    name: &'static str,
    wasm: Vec<u8>,
    manifest: Manifest,
}

fn embedded(name: &str) -> Vec<u8> {
    gateway::embedded::EMBEDDED_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
        .to_vec()
}

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text).unwrap()
}

/// Mean of `n` runs of `f`.
fn mean(n: u32, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

struct Table {
    rows: Vec<serde_json::Value>,
}

impl Table {
    fn row(&mut self, plugin: &str, what: &str, value: f64, unit: &str) {
        println!("{plugin:<22} {what:<40} {value:>12.3} {unit}");
        self.rows.push(json!({ "plugin": plugin, "what": what, "value": (value * 1000.0).round() / 1000.0, "unit": unit }));
    }
}

fn subscribers(n: usize) -> Vec<wit::Subscriber> {
    (0..n)
        .map(|i| {
            (&Subscriber {
                user_id: format!("u{i}"),
                socket_id: format!("s{i}"),
                event_types: vec!["MARKET_HALT".into()],
            })
                .into()
        })
        .collect()
}

fn event(id: String) -> wit::Event {
    (&Event {
        id,
        kind: "MARKET_HALT".into(),
        title: "EURUSD halted".into(),
        message: "Trading in EURUSD is halted".into(),
        severity: Severity::High,
        timestamp: gateway::time::now_ms(),
        target_user_ids: None,
        extra: Default::default(),
    })
        .into()
}

fn filter_call(live: &mut Live, ev: &wit::Event, subs: &[wit::Subscriber]) -> Vec<bool> {
    live.call(|store, ex| match ex {
        Exports::EventFilter(p) => p
            .gateway_plugins_event_filter()
            .call_filter(store, ev, subs),
        _ => unreachable!(),
    })
    .unwrap()
}

fn chat_call(live: &mut Live, i: u32) -> String {
    let req = wit::ChatRequest {
        id: format!("r{i}"),
        user_id: "u".into(),
        message: "what is EURUSD doing?".into(),
        current_symbol: None,
    };
    live.call(|store, ex| match ex {
        Exports::ChatResponder(p) => p.gateway_plugins_chat_responder().call_respond(store, &req),
        _ => unreachable!(),
    })
    .unwrap()
    .unwrap()
    .message
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let js = polyglot::js_event_filter();
    let py = polyglot::py_chat_responder();
    let subjects = [
        Subject {
            label: "event filter: Rust",
            name: "event-filter",
            wasm: embedded("event-filter"),
            manifest: Manifest::default(),
        },
        Subject {
            label: "event filter: JS",
            name: "js-event-filter",
            wasm: js.bytes(),
            manifest: manifest(&js.manifest_text()),
        },
        Subject {
            label: "chat: Rust",
            name: "chat-assistant",
            wasm: embedded("chat-assistant"),
            manifest: Manifest::default(),
        },
        Subject {
            label: "chat: Python",
            name: "py-chat-responder",
            wasm: py.bytes(),
            manifest: manifest(&py.manifest_text()),
        },
    ];

    let cache = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(Some(cache.path().to_owned()), 64 << 20).unwrap();
    let linkers = Linkers::new(engine.engine()).unwrap();
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
    let services = HostServices {
        kv: Arc::new(KvStore::in_memory()),
        market,
        http: reqwest::Client::new(),
        runtime: tokio::runtime::Handle::current(),
        default_limits: Limits::default(),
    };
    println!("pooling allocator: {}", engine.pooling());
    let mut table = Table { rows: Vec::new() };

    for s in &subjects {
        let env = Arc::new(PluginEnv::new(s.name, &s.manifest, &services));
        table.row(
            s.label,
            "component size",
            s.wasm.len() as f64 / 1024.0,
            "KiB",
        );
        let t = Instant::now();
        let component = engine.compile(&s.wasm).unwrap();
        table.row(
            s.label,
            "compile, cache cold",
            t.elapsed().as_secs_f64() * 1e3,
            "ms",
        );
        let cached = std::fs::read_dir(cache.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .max()
            .unwrap_or(0);
        table.row(
            s.label,
            "compiled code in the cache",
            cached as f64 / 1024.0,
            "KiB",
        );
        let warm = mean(5, || drop(engine.compile(&s.wasm).unwrap()));
        table.row(
            s.label,
            "load from the compile cache",
            warm.as_secs_f64() * 1e3,
            "ms",
        );
        for e in std::fs::read_dir(cache.path()).unwrap().flatten() {
            std::fs::remove_file(e.path()).unwrap();
        }
        let kind = PluginKind::detect(&component, engine.engine()).unwrap();
        let pre = Pre::new(kind, &component, &linkers).unwrap();
        let n = 50;
        let start = mean(n, || {
            drop(Live::start(engine.engine(), &pre, &env).unwrap())
        });
        table.row(
            s.label,
            "instantiate + init",
            start.as_secs_f64() * 1e6,
            "µs",
        );
        let mut live = Live::start(engine.engine(), &pre, &env).unwrap();
        table.row(
            s.label,
            "linear memory after init",
            live.state_mut().linear_memory_bytes() as f64 / f64::from(1 << 20),
            "MiB",
        );
        match kind {
            PluginKind::EventFilter => {
                for subs in [1usize, 100] {
                    let list = subscribers(subs);
                    let mut i = 0;
                    let call = mean(2000, || {
                        i += 1;
                        let passed = filter_call(&mut live, &event(format!("e{subs}-{i}")), &list);
                        assert!(passed.iter().all(|p| *p), "{} refused", s.label);
                    });
                    table.row(
                        s.label,
                        &format!("filter call, {subs} subscriber(s)"),
                        call.as_secs_f64() * 1e6,
                        "µs",
                    );
                }
            }
            PluginKind::ChatResponder => {
                let answer = chat_call(&mut live, 0);
                assert!(answer.contains("EURUSD"), "{}: {answer}", s.label);
                let mut i = 0;
                let call = mean(500, || {
                    i += 1;
                    chat_call(&mut live, i);
                });
                table.row(
                    s.label,
                    "chat answer (600-point history)",
                    call.as_secs_f64() * 1e6,
                    "µs",
                );
            }
            _ => unreachable!(),
        }
        table.row(
            s.label,
            "linear memory after the calls",
            live.state_mut().linear_memory_bytes() as f64 / f64::from(1 << 20),
            "MiB",
        );
    }
    println!(
        "{}",
        json!({ "bench": "polyglot", "profile": if cfg!(debug_assertions) { "debug" } else { "release" }, "results": table.rows })
    );
}
