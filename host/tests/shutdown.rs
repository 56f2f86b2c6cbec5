//! The real binary on SIGTERM: it serves, then on the signal stops within
//! the shutdown timeout and exits cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .current_dir(dir.path())
        .envs([
            ("JWT_SECRET", "s"),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("LOG_FORMAT", "json"),
            ("RUST_BACKTRACE", "0"),
            (
                "COMPILE_CACHE_DIR",
                std::env::temp_dir()
                    .join("gateway-tests-compile-cache")
                    .to_str()
                    .unwrap(),
            ),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    let mut lines = stdout.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("gateway listening") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            addr = v["fields"]["addr"].as_str().map(str::to_owned);
            break;
        }
    }
    let addr = addr.expect("the gateway logged its address");
    let health = reqwest::blocking::get(format!("http://{addr}/health")).unwrap();
    assert_eq!(health.status(), 200);
    let started = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("shutting down"))),
        "it logged the shutdown"
    );
}
