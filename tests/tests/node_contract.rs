//! Runs the contract suite in `tests/node/` — written with the real
//! `socket.io-client@4` from npm — against a real gateway with fake
//! trading and user services. Node 20 and npm must be installed; the
//! suite's dependencies are installed with `npm ci` when missing.

use std::process::Command;

use gateway_tests::server::{SECRET, TestGateway, plugin_config};
use gateway_tests::upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_contract_suite() {
    let suite = gateway_tests::node::suite_with("socket.io-client");
    let trading = upstream::trading().await;
    let users = upstream::users().await;
    let (trading_url, users_url) = (trading.url.clone(), users.url.clone());
    let gw = TestGateway::start(move |c| {
        c.trading_service_url = Some(trading_url);
        c.user_service_url = Some(users_url);
        c.service_token = Some("svc-token".into());
        c.max_connections_per_user = 3;
        c.max_messages_per_minute = 30;
        c.max_symbols_per_socket = 5;
        c.flood_disconnect_after = 10;
        c.jwt_leeway_secs = 0;
        plugin_config(c, "sim-prices", "symbols", "EURUSD,GBPUSD,USDJPY,XAUUSD");
        plugin_config(c, "order-poller", "interval_ms", "50");
    })
    .await;
    let env = [
        ("GATEWAY_URL", gw.url.clone()),
        ("JWT_SECRET", SECRET.to_owned()),
        ("SERVICE_TOKEN", "svc-token".to_owned()),
        ("TRADING_CONTROL_URL", trading.url.clone()),
        ("MAX_CONNECTIONS_PER_USER", "3".to_owned()),
        ("MAX_MESSAGES_PER_MINUTE", "30".to_owned()),
        ("MAX_SYMBOLS_PER_SOCKET", "5".to_owned()),
        ("FLOOD_DISCONNECT_AFTER", "10".to_owned()),
        ("JWT_LEEWAY_SECS", "0".to_owned()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("npm")
            .args(["test", "--silent"])
            .current_dir(&suite)
            .envs(env)
            .output()
            .expect("npm must be installed to run the socket.io-client suite")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    gw.stop().await;
    assert!(
        output.status.success(),
        "the socket.io-client contract suite failed (output above)"
    );
    assert!(stdout.contains("# pass"), "the suite ran no tests");
}
