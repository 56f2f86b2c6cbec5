//! The gateway: a Socket.IO server whose business logic runs as WebAssembly
//! component plugins.
//!
//! [`app::start`] wires the parts on a listener; [`cli::main`] is the
//! command line; tests use the same library on a random port. What tests
//! and the load generator need is public; everything else is crate-private,
//! so the compiler sees dead code. `docs/architecture.md` walks the two
//! flows (source plugin → sockets, client event → plugin) file by file.

pub mod app;
pub mod auth;
pub mod cli;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod default_plugins;
pub mod delivery;
pub(crate) mod http;
pub(crate) mod limits;
pub(crate) mod metrics;
pub mod outbound;
pub mod plugin;
pub mod price_cache;
pub mod protocol;
pub(crate) mod socket;
pub mod store;
pub mod telemetry;
pub mod time;

/// The default plugins built with the gateway (see `build.rs`).
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));
}
