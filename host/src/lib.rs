//! The gateway: a Socket.IO server whose business logic runs as WebAssembly
//! component plugins.
//!
//! [`app::start`] wires the parts on a listener; the binary (`main.rs`)
//! adds the command line; tests use the same library on a random port.

pub mod app;
pub mod auth;
pub mod bus;
pub mod cluster;
pub mod config;
pub mod defaults;
pub mod history;
pub mod http;
pub mod limits;
pub mod market;
pub mod metrics;
pub mod model;
pub mod plugin;
pub mod socket;
pub mod time;

/// The default plugins built with the gateway (see `build.rs`).
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));
}
