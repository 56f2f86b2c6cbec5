//! The `gateway` binary's commands: `token` and `plugin check`.

use std::process::Command;

fn gateway() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.env_remove("JWT_SECRET")
        .env_remove("GATEWAY_DEV")
        .env("RUST_BACKTRACE", "0");
    cmd
}

#[test]
fn token_mints_a_jwt_for_the_configured_secret() {
    let out = gateway()
        .args(["token", "--sub", "alice", "--admin", "--ttl", "2h"])
        .env("JWT_SECRET", "cli-secret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let config = gateway::config::Config::default();
    let auth =
        gateway::auth::Authenticator::new(&config, Some("cli-secret"), reqwest::Client::new())
            .unwrap();
    let claims = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(auth.verify(token.trim()))
        .unwrap();
    assert_eq!(claims.sub, "alice");
    assert!(claims.is_admin());
    let ttl = claims.exp - gateway::time::now_ms() / 1000;
    assert!((7100..=7200).contains(&ttl), "ttl {ttl}");
}

#[test]
fn without_a_secret_outside_dev_mode_it_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = gateway()
        .args(["token", "--sub", "a"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("JWT_SECRET is not set") && err.contains("--dev"),
        "{err}"
    );
}

#[test]
fn plugin_check_describes_a_loadable_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let (_, wasm) = gateway::embedded::EMBEDDED_PLUGINS
        .iter()
        .find(|(n, _)| *n == "sim-prices")
        .unwrap();
    let file = dir.path().join("feed.wasm");
    std::fs::write(&file, wasm).unwrap();
    let out = gateway()
        .args(["plugin", "check"])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("kind:     price-source"), "{text}");
    assert!(
        text.contains("name:     sim-prices (loads as `feed`)"),
        "{text}"
    );
    assert!(text.contains("gateway:plugins/clock@0.1.0"), "{text}");
    assert!(text.contains("the gateway would load it"), "{text}");
}

#[test]
fn plugin_check_refuses_with_a_reason_and_a_failing_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk.wasm");
    std::fs::write(&file, b"definitely not wasm").unwrap();
    let out = gateway()
        .args(["plugin", "check"])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("would NOT load it: not a valid wasm component"),
        "{text}"
    );
    // A bad manifest beside it is reported too.
    let (_, wasm) = gateway::embedded::EMBEDDED_PLUGINS[0];
    std::fs::write(&file, wasm).unwrap();
    std::fs::write(dir.path().join("junk.toml"), "enabeld = true").unwrap();
    let out = gateway()
        .args(["plugin", "check"])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("enabeld"));
}
