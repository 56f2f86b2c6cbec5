//! `gateway config check`: the verdict on the config file and environment
//! the gateway would start with: the effective settings (secrets hidden,
//! each with where it came from), or every problem at once.

use std::process::ExitCode;

use crate::config::{ConfigError, Resolved, render};

/// Prints the effective settings, or the problems; fails on problems.
pub(super) fn check(loaded: Result<Resolved, ConfigError>) -> ExitCode {
    match loaded {
        Ok(resolved) => {
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
