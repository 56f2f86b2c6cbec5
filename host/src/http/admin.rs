//! The admin API: connections and plugins, for tokens with the admin role.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::ApiError;
use crate::app::Gateway;
use crate::auth::Claims;
use crate::auth::credentials::bearer;

/// 401 without a valid token, 403 without the admin role.
pub(super) async fn require_admin(g: &Gateway, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let token = bearer(headers)
        .ok_or_else(|| ApiError::Unauthorized("a Bearer token is required".into()))?;
    let claims = g
        .auth
        .verify(token)
        .await
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    if claims.is_admin() {
        Ok(claims)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `GET /api/connections`.
pub(super) async fn connections(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&g, &headers).await?;
    let connections = g.delivery.connections();
    Ok(Json(json!({
        "count": connections.len(),
        "parked": g.delivery.parked(),
        "connections": connections,
    })))
}

/// `GET /api/plugins`.
pub(super) async fn plugins(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_admin(&g, &headers).await?;
    let registry = g.plugins.registry();
    let plugins: Vec<Value> = registry
        .statuses()
        .into_iter()
        .map(|status| {
            let holdings = g.delivery.holdings(&status.name);
            let mut entry = json!(status);
            if let (Some(held), Some(fields)) = (holdings, entry.as_object_mut()) {
                fields.insert("owns".into(), json!(held.owns));
                fields.insert("standsBy".into(), json!(held.stands_by));
            }
            entry
        })
        .collect();
    Ok(Json(json!({
        "plugins": plugins,
        "rejected": registry.rejected(),
        "directory": g.plugins.dir(),
    })))
}
