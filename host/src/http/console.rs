//! The console: a web page at `/console` that shows the live market, the
//! plugins, the connections, and lets an operator try chat, events and
//! plugin uploads. Its files (`host/console/`) are compiled into the
//! binary, so it needs no internet access and no build step; its
//! Socket.IO client (`sio.js`) is our own, over the browser's WebSocket.
//! The page holds no secret: it calls the admin API with the token it is
//! given (or, in dev mode, mints one).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;

use axum::routing::get;

/// Only our own files, scripts and sockets; nothing inline, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// One embedded file served with its content type.
fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The console's routes; `dev`: the gateway is in dev mode (the page then
/// mints its own token instead of asking for one).
pub(super) fn routes<S: Clone + Send + Sync + 'static>(dev: bool) -> Router<S> {
    let mode = axum::Json(serde_json::json!({ "dev": dev }));
    let index = file(
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    );
    Router::new()
        .route("/console", get(index.clone()))
        .route("/console/", get(index))
        .route("/console/mode.json", get(move || async move { mode }))
        .route(
            "/console/console.js",
            get(file(
                "text/javascript; charset=utf-8",
                include_str!("../../console/console.js"),
            )),
        )
        .route(
            "/console/sio.js",
            get(file(
                "text/javascript; charset=utf-8",
                include_str!("../../console/sio.js"),
            )),
        )
        .route(
            "/console/console.css",
            get(file(
                "text/css; charset=utf-8",
                include_str!("../../console/console.css"),
            )),
        )
}
