//! The HTTP API: health, status, the admin API (with plugin uploads),
//! event publishing, metrics, the console page and, in dev mode, token
//! minting. Errors are JSON `{ error: { code, message } }` with the proper
//! status code.

mod admin;
mod body;
mod console;
pub(crate) mod detach;
mod dev_token;
mod error;
mod events;
mod plugin_upload;
mod public;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{get, post, put};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::Gateway;
use crate::config::Config;
pub(crate) use error::ApiError;

/// The routes, sharing `gateway`.
pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    let mut router = Router::new();
    if gateway.dev_secret.is_some() {
        router = router.route("/api/dev/token", post(dev_token::mint));
    }
    router
        .merge(console::routes(gateway.dev_secret.is_some()))
        .route("/health", get(public::health))
        .route("/api/status", get(public::status))
        .route("/metrics", get(public::metrics))
        .route("/api/connections", get(admin::connections))
        .route("/api/plugins", get(admin::plugins))
        .route("/api/plugins/{name}", put(plugin_upload::upload))
        .route("/api/plugins/{name}/check", post(plugin_upload::check))
        .route("/api/events", post(events::publish))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(gateway)
}

/// CORS for the HTTP API and Socket.IO's polling transport, from `FRONTEND_URL`.
pub(crate) fn cors(config: &Config) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    match config.cors_origins() {
        None => layer.allow_origin(AllowOrigin::any()),
        Some(origins) => layer
            .allow_origin(AllowOrigin::list(
                origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
            ))
            .allow_credentials(true),
    }
}
