//! Plugins in other languages, end to end: the JavaScript event filter
//! (componentize-js) and the Python chat responder (componentize-py) in
//! `examples/`, built with their own toolchains, pass `gateway plugin
//! check`, are dropped into a live gateway's plugins directory with their
//! manifests (limits included) and serve Socket.IO clients: events posted
//! to `POST /api/events` pass or are dropped as the JavaScript filter says,
//! the Python bot answers `chat:message` from the price cache. The
//! JavaScript filter is hot loaded, held to its manifest's memory cap,
//! reloaded on a manifest change and unloaded when its file goes.

use std::process::Command;
use std::time::Duration;

use gateway::protocol::payloads::Tick;
use gateway_tests::polyglot::{self, Example};
use gateway_tests::server::{TestGateway, plugin_config};
use gateway_tests::sio::{Client, Incoming};
use gateway_tests::{atomic_write, eventually};
use serde_json::{Value, json};

/// Compiling a 10-20 MB component the first time takes seconds (more on a
/// busy machine); later loads come from the compile cache.
const LOAD: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(15);

#[test]
fn both_pass_plugin_check() {
    for (example, kind) in [
        (polyglot::js_event_filter(), "event-filter"),
        (polyglot::py_chat_responder(), "chat-responder"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_gateway-node"))
            .args(["plugin", "check"])
            .arg(&example.wasm)
            .arg("--manifest")
            .arg(&example.manifest)
            .env("LOG_LEVEL", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout}{}",
            example.wasm.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("kind:     {kind}\n")), "{stdout}");
        assert!(
            stdout.contains("verdict:  the gateway would load it"),
            "{stdout}"
        );
        assert!(
            stdout.contains("gateway:plugins/log@0.1.0"),
            "the host imports are listed: {stdout}"
        );
    }
}

async fn post_event(gw: &TestGateway, body: Value) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/events", gw.url))
        .bearer_auth("svc")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn event(title: &str, severity: &str) -> Value {
    json!({ "type": "MARKET_HALT", "title": title, "message": "Trading in EURUSD is halted", "severity": severity })
}

/// Posts `dropped`, then `passed`, and checks that `client` gets `passed`
/// and, within a moment after it, never `dropped`.
async fn filtered(gw: &TestGateway, client: &mut Client, dropped: Value, passed: Value) {
    let dropped_id = post_event(gw, dropped).await;
    let passed_id = post_event(gw, passed).await;
    let mut ids = Vec::new();
    loop {
        let got = client
            .next("event:notification", WAIT)
            .await
            .expect("the event that passes the filter arrives");
        let id = got["id"].as_str().unwrap().to_owned();
        ids.push(id.clone());
        if id == passed_id {
            break;
        }
    }
    for m in client.drain(Duration::from_millis(500)).await {
        if let Incoming::Event(name, data) = m
            && name == "event:notification"
        {
            ids.push(data["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(
        !ids.contains(&dropped_id),
        "the filtered event {dropped_id} arrived: {ids:?}"
    );
}

#[tokio::test]
async fn js_event_filter_hot_loads_filters_events_and_unloads() {
    let js = polyglot::js_event_filter();
    let gw = TestGateway::start(|c| c.service_token = Some("svc".into())).await;
    let dir = gw.running.gateway.config.plugins_dir.clone();
    let registry = gw.running.gateway.plugins.registry().clone();
    let mut alice = gw.connect("alice").await;
    let ack = alice
        .emit_ack(
            "subscribe:events",
            &json!({ "eventTypes": ["MARKET_HALT"] }),
        )
        .await;
    assert_eq!(ack["ok"], true);

    // Without it, an event about a drill reaches alice.
    let drill = post_event(&gw, event("Fire drill", "high")).await;
    let got = alice.next("event:notification", WAIT).await.unwrap();
    assert_eq!(got["id"], drill.as_str());

    // Its manifest's memory cap holds: 4 MiB cannot hold SpiderMonkey.
    let manifest = js.manifest_text();
    let starved = manifest.replace("memory_mib = 48", "memory_mib = 4");
    assert_ne!(starved, manifest, "the manifest sets memory_mib = 48");
    atomic_write(&dir, "js-event-filter.toml", starved.as_bytes());
    atomic_write(&dir, "js-event-filter.wasm", &js.bytes());
    let refused = eventually(LOAD, "the starved filter refused", || {
        registry
            .rejected()
            .into_iter()
            .find(|r| r.name == "js-event-filter")
    })
    .await;
    assert!(
        refused.error.message.contains("memory cap of 4 MiB"),
        "{}",
        refused.error.message
    );

    // With its own manifest it loads (a manifest change reloads).
    atomic_write(&dir, "js-event-filter.toml", manifest.as_bytes());
    let loaded = eventually(LOAD, "the JavaScript filter loaded", || {
        registry.get("js-event-filter")?.current()
    })
    .await;
    assert_eq!(loaded.description.name, "js-event-filter");
    assert_eq!(loaded.env.limits.memory_mib, 48);

    // Muted words (`drill`, `test` in the manifest) are dropped; the rest passes.
    filtered(
        &gw,
        &mut alice,
        event("Fire drill", "high"),
        event("EURUSD halted", "high"),
    )
    .await;
    filtered(
        &gw,
        &mut alice,
        json!({ "type": "MARKET_HALT", "title": "Halt", "message": "only a TEST", "severity": "critical" }),
        event("GBPUSD halted", "low"),
    )
    .await;

    // Its file removed, it is gone and drills pass again.
    std::fs::remove_file(dir.join("js-event-filter.wasm")).unwrap();
    eventually(WAIT, "the JavaScript filter unloaded", || {
        registry.get("js-event-filter").is_none().then_some(())
    })
    .await;
    let drill = post_event(&gw, event("Another drill", "high")).await;
    let got = alice.next("event:notification", WAIT).await.unwrap();
    assert_eq!(got["id"], drill.as_str());
    gw.stop().await;
}

fn publish(dir: &std::path::Path, name: &str, example: &Example) {
    std::fs::create_dir_all(dir).unwrap();
    atomic_write(
        dir,
        &format!("{name}.toml"),
        example.manifest_text().as_bytes(),
    );
    atomic_write(dir, &format!("{name}.wasm"), &example.bytes());
}

#[tokio::test]
async fn python_chat_responder_answers_from_market_data() {
    let py = polyglot::py_chat_responder();
    let tmp = tempfile::tempdir().unwrap();
    publish(&tmp.path().join("plugins.d"), "py-chat-responder", py);
    let gw = TestGateway::start_in(tmp, |c| {
        plugin_config(c, "sim-prices", "interval_ms", "600000");
        // The default chat assistant would answer first (by name).
        c.plugins
            .entry("chat-assistant".into())
            .or_default()
            .enabled = Some(false);
    })
    .await;
    let registry = gw.running.gateway.plugins.registry().clone();
    let loaded = eventually(LOAD, "the Python responder loaded", || {
        registry.get("py-chat-responder")?.current()
    })
    .await;
    assert_eq!(loaded.env.limits.memory_mib, 64);

    let market = gw.running.gateway.delivery.market().clone();
    let now = gateway::time::now_ms();
    for (ago_ms, bid) in [(300_000, 1.25), (0, 1.2625)] {
        assert!(market.record(&Tick {
            symbol: "GBPCHF".into(),
            bid,
            ask: bid + 0.0004,
            timestamp: now - ago_ms,
        }));
    }
    let mut asker = gw.connect("asker").await;
    let ack = asker
        .emit_ack(
            "chat:message",
            &json!({ "message": "how is gbp/chf doing?", "id": "q1" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let reply = asker.next("chat:message", WAIT).await.unwrap();
    assert_eq!(
        (&reply["replyTo"], &reply["type"]),
        (&json!("q1"), &json!("ai"))
    );
    let text = reply["message"].as_str().unwrap();
    assert!(
        text.starts_with(
            "GBPCHF is at 1.26250 / 1.26290 (mid 1.26270, spread 4.0 pips). \
             Over the last 15 min it is up 1.000% (2 samples)."
        ),
        "{text}"
    );

    // The symbol the user looks at, from a tick the simulated source sent.
    let tick = eventually(WAIT, "a USDJPY tick", || market.latest("USDJPY")).await;
    let ack = asker
        .emit_ack(
            "chat:message",
            &json!({ "message": "and this one?", "context": { "currentSymbol": "USDJPY" } }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let reply = asker.next("chat:message", WAIT).await.unwrap();
    let text = reply["message"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("USDJPY is at {:.5} / {:.5}", tick.bid, tick.ask)),
        "{text}"
    );
    gw.stop().await;
}
