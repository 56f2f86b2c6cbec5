//! The host capabilities plugins import, one module per WIT interface, each
//! a narrow implementation over [`HostState`](super::state::HostState).
//!
//! Which capabilities a plugin gets depends on its kind: every kind gets
//! `log`, `clock`, `config`, `kv` and `http`; chat responders also get
//! `market` and `chat-stream`. A component importing anything else fails to
//! link and is refused at load.
//!
//! Each import runs in a `host.<interface>.<function>` span, a child of the
//! plugin call's span (see [`crate::telemetry`]).

pub(crate) mod chat_stream;
mod clock;
mod config;
mod http;
mod kv;
mod log;
mod market;
pub(crate) mod stdio;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::host::gateway::plugins as wit;
use super::state::HostState;

impl wit::types::Host for HostState {}

/// Adds the capabilities of every plugin kind, and WASI without
/// filesystem, environment or sockets.
pub(crate) fn link_base(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    type D = HasSelf<HostState>;
    wit::types::add_to_linker::<_, D>(linker, |s| s)?;
    wit::log::add_to_linker::<_, D>(linker, |s| s)?;
    wit::clock::add_to_linker::<_, D>(linker, |s| s)?;
    wit::config::add_to_linker::<_, D>(linker, |s| s)?;
    wit::kv::add_to_linker::<_, D>(linker, |s| s)?;
    wit::http::add_to_linker::<_, D>(linker, |s| s)?;
    Ok(())
}

/// Adds what only chat responders get: the price cache and reply streaming.
pub(crate) fn link_chat(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    type D = HasSelf<HostState>;
    wit::market::add_to_linker::<_, D>(linker, |s| s)?;
    wit::chat_stream::add_to_linker::<_, D>(linker, |s| s)?;
    Ok(())
}
