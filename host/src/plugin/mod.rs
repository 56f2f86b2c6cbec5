//! The plugin platform: the wasmtime engine, loading and validating
//! components, the registry of running versions, hot reload, the runners
//! that drive source plugins, and the host capabilities plugins import.
//!
//! Plugin code never runs on the async runtime: each loaded version owns
//! worker threads (see [`worker`]), and async callers wait on a oneshot.

pub mod bindings;
pub mod breaker;
pub(crate) mod capability;
pub mod check;
mod convert;
pub mod deploy;
pub mod engine;
pub mod env;
mod error;
pub(crate) mod files;
pub mod instance;
pub mod kind;
pub mod kv_store;
pub mod loader;
pub mod manifest;
pub mod owners;
pub mod recent;
pub mod registry;
pub mod runner;
pub mod state;
pub mod version;
pub mod watch;
pub(crate) mod worker;
pub mod world;

pub use error::{CallError, LoadError};
pub use kind::PluginKind;
