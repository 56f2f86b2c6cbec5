//! Deploying a plugin over HTTP, for admins (the console's upload):
//! `POST /api/plugins/{name}/check` answers the verdict `gateway plugin
//! check` gives, and `PUT /api/plugins/{name}` checks the same way, then
//! writes `NAME.wasm` (and `NAME.toml`) into the plugins directory, each
//! whole and renamed into place, and loads it as the watcher would. An
//! upload that is malformed, too large or that the gateway would not load
//! changes nothing.
//!
//! Both take `{ "wasm": base64, "manifest"?: TOML text }` as JSON: one
//! request carries both files, so they are published together.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::admin::require_admin;
use crate::app::Gateway;
use crate::plugin::check::Verdict;
use crate::plugin::deploy::{PublishError, valid_name};
use crate::plugin::manifest::Manifest;

/// The largest component taken over HTTP (a larger one can still be copied
/// into the plugins directory).
pub(crate) const MAX_UPLOAD_WASM: usize = 32 << 20;

/// The largest manifest taken (the directory's own cap).
const MAX_UPLOAD_MANIFEST: usize = 64 << 10;

/// The largest body read: the component in base64, the manifest, and room
/// for JSON escapes.
const MAX_BODY: usize = MAX_UPLOAD_WASM / 3 * 4 + 8 + 2 * MAX_UPLOAD_MANIFEST + 1024;

/// The body of both endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    wasm: String,
    #[serde(default)]
    manifest: Option<String>,
}

/// An upload whose parts decoded and parsed.
#[derive(Debug)]
struct Parsed {
    wasm: Arc<[u8]>,
    manifest: Option<(String, Manifest)>,
}

impl Upload {
    fn parse(self, name: &str) -> Result<Parsed, ApiError> {
        if !valid_name(name) {
            return Err(ApiError::InvalidPayload(
                "plugin names are [a-z0-9][a-z0-9_-]* (at most 64 characters)".into(),
            ));
        }
        let wasm = base64::engine::general_purpose::STANDARD
            .decode(self.wasm.trim())
            .map_err(|e| ApiError::InvalidPayload(format!("`wasm` is not base64: {e}")))?;
        if wasm.is_empty() {
            return Err(ApiError::InvalidPayload("`wasm` is empty".into()));
        }
        if wasm.len() > MAX_UPLOAD_WASM {
            return Err(ApiError::TooLarge(MAX_UPLOAD_WASM));
        }
        let manifest = match self.manifest {
            None => None,
            Some(text) if text.len() > MAX_UPLOAD_MANIFEST => {
                return Err(ApiError::TooLarge(MAX_UPLOAD_MANIFEST));
            }
            Some(text) => {
                let parsed = Manifest::parse(&text).map_err(|e| {
                    ApiError::InvalidPayload(format!("`manifest` is not a valid manifest: {e}"))
                })?;
                Some((text, parsed))
            }
        };
        Ok(Parsed {
            wasm: Arc::from(wasm),
            manifest,
        })
    }
}

/// Reads and parses the upload of an admin; checks it.
async fn checked(
    g: &Arc<Gateway>,
    name: &str,
    request: Request,
) -> Result<(Parsed, Verdict), ApiError> {
    require_admin(g, request.headers()).await?;
    let upload: Upload = super::body::json(request, MAX_BODY).await?;
    let parsed = upload.parse(name)?;
    let candidate = g
        .plugins
        .candidate_for(
            name,
            parsed.wasm.clone(),
            parsed.manifest.as_ref().map(|(_, m)| m.clone()),
        )
        .await
        .map_err(|e| ApiError::InvalidPayload(e.to_string()))?;
    let checker = g.checker.clone();
    let verdict = tokio::task::spawn_blocking(move || checker.check(&candidate))
        .await
        .map_err(|e| ApiError::Unavailable(format!("the check panicked: {e}")))?;
    Ok((parsed, verdict))
}

/// `POST /api/plugins/{name}/check`: the verdict, whatever it is.
pub(super) async fn check(
    State(g): State<Arc<Gateway>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<Verdict>, ApiError> {
    let (_, verdict) = checked(&g, &name, request).await?;
    Ok(Json(verdict))
}

/// `PUT /api/plugins/{name}`: publishes a component that passes the check
/// and answers the verdict with the plugin as it now runs.
pub(super) async fn upload(
    State(g): State<Arc<Gateway>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parsed, verdict) = checked(&g, &name, request).await?;
    if let Some(e) = &verdict.error {
        return Err(ApiError::InvalidPayload(format!(
            "the gateway would not load it: {e}"
        )));
    }
    g.plugins
        .publish(&name, parsed.wasm, parsed.manifest.map(|(text, _)| text))
        .await
        .map_err(|e| match e {
            PublishError::Name => ApiError::InvalidPayload(e.to_string()),
            PublishError::NoDirectory | PublishError::Write(_) => {
                ApiError::Unavailable(e.to_string())
            }
        })?;
    let plugin = g
        .plugins
        .registry()
        .statuses()
        .into_iter()
        .find(|p| p.name == name);
    Ok(Json(json!({ "verdict": verdict, "plugin": plugin })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(wasm: &str, manifest: Option<&str>) -> Upload {
        Upload {
            wasm: wasm.to_owned(),
            manifest: manifest.map(str::to_owned),
        }
    }

    fn encoded(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn refusal(r: Result<Parsed, ApiError>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(p) => panic!("accepted: {p:?}"),
        }
    }

    #[test]
    fn a_good_upload_decodes_and_parses() {
        let p = upload(&encoded(b"\0asm"), Some("[config]\ninterval_ms = 20\n"))
            .parse("feed-2")
            .unwrap();
        assert_eq!(&*p.wasm, b"\0asm");
        let (text, manifest) = p.manifest.unwrap();
        assert!(text.contains("interval_ms"));
        assert_eq!(manifest, Manifest::parse(&text).unwrap());
        assert!(
            upload(&encoded(b"x"), None)
                .parse("x")
                .unwrap()
                .manifest
                .is_none()
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", "Feed", "../feed", ".feed", "a/b", &"x".repeat(65)] {
            let e = refusal(upload(&encoded(b"x"), None).parse(name));
            assert!(e.contains("plugin names"), "{name}: {e}");
        }
    }

    #[test]
    fn bad_wasm_is_refused() {
        assert!(refusal(upload("not base64!", None).parse("p")).contains("not base64"));
        assert!(refusal(upload("", None).parse("p")).contains("empty"));
        let big = encoded(&vec![0; MAX_UPLOAD_WASM + 1]);
        assert!(matches!(
            upload(&big, None).parse("p"),
            Err(ApiError::TooLarge(MAX_UPLOAD_WASM))
        ));
    }

    #[test]
    fn bad_manifests_are_refused() {
        let e = refusal(upload(&encoded(b"x"), Some("[config\n")).parse("p"));
        assert!(e.contains("not a valid manifest"), "{e}");
        let e = refusal(upload(&encoded(b"x"), Some("no_such_key = 1\n")).parse("p"));
        assert!(e.contains("not a valid manifest"), "{e}");
        let long = format!("# {}\n", "x".repeat(MAX_UPLOAD_MANIFEST));
        assert!(matches!(
            upload(&encoded(b"x"), Some(&long)).parse("p"),
            Err(ApiError::TooLarge(MAX_UPLOAD_MANIFEST))
        ));
    }

    #[test]
    fn the_body_cap_fits_the_largest_upload() {
        let largest = json!({
            "wasm": encoded(&vec![0; MAX_UPLOAD_WASM]),
            "manifest": "x".repeat(MAX_UPLOAD_MANIFEST),
        });
        assert!(serde_json::to_vec(&largest).unwrap().len() <= MAX_BODY);
    }
}
