//! The README's "Writing one" walkthrough, run as written: its Cargo.toml
//! and lib.rs become a crate outside the workspace, built for
//! `wasm32-wasip2`, checked with `gateway plugin check`-equivalent
//! validation, dropped into a running gateway's plugins directory, and its
//! ticks reach a client. If the README's code stops working, this fails.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gateway_tests::readme::block;
use gateway_tests::server::{TestGateway, plugin_config};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_plugin_builds_loads_and_serves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let manifest = block(&readme, "### Writing one", "toml");
    let code = block(&readme, "### Writing one", "rust");
    let krate = tempfile::tempdir().unwrap();
    let sdk = root.join("sdk");
    let manifest = manifest.replace("../gateway/sdk", sdk.to_str().unwrap());
    assert_ne!(
        manifest,
        block(&readme, "### Writing one", "toml"),
        "the README's SDK path changed"
    );
    std::fs::write(
        krate.path().join("Cargo.toml"),
        format!("{manifest}\n[workspace]\n"),
    )
    .unwrap();
    std::fs::create_dir(krate.path().join("src")).unwrap();
    std::fs::write(krate.path().join("src/lib.rs"), code).unwrap();
    // Same dependency versions as the workspace, no network.
    std::fs::copy(root.join("Cargo.lock"), krate.path().join("Cargo.lock")).unwrap();
    let target = root.join("target").join("readme-walkthrough");
    let dir = krate.path().to_owned();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--offline",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target)
            .current_dir(&dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .stdout(Stdio::inherit())
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "the README's plugin does not build");
    let wasm = root.join("target/readme-walkthrough/wasm32-wasip2/release/constant_feed.wasm");
    let bytes = std::fs::read(&wasm).unwrap();

    let gw = TestGateway::start(|c| plugin_config(c, "sim-prices", "symbols", "USDJPY")).await;
    let mut client = gw.connect("reader").await;
    let ack = client
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true);
    gateway_tests::atomic_write(
        &gw.running.gateway.config.plugins_dir,
        "constant-feed.wasm",
        &bytes,
    );
    let tick = client
        .next("price:update", Duration::from_secs(20))
        .await
        .expect("the dropped-in plugin serves");
    assert_eq!(
        (tick["symbol"].as_str(), tick["bid"].as_f64()),
        (Some("EURUSD"), Some(1.1))
    );
    let slot = gw
        .running
        .gateway
        .plugins
        .registry()
        .get("constant-feed")
        .unwrap();
    assert_eq!(slot.current().unwrap().description.name, "constant-feed");
    gw.stop().await;
}
