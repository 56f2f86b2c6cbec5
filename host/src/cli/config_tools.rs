//! `gateway config check`: the verdict on the config file and environment
//! the gateway would start with: the effective settings (secrets hidden,
//! each with where it came from), or every problem at once; and the
//! warnings about variables that look meant for the gateway but are not
//! read, which serving prints too.

use std::process::ExitCode;

use crate::auth::Authenticator;
use crate::config::{Config, ConfigError, JwtAlgorithm, Resolved, render};

/// Prints the effective settings, or the problems; fails on problems.
pub(super) fn check(loaded: Result<Resolved, ConfigError>) -> ExitCode {
    match loaded {
        Ok(resolved) => {
            warn(&resolved);
            if let Some(e) = key_problem(&resolved.config) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            print!("{}", render::effective(&resolved));
            println!("\n# OK: the gateway would start with these settings");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why the configured public key cannot verify tokens, if it cannot: the
/// authenticator the server builds, built here (RS256/ES256; an HS256
/// secret needs no parsing).
fn key_problem(config: &Config) -> Option<String> {
    if config.jwt_algorithm == JwtAlgorithm::HS256 {
        return None;
    }
    Authenticator::new(config, None, crate::outbound::gateway_client())
        .err()
        .map(|e| e.to_string())
}

/// Prints a warning for each variable that looks mistyped.
pub(super) fn warn(resolved: &Resolved) {
    for w in &resolved.ignored {
        eprintln!("warning: {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_that_does_not_parse_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("jwt.pem");
        std::fs::write(&pem, "not a key").unwrap();
        let config = Config {
            jwt_algorithm: JwtAlgorithm::RS256,
            jwt_public_key_file: Some(pem),
            ..Config::default()
        };
        let problem = key_problem(&config).expect("a bad key is reported");
        assert!(problem.contains("cannot use JWT public key"), "{problem}");
        assert_eq!(key_problem(&Config::default()), None);
    }
}
