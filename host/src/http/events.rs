//! `POST /api/events`: publishes a system event through the event filter
//! plugins; admins and holders of the service token may call it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ApiError;
use super::admin::require_admin;
use crate::app::Gateway;
use crate::auth::credentials::{bearer, is_secret};
use crate::protocol::is_event_type;
use crate::protocol::payloads::{Event, Severity};

/// The body of `POST /api/events`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NewEvent {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    message: String,
    severity: Severity,
    #[serde(default)]
    target_user_ids: Option<Vec<String>>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

/// The largest body read (10 000 targets of 200 bytes each fit).
const MAX_BODY: usize = 2 * 1024 * 1024;
const MAX_TITLE: usize = 200;
const MAX_MESSAGE: usize = 5000;
const MAX_TARGETS: usize = 10_000;

impl NewEvent {
    fn into_event(self) -> Result<Event, ApiError> {
        let bad = |m: &str| Err(ApiError::InvalidPayload(m.to_owned()));
        if !is_event_type(&self.kind) {
            return bad("`type` must match ^[A-Z][A-Z0-9_]{0,63}$");
        }
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE {
            return bad("`title` must have 1 to 200 characters");
        }
        if self.message.trim().is_empty() || self.message.chars().count() > MAX_MESSAGE {
            return bad("`message` must have 1 to 5000 characters");
        }
        if self
            .target_user_ids
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > MAX_TARGETS)
        {
            return bad("`targetUserIds` must list 1 to 10000 users");
        }
        if self
            .id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > 128)
        {
            return bad("`id` must have 1 to 128 characters");
        }
        let mut extra = Map::new();
        if let Some(data) = self.data {
            extra.insert("data".into(), Value::Object(data));
        }
        Ok(Event {
            id: self.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            kind: self.kind,
            title: self.title,
            message: self.message,
            severity: self.severity,
            timestamp: crate::time::now_ms(),
            target_user_ids: self.target_user_ids,
            extra,
        })
    }
}

/// Accepts the event (202 with its id, once recorded; an id accepted before
/// is not delivered again) and delivers it in the background. The caller is
/// authenticated before a byte of the body is read.
pub(super) async fn publish(
    State(g): State<Arc<Gateway>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize(&g, request.headers()).await?;
    let new: NewEvent = super::body::json(request, MAX_BODY).await?;
    let event = new.into_event()?;
    let id = event.id.clone();
    g.delivery
        .clone()
        .accept_events(vec![event])
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))))
}

/// The service token (compared in constant time) or an admin token.
async fn authorize(g: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let service = g.config.service_token.as_deref();
    let presented = bearer(headers);
    if let (Some(secret), Some(token)) = (service, presented)
        && is_secret(token, secret)
    {
        return Ok(());
    }
    require_admin(g, headers).await.map(drop)
}
