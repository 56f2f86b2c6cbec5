//! The gateway: a Socket.IO server whose business logic runs as WebAssembly
//! component plugins.
//!
//! The binary (`main.rs`) wires these modules together; tests use the same
//! library to run a gateway on a random port.

pub mod market;
pub mod model;
pub mod plugin;
pub mod time;

/// The default plugins built with the gateway (see `build.rs`).
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));
}
