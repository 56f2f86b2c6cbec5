//! The four plugin kinds and the export that identifies each.

use std::fmt;

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;

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
