//! The console (`/console`) and the admin API behind it. In a real browser:
//! headless Chromium (Debian's `chromium`, driven by npm `playwright-core`
//! from `tests/node/console.browser.mjs`) against a real gateway process
//! in dev mode — the page loads without console errors, a price cell
//! changes within two seconds, a plugin dropped into the plugins directory
//! and one uploaded through the page appear with their versions, a chat
//! answer streams in, a test event comes back, dev mode mints a token;
//! and against a gateway not in dev mode, the page asks for an admin token
//! once and keeps it for the tab's session.
//! Over plain HTTP: uploads are checked and a bad one changes nothing,
//! and the reload history, p99 and breaker state show in `/api/plugins`.
//!
//! `CONSOLE_SCREENSHOT=docs/console.png` saves the browser's view at the
//! end of its run (the README's picture).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use gateway_tests::process::GatewayProcess;
use gateway_tests::server::{SECRET, TestGateway};
use gateway_tests::{SWAP_A, SWAP_B, WRONG_WORLD, eventually_async, guest};
use serde_json::{Value, json};

/// Where Debian installs Chromium; `CHROMIUM` overrides it.
const CHROMIUM: &str = "/usr/bin/chromium";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    assert!(
        Path::new(&chromium).is_file(),
        "the console test needs Chromium at {chromium}: install Debian's `chromium` \
         (`apt-get install -y chromium`, as .ci/run does) or set CHROMIUM to a Chromium binary"
    );
    let suite = gateway_tests::node::suite_with("playwright-core");
    let dir = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::start_in(
        Path::new(env!("CARGO_BIN_EXE_gateway-node")),
        "console",
        dir.path(),
        &[("GATEWAY_DEV", "true".to_owned())],
    )
    .await;
    let locked = GatewayProcess::start(
        Path::new(env!("CARGO_BIN_EXE_gateway-node")),
        "console-locked",
        &[],
    )
    .await;
    let admin_token = gateway::auth::mint(SECRET, "ops", true, None, Duration::from_secs(600));
    let screenshot = std::env::var("CONSOLE_SCREENSHOT")
        .ok()
        .map(|p| workspace().join(p).display().to_string());
    let env = [
        ("GATEWAY_URL", gw.url.clone()),
        ("CHROMIUM", chromium),
        (
            "PLUGINS_DIR",
            dir.path().join("plugins.d").display().to_string(),
        ),
        ("DROP_WASM", SWAP_A.to_owned()),
        ("DROP_NAME", "swap".to_owned()),
        ("DROP_VERSION", "1.0.0".to_owned()),
        ("UPLOAD_WASM", SWAP_B.to_owned()),
        ("UPLOAD_VERSION", "2.0.0".to_owned()),
        ("LOGIN_URL", locked.url.clone()),
        ("ADMIN_TOKEN", admin_token),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("console.browser.mjs")
            .current_dir(&suite)
            .envs(env)
            .envs(screenshot.map(|s| ("SCREENSHOT", s)))
            .output()
            .expect("node must be installed to run the browser test")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the console failed in the browser (output above)"
    );
    assert!(
        stdout.contains("ok - no console errors"),
        "the browser run did not finish"
    );
    gw.stop().await;
    locked.stop().await;
}

/// `{ wasm, manifest }` for the upload endpoints.
fn upload(wasm: &[u8], manifest: Option<&str>) -> Value {
    json!({
        "wasm": base64::engine::general_purpose::STANDARD.encode(wasm),
        "manifest": manifest,
    })
}

/// A client of the admin API with `token`.
struct Admin {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Admin {
    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, name: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, &format!("/api/plugins/{name}"), body)
            .await
    }

    async fn check(&self, name: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            &format!("/api/plugins/{name}/check"),
            body,
        )
        .await
    }

    async fn plugin(&self, name: &str) -> Option<Value> {
        let all: Value = self
            .http
            .get(format!("{}/api/plugins", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    }
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_and_a_bad_one_changes_nothing() {
    let gw = TestGateway::start(|_| {}).await;
    let dir = gw.tmp.path().join("plugins.d");
    let http = reqwest::Client::new();
    let admin = Admin {
        http: http.clone(),
        url: gw.url.clone(),
        token: gw.admin_token(),
    };
    let user = Admin {
        http: http.clone(),
        url: gw.url.clone(),
        token: gw.token("alice"),
    };
    let good = upload(&guest(SWAP_A), Some("[config]\ninterval_ms = 20\n"));

    // Admins only; a non-admin upload is refused before anything is read.
    let (status, body) = user.put("swap", &good).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("FORBIDDEN")));
    let anonymous = http
        .put(format!("{}/api/plugins/swap", gw.url))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // Malformed and unloadable uploads: the contract's codes, nothing written.
    for (name, body, status) in [
        ("Bad-Name", good.clone(), 400),
        ("swap", json!({ "wasm": "not base64!" }), 400),
        ("swap", upload(b"not a component", None), 400),
        ("swap", upload(&guest(WRONG_WORLD), None), 400),
        ("swap", upload(&guest(SWAP_A), Some("[config\n")), 400),
        ("swap", json!({ "wasm": "AAAA", "extra": 1 }), 400),
    ] {
        let (got, answer) = admin.put(name, &body).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_PAYLOAD", "{answer}");
    }
    let (_, answer) = admin.put("swap", &upload(&guest(WRONG_WORLD), None)).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("would not load it"),
        "{answer}"
    );
    assert_eq!(files(&dir), Vec::<String>::new());
    assert!(admin.plugin("swap").await.is_none());

    // The check gives the verdict and writes nothing.
    let (status, verdict) = admin.check("swap", &good).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["loads"], true);
    assert_eq!(verdict["kind"], "price-source");
    assert_eq!(verdict["described"]["version"], "1.0.0");
    assert_eq!(verdict["described"]["intervalMs"], 20);
    let (status, verdict) = admin
        .check("swap", &upload(&guest(WRONG_WORLD), None))
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["loads"], false);
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("exports none of the plugin worlds"),
        "{verdict}"
    );
    assert_eq!(files(&dir), Vec::<String>::new());

    // A good upload goes live at once, with its manifest.
    let (status, answer) = admin.put("swap", &good).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plugin"]["version"], "1.0.0");
    assert_eq!(files(&dir), ["swap.toml", "swap.wasm"]);
    assert_eq!(std::fs::read(dir.join("swap.wasm")).unwrap(), guest(SWAP_A));

    // A replacement, then a refused file: the history says so, in order.
    let (status, answer) = admin.put("swap", &upload(&guest(SWAP_B), None)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plugin"]["version"], "2.0.0");
    let (status, _) = admin.put("swap", &upload(&guest(WRONG_WORLD), None)).await;
    assert_eq!(status, 400);
    assert_eq!(std::fs::read(dir.join("swap.wasm")).unwrap(), guest(SWAP_B));
    gateway_tests::atomic_write(&dir, "swap.wasm", b"garbage");
    let swap = eventually_async(Duration::from_secs(20), "the refused reload", || async {
        admin
            .plugin("swap")
            .await
            .filter(|p| p["reloads"].as_array().unwrap().len() == 3)
    })
    .await;
    let history: Vec<(Value, Value)> = swap["reloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["version"].clone(), r["outcome"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (json!("1.0.0"), json!("loaded")),
            (json!("2.0.0"), json!("replaced")),
            (Value::Null, json!("refused")),
        ]
    );
    assert_eq!(swap["version"], "2.0.0", "the running version stays");

    // Calls give a p99; the breaker is closed.
    let swap = eventually_async(Duration::from_secs(20), "calls of swap", || async {
        admin
            .plugin("swap")
            .await
            .filter(|p| p["calls"].as_u64() > Some(0))
    })
    .await;
    assert!(swap["p99CallMs"].as_f64().unwrap() > 0.0, "{swap}");
    assert_eq!(swap["breaker"], "closed");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_dev_mode_the_console_asks_for_a_token_and_mints_none() {
    let gw = TestGateway::start(|_| {}).await;
    let page = reqwest::get(format!("{}/console", gw.url)).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("Admin token"));
    for file in ["console.js", "sio.js", "console.css"] {
        let res = reqwest::get(format!("{}/console/{file}", gw.url))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{file}");
    }
    let mode: Value = reqwest::get(format!("{}/console/mode.json", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mode, json!({ "dev": false }));
    let mint = reqwest::Client::new()
        .post(format!("{}/api/dev/token", gw.url))
        .json(&json!({ "sub": "mallory", "admin": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(mint.status().as_u16(), 404);
    gw.stop().await;
}
