//! The four plugin kinds: which export identifies each, the linker that
//! grants each its capabilities, and the typed handles to a component of
//! each kind (`Pre` before instantiation, `Exports` after).

use std::fmt;

use serde::Serialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{chat_responder, event_filter, order_poller, price_source};
use super::capability;
use super::state::HostState;

/// What a plugin does; each kind is one WIT world.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Produces price ticks (`price-source-plugin`).
    PriceSource,
    /// Produces order notifications and position updates (`order-poller-plugin`).
    OrderPoller,
    /// Answers chat messages (`chat-responder-plugin`).
    ChatResponder,
    /// Filters events per subscriber, may poll for events (`event-filter-plugin`).
    EventFilter,
}

impl PluginKind {
    /// Every kind.
    pub const ALL: [PluginKind; 4] = [
        PluginKind::PriceSource,
        PluginKind::OrderPoller,
        PluginKind::ChatResponder,
        PluginKind::EventFilter,
    ];

    /// The WIT world a plugin of this kind targets.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::PriceSource => "price-source-plugin",
            PluginKind::OrderPoller => "order-poller-plugin",
            PluginKind::ChatResponder => "chat-responder-plugin",
            PluginKind::EventFilter => "event-filter-plugin",
        }
    }

    /// The exported interface (without version) that identifies the kind.
    pub fn export(self) -> &'static str {
        match self {
            PluginKind::PriceSource => "gateway:plugins/price-source",
            PluginKind::OrderPoller => "gateway:plugins/order-poller",
            PluginKind::ChatResponder => "gateway:plugins/chat-responder",
            PluginKind::EventFilter => "gateway:plugins/event-filter",
        }
    }

    /// The kind whose export `component` has; `Err` lists what it exports.
    pub fn detect(component: &Component, engine: &Engine) -> Result<PluginKind, Vec<String>> {
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let found: Vec<PluginKind> = PluginKind::ALL
            .into_iter()
            .filter(|k| {
                exports
                    .iter()
                    .any(|e| e == k.export() || e.starts_with(&format!("{}@", k.export())))
            })
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            _ => Err(exports),
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::PriceSource => "price-source",
            PluginKind::OrderPoller => "order-poller",
            PluginKind::ChatResponder => "chat-responder",
            PluginKind::EventFilter => "event-filter",
        })
    }
}

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
