//! The README's commands, run exactly as typed from the workspace root, as a
//! newcomer on a fresh clone would: the run command serves (`/health`
//! answers) and accepts a token from the README's token command, the
//! per-plugin configuration example takes effect, and CI runs the README's
//! test command; the configuration tools' commands run and say what they
//! should. Only the environment differs from a newcomer's shell: a
//! free port and empty data and plugin directories, so the test neither
//! collides with a gateway on :3006 nor depends on what an earlier run left.
//!
//! The first run builds the release profile (minutes on a cold target dir).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gateway_tests::readme;
use gateway_tests::sio;
use serde_json::json;

/// Longest wait for the run command to build and serve.
const BUILD_AND_START: Duration = Duration::from_secs(40 * 60);

/// A README command running in its own process group, logging to a file.
struct Running {
    child: Child,
    log: std::path::PathBuf,
    url: String,
}

impl Running {
    /// Starts `command` from the workspace root with `env` added.
    fn start(command: &str, env: &[(&str, String)], tmp: &Path, port: u16) -> Self {
        let parsed = readme::parse(command);
        let log = tmp.join("output.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(&parsed.words[0]);
        cmd.args(&parsed.words[1..])
            .current_dir(readme::root())
            .envs(parsed.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATA_DIR", tmp.join("data"))
            .env("PLUGINS_DIR", tmp.join("plugins.d"));
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        Self {
            child,
            log,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/health` answers 200.
    async fn healthy(&mut self, command: &str) {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.url)).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{command:?} exited with {status} before serving:\n{}",
                    self.output()
                );
            }
            assert!(
                started.elapsed() < BUILD_AND_START,
                "{command:?} did not serve within {BUILD_AND_START:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Usually gone by now; then `kill` only complains.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `command` to completion from the workspace root; its stdout.
fn output_of(command: &str, env: &[(&str, String)]) -> String {
    let parsed = readme::parse(command);
    let out = Command::new(&parsed.words[0])
        .args(&parsed.words[1..])
        .current_dir(readme::root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_work_as_typed() {
    let text = readme::text();
    let commands = readme::commands(readme::block(&text, "## Run and test", "sh"));
    let [run, test] = &commands[..] else {
        panic!("the README's first block should hold the run and test commands: {commands:?}");
    };
    let ci = std::fs::read_to_string(readme::root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == test),
        "CI does not run the README's test command {test:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let mut gateway = Running::start(run, &[], tmp.path(), free_port());
    gateway.healthy(run).await;
    assert!(
        gateway.output().contains("dev token for user `dev`"),
        "the run command in dev mode logs an admin token"
    );
    let token_commands = readme::inline_commands(&text, "cargo run --release -- --dev token");
    assert!(
        !token_commands.is_empty(),
        "the README shows how to mint a token"
    );
    for command in token_commands {
        let env = [("DATA_DIR", tmp.path().join("data").display().to_string())];
        let token = output_of(&command, &env).trim().to_owned();
        let mut client = sio::connect(&gateway.url, sio::Options::token(&token))
            .await
            .unwrap_or_else(|e| panic!("the token of {command:?} is refused: {e:?}"));
        let ack = client
            .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        assert!(
            client
                .next("price:update", Duration::from_secs(10))
                .await
                .is_some(),
            "the simulated source serves EURUSD"
        );
    }
    drop(gateway);

    let example = readme::commands(readme::block(&text, "GATEWAY_PLUGIN__NAME__KEY", "sh"));
    let [example] = &example[..] else {
        panic!("one per-plugin configuration example expected: {example:?}");
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut gateway = Running::start(example, &[], tmp.path(), free_port());
    gateway.healthy(example).await;
    let token = output_of(
        "cargo run --release -- --dev token --sub bob",
        &[("DATA_DIR", tmp.path().join("data").display().to_string())],
    );
    let mut client = sio::connect(&gateway.url, sio::Options::token(token.trim()))
        .await
        .unwrap();
    client
        .emit_ack(
            "subscribe:prices",
            &json!({ "symbols": ["EURUSD", "GBPUSD", "USDJPY"] }),
        )
        .await;
    let updates = client.drain(Duration::from_secs(2)).await;
    let symbols: Vec<String> = updates
        .iter()
        .filter_map(|m| match m {
            sio::Incoming::Event(name, data) if name == "price:update" => {
                data["symbol"].as_str().map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    assert!(
        !symbols.iter().any(|s| s == "USDJPY"),
        "SYMBOLS=EURUSD,GBPUSD leaves USDJPY out: {symbols:?}"
    );
    assert!(
        symbols.iter().filter(|s| *s == "EURUSD").count() >= 8,
        "INTERVAL_MS=100 gives about ten EURUSD ticks in two seconds, not the default one: {symbols:?}"
    );
}

#[test]
fn the_configuration_tools_work_as_typed() {
    let text = readme::text();
    let commands = readme::commands(readme::block(&text, "## Configuration tools", "sh"));
    assert_eq!(commands.len(), 3, "{commands:?}");
    let tmp = tempfile::tempdir().unwrap();
    let env = [("DATA_DIR", tmp.path().join("data").display().to_string())];
    let token = output_of("cargo run --release -- --dev token --sub alice", &env);
    let expected = [
        ("config defaults", "\nmax_connections_per_user = 5\n"),
        ("config check", "# OK: the gateway would start"),
        ("token verify", "verdict:  ACCEPTED: user \"alice\""),
    ];
    for (command, (name, says)) in commands.iter().zip(expected) {
        assert!(command.contains(name), "{command:?} is not `{name}`");
        let command = command.replace("$TOKEN", token.trim());
        let out = output_of(&command, &env);
        assert!(out.contains(says), "{command:?} printed:\n{out}");
    }
}
