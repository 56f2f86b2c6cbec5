//! Observability end to end: the Grafana dashboard in `docs/grafana/` only
//! queries metrics a real gateway exports once it has seen traffic, and
//! the latency histograms have samples.

use std::collections::BTreeSet;
use std::time::Duration;

use gateway_tests::eventually_async;
use gateway_tests::promql::{exposed_series, metric_names};
use gateway_tests::server::TestGateway;
use gateway_tests::upstream;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/grafana/gateway-dashboard.json"
);

/// Every PromQL expression of the dashboard's panels, with its panel.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(DASHBOARD).expect("the dashboard is in the repo");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"]
        .as_array()
        .expect("the dashboard has panels");
    panels
        .iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| {
                    let expr = t["expr"].as_str().expect("every target has an expr");
                    (title.clone(), expr.to_owned())
                })
        })
        .collect()
}

async fn scrape(url: &str) -> String {
    let resp = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    // The order poller's upstream answers 503: its calls fail, so failures
    // by code have a series too.
    let trading = upstream::trading().await;
    trading.state.set_failing(true);
    let trading_url = trading.url.clone();
    let gw = TestGateway::start(move |c| {
        c.service_token = Some("svc".into());
        c.trading_service_url = Some(trading_url);
    })
    .await;
    let mut alice = gw.connect("alice").await;
    let ack = alice
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true);
    alice
        .next("price:update", WAIT)
        .await
        .expect("a price update");
    let ack = alice
        .emit_ack(
            "subscribe:events",
            &json!({ "eventTypes": ["MARGIN_CALL"] }),
        )
        .await;
    assert_eq!(ack["ok"], true);
    let posted = reqwest::Client::new()
        .post(format!("{}/api/events", gw.url))
        .bearer_auth("svc")
        .json(&json!({ "type": "MARGIN_CALL", "title": "Margin", "message": "top up", "severity": "critical" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    alice
        .next("event:notification", WAIT)
        .await
        .expect("the event");
    let ack = alice
        .emit_ack("chat:message", &json!({ "message": "price of EURUSD?" }))
        .await;
    assert_eq!(ack["ok"], true);
    alice
        .next("chat:message", WAIT)
        .await
        .expect("a chat reply");
    let ack = alice.emit_ack("no:such-event", &Value::Null).await;
    assert_eq!(ack["error"]["code"], "UNKNOWN_EVENT");

    let exposition = eventually_async(WAIT, "a failed order poll in /metrics", || async {
        let text = scrape(&gw.url).await;
        text.contains("gateway_plugin_failures_total{")
            .then_some(text)
    })
    .await;
    let exported = exposed_series(&exposition);
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 10,
        "the dashboard has {} queries",
        queries.len()
    );
    let mut queried = BTreeSet::new();
    let mut missing = Vec::new();
    for (panel, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "panel {panel:?}: no metric in {expr}");
        for name in names {
            if !exported.contains(&name) {
                missing.push(format!("{name} (panel {panel:?})"));
            }
            queried.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:#?}\n/metrics:\n{exposition}"
    );
    // Samples in the histograms the traffic above went through.
    for (series, label) in [
        ("gateway_tick_emit_seconds_count", ""),
        ("gateway_event_filter_seconds_count", ""),
        (
            "gateway_plugin_call_duration_seconds_count",
            "export=\"respond\"",
        ),
        (
            "gateway_plugin_call_duration_seconds_count",
            "export=\"filter\"",
        ),
    ] {
        let count: f64 = exposition
            .lines()
            .filter(|l| l.starts_with(series) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(count >= 1.0, "{series} {label}: {count} samples");
    }
    println!(
        "{} dashboard queries over {} metrics, all exported: {queried:?}",
        queries.len(),
        queried.len()
    );
    gw.stop().await;
}
