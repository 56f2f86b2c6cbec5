//! `gateway token verify`: whether this gateway, as configured, would let
//! a client in with a token, and if not, why. The verdict is the host's
//! own: the [`Authenticator`] the Socket.IO handshake uses (signature,
//! algorithm, `exp` and `nbf` with the leeway, issuer, audience, claims),
//! then the user-service check. Beside it are what the gateway requires
//! and the token's claims, read without verification, so a person sees
//! which one is off.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde_json::Value;

use crate::auth::Authenticator;
use crate::config::{Config, JwtAlgorithm};
use gateway_contract::redacted_url;

/// Verifies `token` with the gateway's configured keys; prints the report.
pub(super) async fn verify(config: &Config, token: &str) -> Result<ExitCode> {
    let secret = match config.jwt_algorithm {
        JwtAlgorithm::HS256 => Some(super::secret(config)?),
        JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => None,
    };
    let auth = Authenticator::new(config, secret.as_deref(), crate::outbound::gateway_client())?;
    let (accepted, text) = report(config, &auth, token.trim()).await;
    print!("{text}");
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The verdict on `token` and the report that explains it.
async fn report(config: &Config, auth: &Authenticator, token: &str) -> (bool, String) {
    let verdict = match auth.verify(token).await {
        Ok(claims) => match auth.check_user(&claims.sub).await {
            Ok(()) => Ok(claims),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let mut out = String::new();
    let accepted = match &verdict {
        Ok(claims) => {
            let _ = writeln!(
                out,
                "verdict:  ACCEPTED: user {:?}{}",
                claims.sub,
                if claims.is_admin() { " (admin)" } else { "" }
            );
            true
        }
        Err(e) => {
            let _ = writeln!(out, "verdict:  REJECTED: {e}");
            false
        }
    };
    let _ = writeln!(out, "key:      {}", key_source(config));
    let _ = writeln!(
        out,
        "requires: {}",
        requirements(config, auth.leeway_secs())
    );
    match jsonwebtoken::decode_header(token) {
        Ok(h) => {
            let _ = writeln!(
                out,
                "header:   alg {:?}, kid {}",
                h.alg,
                h.kid
                    .as_deref()
                    .map_or("(none)".to_owned(), |k| format!("{k:?}"))
            );
        }
        Err(e) => {
            let _ = writeln!(out, "header:   unreadable ({e})");
        }
    }
    match jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token) {
        Ok(claims) => {
            out.push_str("claims, as written (not trusted unless accepted):\n");
            out.push_str(&describe_claims(&claims, now_secs()));
        }
        Err(e) => {
            let _ = writeln!(out, "claims:   unreadable ({e})");
        }
    }
    (accepted, out)
}

/// Where the gateway takes its verification key from.
fn key_source(config: &Config) -> String {
    match (
        config.jwt_algorithm,
        &config.jwt_public_key_file,
        &config.jwks_url,
    ) {
        (JwtAlgorithm::HS256, ..) if config.jwt_secret.is_some() => "HS256 with JWT_SECRET".into(),
        (JwtAlgorithm::HS256, ..) => format!(
            "HS256 with the dev secret in {}",
            config.data_dir.join("dev-jwt-secret").display()
        ),
        (alg, Some(path), _) => format!("{alg:?} with JWT_PUBLIC_KEY_FILE {}", path.display()),
        (alg, None, Some(url)) => format!("{alg:?} with keys from JWKS_URL {}", redacted_url(url)),
        (alg, None, None) => format!("{alg:?} without a key"),
    }
}

/// The claims the gateway requires, in words.
fn requirements(config: &Config, leeway: u64) -> String {
    let mut parts = vec![
        "`sub`".to_owned(),
        format!("`exp` ahead (leeway {leeway} s)"),
    ];
    if let Some(iss) = &config.jwt_issuer {
        parts.push(format!("`iss` = {iss:?}"));
    }
    if let Some(aud) = &config.jwt_audience {
        parts.push(format!("`aud` including {aud:?}"));
    }
    if config.user_service_url.is_some() {
        parts.push("the user known to USER_SERVICE_URL".into());
    }
    parts.join(", ")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims a person checks, times with how far they are from `now`.
fn describe_claims(claims: &Value, now: u64) -> String {
    let mut out = String::new();
    for name in ["sub", "iss", "aud", "roles", "name"] {
        if let Some(v) = claims.get(name) {
            let _ = writeln!(out, "  {name:<5} {v}");
        }
    }
    for name in ["exp", "nbf", "iat"] {
        match claims.get(name).and_then(Value::as_u64) {
            Some(at) => {
                let _ = writeln!(out, "  {name:<5} {}", when(at, now));
            }
            None => {
                if let Some(v) = claims.get(name) {
                    let _ = writeln!(out, "  {name:<5} {v} (not a time in seconds)");
                } else if name == "exp" {
                    out.push_str("  exp   (missing)\n");
                }
            }
        }
    }
    if claims.get("sub").is_none() {
        out.push_str("  sub   (missing)\n");
    }
    out
}

/// `at` (seconds since the epoch) as a date and as "N s ago" / "in N s".
fn when(at: u64, now: u64) -> String {
    let date = UNIX_EPOCH.checked_add(Duration::from_secs(at)).map_or_else(
        || "far future".to_owned(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    );
    let relative = if at == now {
        "now".to_owned()
    } else if at > now {
        format!(
            "in {}",
            humantime::format_duration(Duration::from_secs(at - now))
        )
    } else {
        format!(
            "{} ago",
            humantime::format_duration(Duration::from_secs(now - at))
        )
    };
    format!("{date} ({relative})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    const SECRET: &str = "verify-test-secret";

    fn config() -> Config {
        Config {
            jwt_secret: Some(SECRET.into()),
            jwt_issuer: Some("https://idp.test".into()),
            ..Config::default()
        }
    }

    fn signed(claims: Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    async fn run(token: &str) -> (bool, String) {
        let c = config();
        let auth = Authenticator::new(&c, Some(SECRET), reqwest::Client::new()).unwrap();
        report(&c, &auth, token).await
    }

    #[tokio::test]
    async fn says_why_a_token_is_refused() {
        let now = now_secs();
        let good = json(now + 3600, "https://idp.test");
        let (ok, text) = run(&signed(good.clone(), SECRET)).await;
        assert!(ok, "{text}");
        assert!(
            text.starts_with("verdict:  ACCEPTED: user \"alice\""),
            "{text}"
        );

        let (ok, text) = run(&signed(json(now - 600, "https://idp.test"), SECRET)).await;
        assert!(!ok);
        assert!(text.contains("REJECTED: AUTH_EXPIRED"), "{text}");
        // "(10m ago)", or a second or two more on a busy machine.
        assert!(
            text.contains("(10m ") || text.contains("(10m ago)"),
            "{text}"
        );
        assert!(text.contains("ago)"), "{text}");

        let (ok, text) = run(&signed(good, "another-secret")).await;
        assert!(!ok);
        assert!(
            text.contains("REJECTED: AUTH_INVALID: bad signature"),
            "{text}"
        );
        assert!(text.contains("key:      HS256 with JWT_SECRET"), "{text}");

        let (ok, text) = run(&signed(json(now + 60, "https://other.test"), SECRET)).await;
        assert!(!ok);
        assert!(text.contains("AUTH_INVALID: wrong issuer"), "{text}");
        assert!(text.contains("`iss` = \"https://idp.test\""), "{text}");
        assert!(text.contains("iss   \"https://other.test\""), "{text}");

        let (ok, text) = run(&signed(
            serde_json::json!({"sub": "a", "iss": "https://idp.test"}),
            SECRET,
        ))
        .await;
        assert!(!ok);
        assert!(
            text.contains("AUTH_INVALID") && text.contains("`exp`"),
            "{text}"
        );
        assert!(text.contains("exp   (missing)"), "{text}");

        let (ok, text) = run("not-a-token").await;
        assert!(!ok);
        assert!(text.contains("header:   unreadable"), "{text}");
    }

    fn json(exp: u64, iss: &str) -> Value {
        serde_json::json!({ "sub": "alice", "exp": exp, "iss": iss })
    }
}
