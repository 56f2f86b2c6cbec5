//! The operator tools of the `gateway` command, run as a person runs them:
//! the real binary (`gateway-node`, the command's own `main.rs`) with a
//! clean environment. `config defaults` prints a file that loads back to
//! the defaults; `config check` hides secrets, lists every problem at
//! once, as the server's start-up does, and points out mistyped
//! variables; `token verify` gives the host's own verdict on a good, an
//! expired and a wrongly signed token.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway_tests::server::SECRET;

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway-node");

/// Runs the gateway command with `args` and only `env` (plus the temporary
/// data and plugin directories under `dir`); gives up after 30 s.
fn gateway(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(GATEWAY)
        .args(args)
        .env_clear()
        .env("DATA_DIR", dir.join("data"))
        .env("PLUGINS_DIR", dir.join("plugins.d"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {GATEWAY}: {e}"));
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("`gateway {}` did not finish", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The effective settings without the `# origin` notes.
fn settings_only(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split("    # ").next().unwrap_or(l).to_owned())
        .collect()
}

#[test]
fn config_defaults_loads_back_to_the_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let out = gateway(tmp.path(), &["config", "defaults"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let defaults = text(&out.stdout);
    assert!(defaults.contains("\nport = 3006\n"), "{defaults}");
    assert!(
        defaults.contains("# env: MAX_CONNECTIONS_PER_USER\n"),
        "{defaults}"
    );
    let file = tmp.path().join("gateway.toml");
    std::fs::write(&file, &defaults).unwrap();

    let secret = [("JWT_SECRET", SECRET)];
    let with_file = gateway(
        tmp.path(),
        &["config", "check", "--config", file.to_str().unwrap()],
        &secret,
    );
    assert!(with_file.status.success(), "{}", text(&with_file.stderr));
    let without = gateway(tmp.path(), &["config", "check"], &secret);
    assert!(without.status.success(), "{}", text(&without.stderr));
    assert_eq!(
        settings_only(&text(&with_file.stdout)),
        settings_only(&text(&without.stdout)),
        "the printed defaults load to other settings than no file"
    );
}

#[test]
fn config_check_hides_secrets_and_lists_every_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let good = gateway(
        tmp.path(),
        &["config", "check"],
        &[
            ("JWT_SECRET", "jwt-secret-under-test"),
            ("SERVICE_TOKEN", "service-token-under-test"),
            (
                "GATEWAY_PLUGIN__CHAT_ASSISTANT__LLM_API_KEY",
                "llm-key-under-test",
            ),
            ("PORT", "4000"),
            ("MAX_CONECTIONS_PER_USER", "3"),
        ],
    );
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert!(
        text(&good.stderr).contains(
            "warning: environment variable MAX_CONECTIONS_PER_USER: not a gateway setting, ignored; did you mean `MAX_CONNECTIONS_PER_USER`?"
        ),
        "{}",
        text(&good.stderr)
    );
    let shown = text(&good.stdout) + &text(&good.stderr);
    for secret in [
        "jwt-secret-under-test",
        "service-token-under-test",
        "llm-key-under-test",
    ] {
        assert!(!shown.contains(secret), "{secret} printed:\n{shown}");
    }
    assert!(shown.contains("jwt_secret = \"<hidden>\""), "{shown}");
    assert!(
        shown.contains("port = 4000    # environment PORT"),
        "{shown}"
    );

    let file = tmp.path().join("gateway.toml");
    std::fs::write(&file, "prot = 4000\n").unwrap();
    let bad_env = [("JWT_SECRET", SECRET), ("MAX_CONNECTIONS_PER_USER", "-1")];
    let file_arg = file.to_str().unwrap();
    let bad = gateway(
        tmp.path(),
        &["config", "check", "--config", file_arg],
        &bad_env,
    );
    assert!(
        !bad.status.success(),
        "a bad configuration passed the check"
    );
    let problems = text(&bad.stderr);
    assert!(
        problems.contains("the configuration has 2 problems:"),
        "{problems}"
    );
    assert!(
        problems.contains(
            "environment variable MAX_CONNECTIONS_PER_USER = \"-1\": expected a whole number from 0 to"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("prot = 4000: not a known setting; did you mean `port`?"),
        "{problems}"
    );
    assert!(!problems.contains(SECRET), "{problems}");

    // Starting the server reports the same problems the same way.
    let serve = gateway(tmp.path(), &["--config", file_arg], &bad_env);
    assert!(!serve.status.success());
    let serve_problems = text(&serve.stderr);
    assert_eq!(
        serve_problems.matches("MAX_CONNECTIONS_PER_USER").count(),
        1,
        "each problem once: {serve_problems}"
    );
    assert!(
        serve_problems.contains("the configuration has 2 problems:"),
        "{serve_problems}"
    );
    assert_eq!(
        problems
            .lines()
            .filter(|l| l.starts_with("  - "))
            .collect::<Vec<_>>(),
        serve_problems
            .lines()
            .filter(|l| l.starts_with("  - "))
            .collect::<Vec<_>>()
    );
}

#[test]
fn token_verify_gives_the_gateways_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("JWT_SECRET", SECRET), ("JWT_ISSUER", "https://idp.test")];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |exp: u64, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({ "sub": "alice", "exp": exp, "iss": "https://idp.test" }),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };

    let good = gateway(
        tmp.path(),
        &["token", "verify", &sign(now + 3600, SECRET)],
        &env,
    );
    assert!(
        good.status.success(),
        "{}{}",
        text(&good.stdout),
        text(&good.stderr)
    );
    assert!(text(&good.stdout).starts_with("verdict:  ACCEPTED: user \"alice\""));

    let expired = gateway(
        tmp.path(),
        &["token", "verify", &sign(now - 600, SECRET)],
        &env,
    );
    assert!(!expired.status.success());
    let report = text(&expired.stdout);
    assert!(
        report.starts_with("verdict:  REJECTED: AUTH_EXPIRED"),
        "{report}"
    );
    assert!(
        report.contains("ago)"),
        "the report says when it expired: {report}"
    );

    let forged = gateway(
        tmp.path(),
        &["token", "verify", &sign(now + 3600, "some-other-secret")],
        &env,
    );
    assert!(!forged.status.success());
    let report = text(&forged.stdout);
    assert!(
        report.starts_with("verdict:  REJECTED: AUTH_INVALID: bad signature"),
        "{report}"
    );
    assert!(
        report.contains("key:      HS256 with JWT_SECRET"),
        "{report}"
    );

    // A token minted by the command itself is accepted by the same config.
    let minted = gateway(
        tmp.path(),
        &["token", "--sub", "bob"],
        &[("JWT_SECRET", SECRET)],
    );
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let token = text(&minted.stdout);
    let check = gateway(
        tmp.path(),
        &["token", "verify", token.trim()],
        &[("JWT_SECRET", SECRET)],
    );
    assert!(check.status.success(), "{}", text(&check.stdout));
}
