//! Observability end to end: the Grafana dashboard in `docs/grafana/` only
//! queries metrics a real gateway exports once it has seen traffic, and
//! the latency histograms have samples; a gateway process with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set sends its spans to a real OTLP/HTTP
//! receiver, and a plugin's outbound request carries the `traceparent` of
//! an exported span.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gateway_tests::process::GatewayProcess;
use gateway_tests::promql::{exposed_series, metric_names};
use gateway_tests::server::TestGateway;
use gateway_tests::upstream::{self, MarketMode};
use gateway_tests::{eventually, eventually_async};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use parking_lot::Mutex;
use prost::Message;
use serde_json::{Value, json};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway-node");

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

/// One span as the OTLP receiver got it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, its spans kept.
async fn otlp_receiver() -> upstream::Fake<Mutex<Vec<Received>>> {
    async fn traces(
        State(spans): State<Arc<Mutex<Vec<Received>>>>,
        body: Bytes,
    ) -> impl IntoResponse {
        let Ok(request) = ExportTraceServiceRequest::decode(body) else {
            return (StatusCode::BAD_REQUEST, Vec::new());
        };
        let mut kept = spans.lock();
        for span in request
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
        {
            kept.push(Received {
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: span
                    .attributes
                    .into_iter()
                    .map(|kv| {
                        let value = match kv.value.and_then(|v| v.value) {
                            Some(AnyValue::StringValue(s)) => s,
                            other => format!("{other:?}"),
                        };
                        (kv.key, value)
                    })
                    .collect(),
            });
        }
        let reply = ExportTraceServiceResponse::default().encode_to_vec();
        (StatusCode::OK, reply)
    }
    let spans = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(spans.clone());
    upstream::serve(spans, router).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps the `traceparent` header of every request.
async fn record_traceparent(
    State(seen): State<Arc<Mutex<Vec<String>>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(v) = request.headers().get("traceparent") {
        seen.lock().push(v.to_str().unwrap_or("").to_owned());
    }
    next.run(request).await
}

#[tokio::test]
async fn spans_reach_an_otlp_receiver_and_plugin_requests_carry_their_traceparent() {
    let receiver = otlp_receiver().await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let mode = Arc::new(Mutex::new(MarketMode::Prices(vec![
        json!({ "symbol": "EURUSD", "bid": 1.1, "ask": 1.1002 }),
    ])));
    let router = upstream::market_router(mode).layer(axum::middleware::from_fn_with_state(
        seen.clone(),
        record_traceparent,
    ));
    let market = upstream::serve(seen.clone(), router).await;
    let gw = GatewayProcess::start(
        Path::new(GATEWAY),
        "traced",
        &[
            ("MARKET_DATA_SERVICE_URL", market.url.clone()),
            ("GATEWAY_PLUGIN__HTTP_PRICES__INTERVAL_MS", "100".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ],
    )
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
        .emit_ack("chat:message", &json!({ "message": "price of EURUSD?" }))
        .await;
    assert_eq!(ack["ok"], true);
    alice
        .next("chat:message", WAIT)
        .await
        .expect("a chat reply");

    let traceparent = eventually(WAIT, "a traceparent at the market service", || {
        seen.lock().first().cloned()
    })
    .await;
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert!(
        parts.len() == 4 && parts[0] == "00" && parts[1].len() == 32 && parts[2].len() == 16,
        "not a W3C traceparent: {traceparent}"
    );
    let (trace_id, parent_id) = (parts[1].to_owned(), parts[2].to_owned());
    let spans = &receiver.state;
    // The request's parent is the exported span of the import that sent it,
    // a child of the price source's `poll` call.
    let send = eventually(WAIT, "the span of the request's host import", || {
        spans
            .lock()
            .iter()
            .find(|s| s.trace_id == trace_id && s.span_id == parent_id)
            .cloned()
    })
    .await;
    assert_eq!(send.name, "host.http.send");
    let call = eventually(WAIT, "the plugin call around the import", || {
        spans
            .lock()
            .iter()
            .find(|s| s.span_id == send.parent_span_id)
            .cloned()
    })
    .await;
    assert_eq!(call.name, "plugin.call");
    assert_eq!(call.trace_id, trace_id);
    assert_eq!(call.attribute("plugin"), Some("http-prices"));
    assert_eq!(call.attribute("export"), Some("poll"));
    // A client event's span is the parent of the plugin call it caused.
    let (event, respond) = eventually(WAIT, "the chat event and its plugin call", || {
        let all = spans.lock();
        let event = all
            .iter()
            .find(|s| s.name == "socket.event" && s.attribute("event") == Some("chat:message"))?;
        let respond = all.iter().find(|s| {
            s.name == "plugin.call"
                && s.attribute("export") == Some("respond")
                && s.parent_span_id == event.span_id
        })?;
        Some((event.clone(), respond.clone()))
    })
    .await;
    assert_eq!(event.trace_id, respond.trace_id);
    let names: BTreeSet<String> = spans.lock().iter().map(|s| s.name.clone()).collect();
    println!(
        "{} spans received, names {names:?}; traceparent {traceparent}",
        spans.lock().len()
    );
    gw.stop().await;
}
