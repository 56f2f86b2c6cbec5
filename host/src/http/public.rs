//! Endpoints anyone may call: health, status and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin::require_admin;
use crate::app::Gateway;

/// `GET /health`: 200 while serving, 503 once shutdown began.
pub(super) async fn health(State(g): State<Arc<Gateway>>) -> Response {
    if g.is_shutting_down() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting_down" })),
        )
            .into_response()
    } else {
        Json(json!({ "status": "ok" })).into_response()
    }
}

/// `GET /api/status`: service, version, uptime, counts and plugins; in
/// cluster mode also this node's id and the source plugins it runs (holds
/// the lease of); both `null` otherwise.
pub(super) async fn status(State(g): State<Arc<Gateway>>) -> Json<Value> {
    let plugins: Vec<Value> = g
        .plugins
        .registry()
        .statuses()
        .into_iter()
        .map(|p| json!({ "name": p.name, "kind": p.kind, "version": p.version, "health": p.state }))
        .collect();
    Json(json!({
        "service": "gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": g.started.elapsed().as_secs(),
        "connections": g.caps.total(),
        "users": g.caps.users(),
        "plugins": plugins,
        "nodeId": g.cluster.as_ref().map(|c| c.node_id()),
        "leases": g.leases.as_ref().map(|l| l.held()),
    }))
}

/// `GET /metrics`: Prometheus text; admin-only unless `METRICS_PUBLIC`.
pub(super) async fn metrics(State(g): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if !g.config.metrics_public
        && let Err(e) = require_admin(&g, &headers).await
    {
        return e.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        g.metrics.render(),
    )
        .into_response()
}
