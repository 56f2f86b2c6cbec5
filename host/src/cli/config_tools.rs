//! `gateway config check`: the verdict on the config file and environment
//! the gateway would start with: the effective settings (secrets hidden,
//! each with where it came from), or every problem at once; and the
//! warnings about variables that look meant for the gateway but are not
//! read, which serving prints too.

use std::process::ExitCode;

use crate::config::{ConfigError, Resolved, render};

/// Prints the effective settings, or the problems; fails on problems.
pub(super) fn check(loaded: Result<Resolved, ConfigError>) -> ExitCode {
    match loaded {
        Ok(resolved) => {
            warn(&resolved);
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

/// Prints a warning for each variable that looks mistyped.
pub(super) fn warn(resolved: &Resolved) {
    for w in &resolved.ignored {
        eprintln!("warning: {w}");
    }
}
