//! Reading a JSON request body with a size cap: a declared length over the
//! cap is refused before a byte is read, and a body that grows past it is
//! cut off.

use axum::extract::Request;
use axum::http::header;
use serde::de::DeserializeOwned;

use super::ApiError;

/// The JSON body of `request` as a `T`, at most `max` bytes; it must be
/// sent as `application/json` (or `application/*+json`).
pub(super) async fn json<T: DeserializeOwned>(request: Request, max: usize) -> Result<T, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json")
                || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::InvalidPayload(
            "expected `Content-Type: application/json`".into(),
        ));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::TooLarge(max));
    }
    let bytes = axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|_| ApiError::TooLarge(max))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidPayload(e.to_string()))
}
