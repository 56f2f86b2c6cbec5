//! `POST /api/dev/token`, routed in dev mode only: mints an HS256 token
//! with the dev secret, so the console (and a developer with curl) can
//! connect without the `token` command. A gateway not in dev mode has no
//! such route.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::app::Gateway;

/// How long minted tokens are valid.
const TTL: Duration = Duration::from_secs(12 * 3600);

/// The largest body read.
const MAX_BODY: usize = 4096;

/// The body: who the token is for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wanted {
    sub: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    name: Option<String>,
}

/// `{ token, sub, admin, expiresInSecs }`.
pub(super) async fn mint(
    State(g): State<Arc<Gateway>>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let secret = g.dev_secret.as_deref().ok_or(ApiError::NotFound)?;
    let wanted: Wanted = super::body::json(request, MAX_BODY).await?;
    if wanted.sub.is_empty() || wanted.sub.len() > 256 || matches!(wanted.sub.as_str(), "." | "..")
    {
        return Err(ApiError::InvalidPayload(
            "`sub` must have 1 to 256 bytes and not be `.` or `..`".into(),
        ));
    }
    let token = crate::auth::mint(
        secret,
        &wanted.sub,
        wanted.admin,
        wanted.name.as_deref(),
        TTL,
    );
    Ok(Json(json!({
        "token": token,
        "sub": wanted.sub,
        "admin": wanted.admin,
        "expiresInSecs": TTL.as_secs(),
    })))
}
