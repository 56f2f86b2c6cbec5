//! The `gateway` command line: serve (the default), mint or verify a
//! token, scaffold, build, check or develop a plugin, or print and check
//! the configuration. `anyhow`
//! lives here, at the binary's edge; the library below has typed errors.

mod config_tools;
mod plugin_build;
mod plugin_check;
mod plugin_dev;
mod plugin_new;
mod serve;
mod token_verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::config::{Config, Purpose};
use crate::plugin::kind::PluginKind;

/// Real-time Socket.IO gateway whose features are WebAssembly plugins.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML); also `GATEWAY_CONFIG`.
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Dev mode: without JWT_SECRET, use a generated secret kept in the data dir.
    #[arg(long, global = true)]
    dev: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Socket.IO and HTTP (the default).
    Serve,
    /// Mint a JWT for the configured secret (or `token verify TOKEN`).
    #[command(subcommand_negates_reqs = true)]
    Token {
        #[command(subcommand)]
        command: Option<TokenCommand>,
        /// The user id (`sub`).
        #[arg(long, required = true)]
        sub: Option<String>,
        /// Add the admin role.
        #[arg(long)]
        admin: bool,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. `1h`, `30m`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Says whether this gateway, as configured, would accept TOKEN, and if
    /// not, why.
    Verify {
        /// The JWT.
        token: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Prints every setting with its default and meaning, as TOML.
    Defaults,
    /// Checks the config file and environment; prints the effective
    /// settings (secrets hidden) or every problem.
    Check,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Says what a component is and whether the gateway would load it.
    Check {
        /// The `.wasm` component.
        file: PathBuf,
        /// Its manifest (default: the `.toml` beside it, if any).
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Creates a plugin crate that builds as it is: an example of the
    /// kind, native tests against the SDK's fake host, a manifest.
    New {
        /// price-source, order-poller, chat-responder or event-filter.
        #[arg(long, value_parser = plugin_new::parse_kind)]
        kind: PluginKind,
        /// The crate's directory; its last component names the crate and
        /// the plugin.
        path: PathBuf,
        /// The SDK directory (default: the one this gateway was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Builds a plugin crate for wasm32-wasip2 into its dist/ and checks
    /// the component.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Builds a plugin crate, drops it into the plugins directory of a
    /// running gateway, and does it again on every change to its sources.
    Dev {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The plugins directory (default: `plugins_dir` of the config).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
}

/// Runs the command line of the process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let file = cli.config.as_deref();
    let load = |purpose| Config::resolve_process(file, cli.dev, purpose);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let resolved = load(Purpose::Serve)?;
            config_tools::warn(&resolved);
            serve::serve(resolved.config)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Defaults,
        } => {
            print!("{}", crate::config::render::defaults());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => Ok(config_tools::check(load(Purpose::Serve))),
        Command::Token {
            command: Some(TokenCommand::Verify { token }),
            ..
        } => token_verify::verify(&load(Purpose::Serve)?.config, &token).await,
        Command::Token {
            command: None,
            sub,
            admin,
            name,
            ttl,
        } => {
            let config = load(Purpose::Tool)?.config;
            let secret = secret(&config)?;
            let sub = sub.context("--sub is required")?;
            println!(
                "{}",
                crate::auth::mint(&secret, &sub, admin, name.as_deref(), ttl)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            command: PluginCommand::Check { file, manifest },
        } => plugin_check::check(&load(Purpose::Tool)?.config, file, manifest).await,
        Command::Plugin {
            command: PluginCommand::New { kind, path, sdk },
        } => plugin_new::new(kind, &path, sdk).map(|()| ExitCode::SUCCESS),
        Command::Plugin {
            command: PluginCommand::Build { dir },
        } => plugin_build::build(&load(Purpose::Tool)?.config, &dir).await,
        Command::Plugin {
            command: PluginCommand::Dev { dir, plugins_dir },
        } => {
            let config = load(Purpose::Tool)?.config;
            let plugins_dir = plugins_dir.unwrap_or_else(|| config.plugins_dir.clone());
            plugin_dev::dev(&config, &dir, &plugins_dir).await
        }
    }
}

/// The HS256 secret: `JWT_SECRET`, or in dev mode one generated once and
/// kept in `DATA_DIR/dev-jwt-secret` so `gateway --dev token` matches.
pub(crate) fn secret(config: &Config) -> Result<String> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.clone());
    }
    if !config.gateway_dev {
        bail!(
            "JWT_SECRET is not set; set it, or run with --dev (GATEWAY_DEV=1) for a generated one"
        );
    }
    let path = config.data_dir.join("dev-jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_owned());
    }
    let s = crate::auth::generate_secret();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    std::fs::write(&path, &s).with_context(|| format!("writing {}", path.display()))?;
    Ok(s)
}
