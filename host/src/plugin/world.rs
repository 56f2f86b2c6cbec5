//! Each kind's WIT world on the host side: the linker that grants the kind
//! its capabilities, and the typed handles to a component of that world
//! (`Pre` before instantiation, `Exports` after).

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{chat_responder, event_filter, order_poller, price_source};
use super::capability;
use super::kind::PluginKind;
use super::state::HostState;

/// One linker per kind, built once: the capabilities that kind may import.
pub struct Linkers {
    base: Linker<HostState>,
    chat: Linker<HostState>,
}

impl Linkers {
    /// Builds the linkers for `engine`.
    pub fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let mut base = Linker::new(engine);
        capability::link_base(&mut base)?;
        let mut chat = Linker::new(engine);
        capability::link_base(&mut chat)?;
        capability::link_chat(&mut chat)?;
        Ok(Self { base, chat })
    }

    /// The linker for plugins of `kind`.
    pub fn for_kind(&self, kind: PluginKind) -> &Linker<HostState> {
        match kind {
            PluginKind::ChatResponder => &self.chat,
            _ => &self.base,
        }
    }
}

/// A component linked and type-checked for its kind, ready to instantiate.
#[derive(Clone)]
pub enum Pre {
    /// A price source.
    PriceSource(price_source::PriceSourcePluginPre<HostState>),
    /// An order poller.
    OrderPoller(order_poller::OrderPollerPluginPre<HostState>),
    /// A chat responder.
    ChatResponder(chat_responder::ChatResponderPluginPre<HostState>),
    /// An event filter.
    EventFilter(event_filter::EventFilterPluginPre<HostState>),
}

impl Pre {
    /// Links `component` as a plugin of `kind`: fails when it imports
    /// something the kind may not use or its exports have the wrong types.
    pub fn new(
        kind: PluginKind,
        component: &Component,
        linkers: &Linkers,
    ) -> wasmtime::Result<Self> {
        let pre = linkers.for_kind(kind).instantiate_pre(component)?;
        Ok(match kind {
            PluginKind::PriceSource => {
                Pre::PriceSource(price_source::PriceSourcePluginPre::new(pre)?)
            }
            PluginKind::OrderPoller => {
                Pre::OrderPoller(order_poller::OrderPollerPluginPre::new(pre)?)
            }
            PluginKind::ChatResponder => {
                Pre::ChatResponder(chat_responder::ChatResponderPluginPre::new(pre)?)
            }
            PluginKind::EventFilter => {
                Pre::EventFilter(event_filter::EventFilterPluginPre::new(pre)?)
            }
        })
    }

    /// A new instance in `store`.
    pub fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Exports> {
        Ok(match self {
            Pre::PriceSource(p) => Exports::PriceSource(p.instantiate(store)?),
            Pre::OrderPoller(p) => Exports::OrderPoller(p.instantiate(store)?),
            Pre::ChatResponder(p) => Exports::ChatResponder(p.instantiate(store)?),
            Pre::EventFilter(p) => Exports::EventFilter(p.instantiate(store)?),
        })
    }
}

/// The exports of one live instance.
pub enum Exports {
    /// A price source.
    PriceSource(price_source::PriceSourcePlugin),
    /// An order poller.
    OrderPoller(order_poller::OrderPollerPlugin),
    /// A chat responder.
    ChatResponder(chat_responder::ChatResponderPlugin),
    /// An event filter.
    EventFilter(event_filter::EventFilterPlugin),
}

impl Exports {
    /// Calls the plugin's `init`.
    pub fn init(&self, store: &mut Store<HostState>) -> wasmtime::Result<Result<(), String>> {
        match self {
            Exports::PriceSource(p) => p.gateway_plugins_price_source().call_init(store),
            Exports::OrderPoller(p) => p.gateway_plugins_order_poller().call_init(store),
            Exports::ChatResponder(p) => p.gateway_plugins_chat_responder().call_init(store),
            Exports::EventFilter(p) => p.gateway_plugins_event_filter().call_init(store),
        }
    }
}
