//! The plugin platform end to end, with real components built from
//! `tests/guests/`: containment of misbehaving plugins, refusal of bad
//! files, hot reload through the watched directory, and kv state kept
//! across swaps. Each guest has a test named after it (`foreach_guest!`);
//! the guests that misbehave through a whole gateway (streaming, ticks,
//! filters) are tested through one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway::plugin::CallError;
use gateway::plugin::manifest::Manifest;
use gateway::plugin::watch;
use gateway_tests::server::TestGateway;
use gateway_tests::sio::Incoming;
use gateway_tests::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

macro_rules! guest_has_test {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
foreach_guest!(guest_has_test);

async fn poll(
    p: &Platform,
    name: &str,
) -> Result<Vec<gateway::protocol::payloads::Tick>, CallError> {
    let slot = p.host.registry().get(name).expect("plugin loaded");
    slot.call("poll", |v| async move { v.poll_prices().await })
        .await
}

/// A well-behaved price source that must keep ticking beside a bad one.
async fn with_healthy_neighbour(p: &Platform) {
    p.publish("swap", &guest(SWAP_A), None);
    p.host.sync("swap").await;
}

async fn healthy_neighbour_ticks(p: &Platform) {
    p.sink.clear();
    eventually(WAIT, "the healthy plugin to keep ticking", || {
        (p.sink.ticks().iter().filter(|(n, _)| n == "swap").count() >= 3).then_some(())
    })
    .await;
}

#[tokio::test]
async fn infinite_loop() {
    let p = Platform::new();
    with_healthy_neighbour(&p).await;
    p.publish(
        "spin",
        &guest(INFINITE_LOOP),
        Some("[limits]\ndeadline_ms = 50\n"),
    );
    p.host.sync("spin").await;
    let started = Instant::now();
    let err = poll(&p, "spin").await.unwrap_err();
    assert_eq!(err, CallError::Timeout { deadline_ms: 50 });
    // Interrupted, not left spinning: the bound is generous for a debug build.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // A fresh instance serves the next call (and is interrupted again).
    assert!(matches!(
        poll(&p, "spin").await,
        Err(CallError::Timeout { .. })
    ));
    healthy_neighbour_ticks(&p).await;
    let slot = p.host.registry().get("spin").unwrap();
    assert!(slot.errors() >= 2);
    assert_eq!(slot.last_error().unwrap().code, "timeout");
}

#[tokio::test]
async fn memory_hog() {
    let p = Platform::new();
    with_healthy_neighbour(&p).await;
    p.publish(
        "hog",
        &guest(MEMORY_HOG),
        Some("[limits]\nmemory_mib = 16\n"),
    );
    p.host.sync("hog").await;
    assert_eq!(
        poll(&p, "hog").await.unwrap_err(),
        CallError::MemoryExceeded { cap_mib: 16 }
    );
    assert_eq!(
        poll(&p, "hog").await.unwrap_err(),
        CallError::MemoryExceeded { cap_mib: 16 }
    );
    healthy_neighbour_ticks(&p).await;
}

#[tokio::test]
async fn trap_on_poll() {
    let p = Platform::new();
    p.publish("flaky", &guest(TRAP_ON_POLL), None);
    p.host.sync("flaky").await;
    // The runner polls too; call until both outcomes were seen.
    let mut trapped = None;
    let mut served = false;
    for _ in 0..10 {
        match poll(&p, "flaky").await {
            Err(CallError::Trap(m)) => trapped = Some(m),
            Ok(ticks) => served |= ticks.iter().any(|t| t.symbol == "TRAP"),
            Err(CallError::CircuitOpen { .. }) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
        if trapped.is_some() && served {
            break;
        }
    }
    let trapped = trapped.expect("a poll trapped");
    assert!(trapped.contains("unreachable"), "{trapped}");
    assert!(
        trapped.contains("panics on purpose"),
        "the panic message is reported: {trapped}"
    );
    assert!(served, "a fresh instance served after the trap");
}

#[tokio::test]
async fn wrong_world() {
    let p = Platform::new();
    p.publish("cli", &guest(WRONG_WORLD), None);
    p.host.sync("cli").await;
    assert!(p.host.registry().get("cli").is_none());
    let rejected = p.host.registry().rejected();
    let msg = &rejected
        .iter()
        .find(|r| r.name == "cli")
        .expect("rejection listed")
        .error
        .message;
    assert!(msg.contains("exports none of the plugin worlds"), "{msg}");
    assert!(msg.contains("wasi:cli/run"), "{msg}");
}

#[tokio::test]
async fn garbage_bytes_are_rejected() {
    let p = Platform::new();
    p.publish("junk", b"\0asm\x0d\0\x01\0this is not a component", None);
    p.host.sync("junk").await;
    p.publish("text", b"hello", None);
    p.host.sync("text").await;
    let rejected = p.host.registry().rejected();
    assert_eq!(rejected.len(), 2);
    for r in rejected {
        assert!(
            r.error.message.starts_with("not a valid wasm component"),
            "{}",
            r.error.message
        );
    }
}

#[tokio::test]
async fn forbidden_host() {
    let p = Platform::new();
    p.publish(
        "caller",
        &guest(FORBIDDEN_HOST),
        Some("allowed_hosts = [\"127.0.0.1:1\"]\n[config]\nurl = \"http://127.0.0.2:9/prices\"\n"),
    );
    p.host.sync("caller").await;
    let err = poll(&p, "caller").await.unwrap_err();
    let CallError::Plugin(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.contains("host 127.0.0.2:9 is not in the plugin's allowed hosts"),
        "{msg}"
    );
}

#[tokio::test]
async fn forbidden_import() {
    let p = Platform::new();
    p.publish("peek", &guest(FORBIDDEN_IMPORT), None);
    p.host.sync("peek").await;
    assert!(p.host.registry().get("peek").is_none());
    let msg = p.host.registry().rejected()[0].error.message.clone();
    assert!(
        msg.contains("cannot link as a price-source plugin"),
        "{msg}"
    );
    assert!(msg.contains("market"), "{msg}");
}

/// The WASI every plugin is linked with (the runtimes of JavaScript and
/// Python plugins import most of it) gives no environment, no file and no
/// network: the guest's `init` fails naming anything it reached.
#[tokio::test]
async fn wasi_prober() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(
        std::env::vars().next().is_some(),
        "the host has an environment to leak"
    );
    let p = Platform::new();
    p.publish(
        "prober",
        &guest(WASI_PROBER),
        Some(&format!("[config]\nport = {port}\n")),
    );
    p.host.sync("prober").await;
    let rejected: Vec<String> = p
        .host
        .registry()
        .rejected()
        .into_iter()
        .map(|r| r.error.message)
        .collect();
    assert!(p.host.registry().get("prober").is_some(), "{rejected:?}");
    assert!(
        listener.accept().is_err(),
        "the guest connected to the host"
    );
}

#[tokio::test]
async fn failing_init() {
    let p = Platform::new();
    p.publish("refuses", &guest(FAILING_INIT), None);
    p.host.sync("refuses").await;
    let msg = p.host.registry().rejected()[0].error.message.clone();
    assert!(
        msg.contains("init failed: config `token` is required"),
        "{msg}"
    );
}

fn serving_version(p: &Platform, name: &str) -> Option<String> {
    p.host
        .registry()
        .get(name)?
        .current()
        .map(|v| v.description.version.clone())
}

fn polls_of(p: &Platform) -> u64 {
    let ns = p
        .host
        .registry()
        .get("swap")
        .unwrap()
        .current()
        .unwrap()
        .env
        .kv
        .clone();
    ns.get("polls")
        .map_or(0, |bytes| serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn swap_a() {
    // A new file in the watched directory goes live; a broken replacement
    // keeps it; deleting the file unloads it.
    let p = Platform::new();
    let _watch = watch::watch(p.host.clone(), &p.dir()).unwrap();
    p.publish("swap", &guest(SWAP_A), None);
    eventually(WAIT, "swap 1.0.0 to serve", || {
        p.sink
            .ticks()
            .iter()
            .any(|(n, t)| n == "swap" && t.bid == 1.0)
            .then_some(())
    })
    .await;
    atomic_write(&p.dir(), "swap.wasm", b"\0asm garbage");
    eventually(WAIT, "the broken file to be refused", || {
        p.host.registry().get("swap")?.last_load_error()
    })
    .await;
    assert_eq!(serving_version(&p, "swap").as_deref(), Some("1.0.0"));
    p.sink.clear();
    eventually(WAIT, "1.0.0 to keep serving", || {
        (p.sink.ticks().len() >= 2).then_some(())
    })
    .await;
    std::fs::remove_file(p.dir().join("swap.wasm")).unwrap();
    eventually(WAIT, "the plugin to unload", || {
        p.host.registry().get("swap").is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn swap_b() {
    // A changed file is swapped in without a restart; kv carries over.
    let p = Platform::new();
    let _watch = watch::watch(p.host.clone(), &p.dir()).unwrap();
    p.publish("swap", &guest(SWAP_A), Some("[config]\ninterval_ms = 20\n"));
    eventually(WAIT, "swap 1.0.0", || {
        (serving_version(&p, "swap")? == "1.0.0").then_some(())
    })
    .await;
    eventually(WAIT, "a few polls", || (polls_of(&p) >= 3).then_some(())).await;
    let before = polls_of(&p);
    let written = Instant::now();
    p.publish("swap", &guest(SWAP_B), None);
    eventually(WAIT, "swap 2.0.0 ticks", || {
        p.sink
            .ticks()
            .iter()
            .any(|(_, t)| t.bid == 2.0)
            .then_some(())
    })
    .await;
    eprintln!(
        "file written -> new version ticking: {:?}",
        written.elapsed()
    );
    assert_eq!(serving_version(&p, "swap").as_deref(), Some("2.0.0"));
    let first_b = p
        .sink
        .ticks()
        .into_iter()
        .find(|(_, t)| t.bid == 2.0)
        .unwrap()
        .1;
    // The poll counter kept in kv continued instead of restarting at 1.
    assert!(
        first_b.timestamp % 1000 > before % 1000 || before >= 1000,
        "kv reset: {first_b:?} after {before}"
    );
    assert!(polls_of(&p) > before);
}

#[tokio::test]
async fn a_file_whose_content_did_not_change_is_not_reloaded() {
    // One atomic rename, a touch, and the same bytes renamed in again: one
    // load. (A reload re-initialises the plugin.)
    let p = Platform::new();
    let _watch = watch::watch(p.host.clone(), &p.dir()).unwrap();
    p.publish("swap", &guest(SWAP_A), Some("[config]\ninterval_ms = 20\n"));
    let first = eventually(WAIT, "swap to load", || {
        p.host.registry().get("swap")?.current()
    })
    .await;
    let file = p.dir().join("swap.wasm");
    std::fs::File::options()
        .append(true)
        .open(&file)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.publish("swap", &guest(SWAP_A), Some("[config]\ninterval_ms = 20\n"));
    // Well past the watcher's settle time, several times over.
    tokio::time::sleep(watch::SETTLE * 10).await;
    let slot = p.host.registry().get("swap").unwrap();
    assert_eq!(slot.loads(), 1, "an unchanged file was loaded again");
    assert!(Arc::ptr_eq(&slot.current().unwrap(), &first));

    // A broken file is refused; putting the running file back clears the
    // refusal without a reload.
    atomic_write(&p.dir(), "swap.wasm", b"\0asm garbage");
    eventually(WAIT, "the broken file to be refused", || {
        slot.last_load_error()
    })
    .await;
    p.publish("swap", &guest(SWAP_A), None);
    eventually(WAIT, "the refusal to be cleared", || {
        slot.last_load_error().is_none().then_some(())
    })
    .await;
    assert_eq!(slot.loads(), 1);

    // A changed manifest is a change: it loads.
    p.publish("swap", &guest(SWAP_A), Some("[config]\ninterval_ms = 30\n"));
    eventually(WAIT, "the new manifest to load", || {
        (slot.loads() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(watch::SETTLE * 10).await;
    assert_eq!(slot.loads(), 2, "one change, one load");
}

#[tokio::test]
async fn a_file_overrides_the_default_of_its_name_until_deleted() {
    let defaults = vec![default_plugin(
        "sim-prices",
        Manifest::parse("[config]\nsymbols = \"EURUSD\"\ninterval_ms = 20\nseed = \"1\"\n")
            .unwrap(),
    )];
    let p = Platform::with_defaults(defaults);
    let _watch = watch::watch(p.host.clone(), &p.dir()).unwrap();
    p.host.load_all().await;
    eventually(WAIT, "simulated EURUSD", || {
        p.sink
            .ticks()
            .iter()
            .any(|(n, t)| n == "sim-prices" && t.symbol == "EURUSD")
            .then_some(())
    })
    .await;
    p.publish("sim-prices", &guest(SWAP_A), None);
    eventually(WAIT, "the override to serve", || {
        (serving_version(&p, "sim-prices")? == "1.0.0").then_some(())
    })
    .await;
    std::fs::remove_file(p.dir().join("sim-prices.wasm")).unwrap();
    eventually(WAIT, "the default to come back", || {
        let v = p.host.registry().get("sim-prices")?.current()?;
        (v.description.name == "sim-prices").then_some(())
    })
    .await;
}

#[tokio::test]
async fn embedded_defaults_all_load() {
    let p = Platform::new();
    for (name, wasm) in gateway::embedded::EMBEDDED_PLUGINS {
        let mut manifest = "[config]\nurl = \"http://127.0.0.1:9\"\n".to_owned();
        manifest.push_str("");
        p.publish(name, wasm, Some(&manifest));
        p.host.sync(name).await;
        let slot = p.host.registry().get(name);
        assert!(slot.is_some(), "{name}: {:?}", p.host.registry().rejected());
    }
}

#[tokio::test]
async fn waiting_on_http_does_not_count_against_the_cpu_deadline() {
    let slow = gateway_tests::upstream::market(gateway_tests::upstream::MarketMode::Slow(
        Duration::from_millis(400),
        Vec::new(),
    ))
    .await;
    let host = slow.url.trim_start_matches("http://").to_owned();
    let p = Platform::new();
    let manifest = format!(
        "allowed_hosts = [\"{host}\"]\n[config]\nurl = \"{}/prices\"\n[limits]\ndeadline_ms = 50\n",
        slow.url
    );
    p.publish("caller", &guest(FORBIDDEN_HOST), Some(&manifest));
    p.host.sync("caller").await;
    // The guest reports any answer as an error of its own; what matters is
    // that it got the answer after 400 ms with a 50 ms CPU deadline.
    let err = poll(&p, "caller").await.unwrap_err();
    let CallError::Plugin(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("status 200"), "{msg}");
}

#[tokio::test]
async fn responses_over_the_size_cap_are_refused() {
    let ticks: Vec<serde_json::Value> = (0..2000)
        .map(|i| serde_json::json!({ "symbol": format!("S{i}"), "bid": 1.0, "ask": 1.1 }))
        .collect();
    let big =
        gateway_tests::upstream::market(gateway_tests::upstream::MarketMode::Prices(ticks)).await;
    let host = big.url.trim_start_matches("http://").to_owned();
    let p = Platform::new();
    let manifest = format!(
        "allowed_hosts = [\"{host}\"]\n[config]\nurl = \"{}/prices\"\n[limits]\nhttp_max_response_bytes = 4096\n",
        big.url
    );
    p.publish("caller", &guest(FORBIDDEN_HOST), Some(&manifest));
    p.host.sync("caller").await;
    let err = poll(&p, "caller").await.unwrap_err();
    let CallError::Plugin(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("4096"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_is_not_accepted_is_polled_again_and_nothing_skipped() {
    // The order poller against a real trading service; the host refuses
    // its first two batches (a store or Redis that fails): the poller must
    // not store its position past them, and they come again.
    let trading = gateway_tests::upstream::trading().await;
    let manifest = format!(
        "allowed_hosts = [\"{}\"]\n[config]\nurl = \"{}\"\ninterval_ms = 20\n",
        trading.url.trim_start_matches("http://"),
        trading.url
    );
    let p = Platform::with_defaults(vec![default_plugin(
        "order-poller",
        Manifest::parse(&manifest).unwrap(),
    )]);
    p.sink.refuse_orders(2);
    trading.state.push(
        "orders",
        &[
            serde_json::json!({ "orderId": "o1", "type": "ORDER_CREATED", "symbol": "EURUSD",
                              "userId": "ann", "timestamp": 1 }),
        ],
    );
    p.host.load_all().await;
    let accepted = eventually(WAIT, "the batch to be accepted", || {
        p.sink.orders().into_iter().next()
    })
    .await;
    assert_eq!(accepted.orders[0].order_id, "o1");
    let refused = p.sink.refused_orders();
    assert_eq!(refused.len(), 2, "refused twice, then accepted");
    assert!(refused.iter().all(|b| b.orders[0].order_id == "o1"));
    trading.state.push(
        "orders",
        &[
            serde_json::json!({ "orderId": "o2", "type": "ORDER_CREATED", "symbol": "EURUSD",
                              "userId": "ann", "timestamp": 2 }),
        ],
    );
    eventually(WAIT, "the next order", || {
        (p.sink.orders().len() == 2).then_some(())
    })
    .await;
    let ids: Vec<String> = p
        .sink
        .orders()
        .iter()
        .flat_map(|b| b.orders.iter().map(|o| o.order_id.clone()))
        .collect();
    assert_eq!(ids, ["o1", "o2"]);
    assert!(
        trading
            .state
            .requests()
            .iter()
            .filter(|s| s.is_none())
            .count()
            >= 3,
        "polled from the start again after each refusal: {:?}",
        trading.state.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeper() {
    // A call blocked in a WASI sleep is given up at its wall-clock deadline;
    // a fresh instance takes the next call; after too many stuck instances
    // the plugin stalls (calls refused, status `stalled`) until replaced.
    // Its neighbour ticks throughout.
    let p = Platform::new();
    with_healthy_neighbour(&p).await;
    p.publish(
        "sleepy",
        &guest(SLEEPER),
        Some("[config]\ninterval_ms = 600000\n[limits]\nwall_ms = 300\n[failure]\nmax_consecutive_failures = 100\n"),
    );
    p.host.sync("sleepy").await;
    let started = Instant::now();
    assert_eq!(
        poll(&p, "sleepy").await.unwrap_err(),
        CallError::WallClock { wall_ms: 300 }
    );
    // Given up, not waited out: the bound is generous for a debug build.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut outcomes = Vec::new();
    for _ in 0..8 {
        let err = poll(&p, "sleepy").await.unwrap_err();
        let stalled = matches!(err, CallError::Stalled { .. });
        outcomes.push(err);
        if stalled {
            break;
        }
    }
    let (last, before) = outcomes.split_last().unwrap();
    assert!(matches!(last, CallError::Stalled { .. }), "{outcomes:?}");
    assert!(
        before
            .iter()
            .all(|e| matches!(e, CallError::WallClock { .. })),
        "{outcomes:?}"
    );
    let status = p
        .host
        .registry()
        .statuses()
        .into_iter()
        .find(|s| s.name == "sleepy")
        .unwrap();
    assert_eq!(status.state, "stalled");
    healthy_neighbour_ticks(&p).await;
    // Replacing the file brings the name back to life.
    p.publish("sleepy", &guest(SWAP_A), Some(""));
    p.host.sync("sleepy").await;
    assert!(poll(&p, "sleepy").await.is_ok());
    // A start-up check that sleeps is given up the same way.
    p.publish(
        "sleepy-init",
        &guest(SLEEPER),
        Some("[config]\nsleep_in_init = true\n[limits]\nwall_ms = 300\n"),
    );
    p.host.sync("sleepy-init").await;
    let rejected = p.host.registry().rejected();
    let msg = &rejected
        .iter()
        .find(|r| r.name == "sleepy-init")
        .expect("refused")
        .error
        .message;
    assert!(msg.contains("wall-clock deadline of 300 ms"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_follower() {
    // An allowed upstream answering 302 to a host that is not allowed: the
    // host hands the 302 to the plugin, and the plugin's own request to the
    // Location is checked like any other. The target is never reached.
    let hits = Arc::new(AtomicUsize::new(0));
    let target = {
        let hits = hits.clone();
        let router = axum::Router::new().fallback(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async { "reached" }
        });
        gateway_tests::upstream::serve(Arc::new(()), router).await
    };
    let location = format!("{}/prices", target.url);
    let redirector = {
        let router = axum::Router::new().fallback(move || {
            let location = location.clone();
            async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, location)],
                )
            }
        });
        gateway_tests::upstream::serve(Arc::new(()), router).await
    };
    let p = Platform::new();
    let manifest = format!(
        "allowed_hosts = [\"{}\"]\n[config]\nurl = \"{}/start\"\n",
        redirector.url.trim_start_matches("http://"),
        redirector.url
    );
    p.publish("hop", &guest(REDIRECT_FOLLOWER), Some(&manifest));
    p.host.sync("hop").await;
    let err = poll(&p, "hop").await.unwrap_err();
    let CallError::Plugin(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with("HTTP 302 to "),
        "the plugin got the 302: {msg}"
    );
    assert!(
        msg.contains("is not in the plugin's allowed hosts"),
        "{msg}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the target was reached");
}

/// A test gateway whose plugins directory holds `files` (name, wasm,
/// manifest) before it starts.
async fn gateway_with(
    files: &[(&str, &[u8], Option<&str>)],
    tweak: impl FnOnce(&mut gateway::config::Config),
) -> TestGateway {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins.d");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, wasm, manifest) in files {
        if let Some(m) = manifest {
            std::fs::write(dir.join(format!("{name}.toml")), m).unwrap();
        }
        std::fs::write(dir.join(format!("{name}.wasm")), wasm).unwrap();
    }
    TestGateway::start_in(tmp, tweak).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_flooder() {
    // A chat responder streaming 10 MiB: the asker gets at most the bounded
    // parts and the final message; a price socket keeps streaming.
    let flooder = guest(CHUNK_FLOODER);
    let gw = gateway_with(&[("chat-assistant", &flooder, None)], |_| {}).await;
    let mut bob = gw.connect("bob").await;
    bob.emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    let mut alice = gw.connect("alice").await;
    let ack = alice
        .emit_ack("chat:message", &json!({ "message": "flood me" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let (mut parts, mut bytes) = (0usize, 0usize);
    let fin = loop {
        match alice.recv(WAIT).await {
            Some(Incoming::Event(e, v)) if e == "chat:chunk" => {
                parts += 1;
                bytes += v["delta"].as_str().unwrap_or_default().len();
            }
            Some(Incoming::Event(e, v)) if e == "chat:message" => break v,
            Some(_) => {}
            None => panic!("no final message after {parts} parts"),
        }
    };
    assert_eq!(fin["message"], "done flooding");
    assert!(
        parts <= 2000 && bytes <= 256 * 1024,
        "{parts} parts, {bytes} bytes"
    );
    assert!(parts > 0, "the parts within the bounds still stream");
    bob.drain(Duration::from_millis(100)).await;
    assert!(
        bob.next("price:update", WAIT).await.is_some(),
        "other sockets keep streaming"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn future_ticks() {
    // A tick stamped an hour ahead is refused; the honest ticks after it
    // reach subscribers instead of being held back behind it.
    let future = guest(FUTURE_TICKS);
    let gw = gateway_with(&[("fut", &future, None)], |_| {}).await;
    let mut alice = gw.connect("alice").await;
    alice
        .emit_ack("subscribe:prices", &json!({ "symbols": ["FUT"] }))
        .await;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let tick = alice
            .next("price:update", WAIT)
            .await
            .unwrap_or_else(|| panic!("FUT froze after {seen:?}"));
        seen.push(tick["bid"].as_f64().unwrap());
    }
    assert!(!seen.contains(&1.0), "the tick from the future: {seen:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_filter() {
    // A filter that fails closes by default (the event reaches none of the
    // subscribers it was asked about); `[failure] filter = "open"` delivers.
    let broken = guest(FAILING_FILTER);
    let gw = gateway_with(&[("broken-filter", &broken, None)], |c| {
        c.service_token = Some("svc".into());
    })
    .await;
    let mut alice = gw.connect("alice").await;
    alice
        .emit_ack(
            "subscribe:events",
            &json!({ "eventTypes": ["MARGIN_CALL"] }),
        )
        .await;
    let post = |id: &str| {
        reqwest::Client::new()
            .post(format!("{}/api/events", gw.url))
            .bearer_auth("svc")
            .json(&json!({ "id": id, "type": "MARGIN_CALL", "title": "Margin",
                           "message": "top up", "severity": "high" }))
            .send()
    };
    assert_eq!(post("closed-1").await.unwrap().status(), 202);
    let got = alice.drain(Duration::from_millis(1500)).await;
    assert!(
        !got.iter()
            .any(|m| matches!(m, Incoming::Event(e, _) if e == "event:notification")),
        "delivered despite the failing filter: {got:?}"
    );
    let dir = gw.tmp.path().join("plugins.d");
    atomic_write(
        &dir,
        "broken-filter.toml",
        b"[failure]\nfilter = \"open\"\n",
    );
    gw.running.gateway.plugins.sync("broken-filter").await;
    assert_eq!(post("open-1").await.unwrap().status(), 202);
    let got = alice
        .next("event:notification", WAIT)
        .await
        .expect("delivered with the open policy");
    assert_eq!(got["id"], "open-1");
    gw.stop().await;
}

/// `component` with `n` more core modules, each with one memory of
/// `pages` 64 KiB pages, instantiated along with it.
fn with_extra_memories(component: &[u8], n: u32, pages: u64) -> Vec<u8> {
    use wasm_encoder::{
        Component, InstanceSection, MemorySection, MemoryType, Module, ModuleArg, ModuleSection,
    };
    let modules = top_level_core_modules(component);
    let mut extra = Component::new();
    for i in 0..n {
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut module = Module::new();
        module.section(&memories);
        extra.section(&ModuleSection(&module));
        let mut instance = InstanceSection::new();
        instance.instantiate(modules + i, Vec::<(&str, ModuleArg)>::new());
        extra.section(&instance);
    }
    let mut out = component.to_vec();
    // The sections only: the component's header is already there.
    out.extend_from_slice(&extra.finish()[8..]);
    out
}

/// How many core modules the outermost component defines or aliases.
fn top_level_core_modules(component: &[u8]) -> u32 {
    use wasmparser::{ComponentAlias, ComponentOuterAliasKind, Parser, Payload};
    let (mut depth, mut modules) = (0i32, 0u32);
    for payload in Parser::new(0).parse_all(component) {
        match payload.unwrap() {
            Payload::ModuleSection { .. } => {
                if depth == 0 {
                    modules += 1;
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::ComponentAliasSection(aliases) if depth == 0 => {
                for alias in aliases {
                    if let ComponentAlias::Outer {
                        kind: ComponentOuterAliasKind::CoreModule,
                        ..
                    } = alias.unwrap()
                    {
                        modules += 1;
                    }
                }
            }
            Payload::End(_) => depth -= 1,
            _ => {}
        }
    }
    modules
}

#[tokio::test]
async fn multi_memory_hog() {
    // Four memories of 12 MiB each in one instance: the 16 MiB cap is for
    // all of them together, not each. With room for all, it loads.
    let p = Platform::new();
    with_healthy_neighbour(&p).await;
    let hog = with_extra_memories(&guest(SWAP_A), 3, 192);
    p.publish("hog", &hog, Some("[limits]\nmemory_mib = 16\n"));
    p.host.sync("hog").await;
    let rejected = p.host.registry().rejected();
    let msg = &rejected
        .iter()
        .find(|r| r.name == "hog")
        .expect("refused at its start-up check")
        .error
        .message;
    assert!(msg.contains("memory cap of 16 MiB exceeded"), "{msg}");
    p.publish("hog", &hog, Some("[limits]\nmemory_mib = 64\n"));
    p.host.sync("hog").await;
    assert!(
        poll(&p, "hog").await.is_ok(),
        "{:?}",
        p.host.registry().rejected()
    );
    // More memories than an instance may have are refused however small.
    let many = with_extra_memories(&guest(SWAP_A), 4, 1);
    p.publish("many", &many, Some("[limits]\nmemory_mib = 64\n"));
    p.host.sync("many").await;
    assert!(p.host.registry().get("many").is_none());
    healthy_neighbour_ticks(&p).await;
}

#[tokio::test]
async fn steady_quote() {
    // A price source tells the sink what it claims, with its manifest
    // priority, on load and on a swap, and that it is gone on unload.
    let p = Platform::new();
    p.publish(
        "primary",
        &guest(STEADY_QUOTE),
        Some("priority = 7\n[config]\nsymbol = \"GBPUSD\"\nbid = 2.5\n"),
    );
    p.host.sync("primary").await;
    eventually(WAIT, "the fixed quote", || {
        p.sink
            .ticks()
            .iter()
            .any(|(n, t)| n == "primary" && t.symbol == "GBPUSD" && t.bid == 2.5)
            .then_some(())
    })
    .await;
    let claims = p.sink.claims();
    let (name, claim) = &claims[0];
    let claim = claim.as_ref().expect("a claim");
    assert_eq!(name, "primary");
    assert_eq!(
        (claim.priority, claim.symbols.as_slice()),
        (7, &["GBPUSD".to_owned()][..])
    );
    assert_eq!(claim.interval, Duration::from_millis(50));

    p.publish(
        "primary",
        &guest(STEADY_QUOTE),
        Some("priority = 7\n[config]\nsymbol = \"GBPUSD\"\nsilent = true\n"),
    );
    p.host.sync("primary").await;
    assert_eq!(p.sink.claims().len(), 2, "a swap claims again");
    let version = p.host.registry().get("primary").unwrap().current().unwrap();
    assert!(version.poll_prices().await.unwrap().is_empty(), "silent");

    std::fs::remove_file(p.dir().join("primary.wasm")).unwrap();
    p.host.sync("primary").await;
    assert_eq!(
        p.sink.claims().last(),
        Some(&("primary".to_owned(), None)),
        "unloading releases the claim"
    );
}
