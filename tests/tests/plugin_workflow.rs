//! The plugin workflow as an author runs it, with the `gateway` command
//! itself: for each of the four kinds, `gateway plugin new` into a
//! temporary directory, the scaffold's native tests (`cargo test`, against
//! the SDK's fake host), `gateway plugin build` (its check must say the
//! gateway would load it), then a real gateway process gets the four
//! `dist/` outputs dropped into its plugins directory and lists each in
//! `/api/plugins` with its kind and version, and the price source's ticks
//! reach a socket. Then `gateway plugin dev` on the price source: an edit
//! of its source becomes a new version in the running gateway.
//!
//! The four crates share one target directory (`target/scaffold`), so the
//! SDK and its dependencies are compiled once; cargo runs offline
//! (`CARGO_NET_OFFLINE`): the scaffold's lock file needs no registry index.
//! Each step's time is printed (`--nocapture`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gateway_tests::process::GatewayProcess;
use gateway_tests::server::SECRET;
use gateway_tests::{atomic_write, eventually_async};
use serde_json::{Value, json};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway-node");
/// A bound on waiting for the gateway to load or reload (not a target).
const LOAD: Duration = Duration::from_secs(60);
/// A bound on `plugin dev`'s rebuild (a release build of the crate).
const REBUILD: Duration = Duration::from_secs(600);
const KINDS: [&str; 4] = [
    "price-source",
    "order-poller",
    "chat-responder",
    "event-filter",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The `gateway` command with the environment of an author's shell: the
/// shared target dir, offline, none of the test build's compiler flags.
fn gateway(args: &[&str]) -> Command {
    let mut cmd = Command::new(GATEWAY);
    cmd.args(args)
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target").join("scaffold"),
        )
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to the end; panics with its output when it fails.
async fn run(mut cmd: Command, what: &str) -> Output {
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    eprintln!("{what}: {:.1} s", start.elapsed().as_secs_f64());
    out
}

/// How many tests `cargo test` says passed, over all its test binaries.
fn passed(report: &str) -> usize {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum()
}

/// The plugin named `name` in `/api/plugins`, when it is there.
async fn listed(gw: &GatewayProcess, name: &str) -> Option<Value> {
    let admin = gateway::auth::mint(SECRET, "admin", true, None, Duration::from_secs(3600));
    let body: Value = reqwest::Client::new()
        .get(format!("{}/api/plugins", gw.url))
        .bearer_auth(admin)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaffold_build_check_and_load_every_kind_then_develop_one() {
    let tmp = tempfile::tempdir().unwrap();
    let crates = tmp.path().join("crates");
    let mut built = Vec::new();
    for kind in KINDS {
        let name = format!("scaffold-{kind}");
        let dir = crates.join(&name);
        let dir_arg = dir.to_str().unwrap();
        run(
            gateway(&["plugin", "new", "--kind", kind, dir_arg]),
            &format!("plugin new --kind {kind}"),
        )
        .await;
        let mut test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        test.args(["test", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env(
                "CARGO_TARGET_DIR",
                workspace().join("target").join("scaffold"),
            )
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        let tested = run(test, &format!("cargo test of the {kind} scaffold")).await;
        let report = String::from_utf8_lossy(&tested.stdout);
        assert!(
            passed(&report) >= 2,
            "the {kind} scaffold's native tests did not run:\n{report}"
        );
        let out = run(
            gateway(&["plugin", "build", dir_arg]),
            &format!("plugin build of the {kind} scaffold"),
        )
        .await;
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            report.contains(&format!("kind:     {kind}"))
                && report.contains("verdict:  the gateway would load it"),
            "{report}"
        );
        let wasm = dir.join("dist").join(format!("{name}.wasm"));
        let manifest = dir.join("dist").join(format!("{name}.toml"));
        eprintln!(
            "{name}.wasm: {} KiB",
            std::fs::metadata(&wasm).unwrap().len() / 1024
        );
        built.push((name, dir, wasm, manifest));
    }

    let gw_dir = tmp.path().join("gateway");
    let plugins_dir = gw_dir.join("plugins.d");
    let gw = GatewayProcess::start_in(
        Path::new(GATEWAY),
        "gateway",
        &gw_dir,
        &[(
            "GATEWAY_PLUGIN__SCAFFOLD_PRICE_SOURCE__SYMBOLS",
            "SCAFFOLDED".to_owned(),
        )],
    )
    .await;
    let mut client = gw.connect("reader").await;
    let ack = client
        .emit_ack("subscribe:prices", &json!({ "symbols": ["SCAFFOLDED"] }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    for (name, _, wasm, manifest) in &built {
        atomic_write(
            &plugins_dir,
            &format!("{name}.toml"),
            &std::fs::read(manifest).unwrap(),
        );
        atomic_write(
            &plugins_dir,
            &format!("{name}.wasm"),
            &std::fs::read(wasm).unwrap(),
        );
    }
    for (kind, (name, ..)) in KINDS.iter().zip(&built) {
        let p = eventually_async(LOAD, &format!("{name} in /api/plugins"), || {
            listed(&gw, name)
        })
        .await;
        assert_eq!(
            (
                p["kind"].as_str(),
                p["version"].as_str(),
                p["state"].as_str()
            ),
            (Some(*kind), Some("0.1.0"), Some("running")),
            "{p}"
        );
    }
    let tick = client
        .next("price:update", Duration::from_secs(20))
        .await
        .expect("the scaffolded price source's ticks reach the socket");
    assert_eq!(tick["symbol"], "SCAFFOLDED", "{tick}");
    let bid = tick["bid"].as_f64().unwrap();
    assert!(
        (1.09..1.11).contains(&bid),
        "the manifest's mid 1.1: {tick}"
    );

    // `plugin dev`: deploys the crate as it is (same bytes: no reload),
    // then an edit of the source becomes a new version.
    let (name, dir, ..) = &built[0];
    let mut dev = tokio::process::Command::from(gateway(&[
        "plugin",
        "dev",
        dir.to_str().unwrap(),
        "--plugins-dir",
        plugins_dir.to_str().unwrap(),
    ]));
    let mut dev = dev
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = watch_output(dev.stdout.take().unwrap());
    eventually_async(REBUILD, "plugin dev's first deploy", || async {
        lines
            .lock()
            .iter()
            .any(|l| l.starts_with("watching"))
            .then_some(())
    })
    .await;
    assert!(
        lines.lock().iter().any(|l| l.starts_with("deployed:")),
        "{:?}",
        lines.lock()
    );
    let lib = dir.join("src").join("lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let edited = source.replace("An example price source", "An edited price source");
    assert_ne!(source, edited);
    let start = Instant::now();
    std::fs::write(&lib, edited).unwrap();
    let p = eventually_async(REBUILD, "the edited version in /api/plugins", || async {
        listed(&gw, name).await.filter(|p| {
            p["description"]
                .as_str()
                .unwrap_or("")
                .starts_with("An edited")
        })
    })
    .await;
    eprintln!(
        "plugin dev: edit to new version loaded: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(p["loads"], 2, "the first deploy was the same bytes: {p}");
    assert_eq!(p["state"], "running", "{p}");
    dev.kill().await.unwrap();
    gw.stop().await;
}

/// Collects the lines `out` prints, as they come.
fn watch_output(
    out: tokio::process::ChildStdout,
) -> std::sync::Arc<parking_lot::Mutex<Vec<String>>> {
    use tokio::io::AsyncBufReadExt;
    let lines = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let keep = lines.clone();
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(out).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            eprintln!("plugin dev: {line}");
            keep.lock().push(line);
        }
    });
    lines
}
