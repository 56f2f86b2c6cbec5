//! The SDK for gateway plugins.
//!
//! A plugin is a crate built for `wasm32-wasip2` that depends on this crate,
//! implements one trait per plugin kind ([`PriceSource`], [`OrderPoller`],
//! [`ChatResponder`], [`EventFilter`]) and names its type in the matching
//! export macro:
//!
//! ```
//! use gateway_sdk::{PriceSource, SourceInfo, Tick, PluginInfo};
//!
//! struct Constant;
//!
//! impl PriceSource for Constant {
//!     fn describe() -> SourceInfo {
//!         SourceInfo {
//!             plugin: PluginInfo::new("constant", "0.1.0", "always 1.1"),
//!             symbols: vec!["EURUSD".into()],
//!             interval_ms: 1000,
//!         }
//!     }
//!     fn init() -> Result<Self, String> { Ok(Constant) }
//!     fn poll(&mut self) -> Result<Vec<Tick>, String> {
//!         let now = gateway_sdk::clock::now_ms();
//!         Ok(vec![Tick { symbol: "EURUSD".into(), bid: 1.1, ask: 1.1002, timestamp: now }])
//!     }
//! }
//!
//! gateway_sdk::export_price_source!(Constant);
//! ```
//!
//! The host capabilities ([`log`], [`clock`], [`config`], [`kv`], [`http`],
//! [`market`], [`chat`]) are plain functions. In a wasm build they call the
//! gateway; in a native build (`cargo test`) they call the fake host of
//! `testing`, so the same plugin logic is unit-tested without wasm.
//!
//! Built on them, for plugins that poll an upstream service:
//! [`upstream`] (base URL, query encoding, JSON `GET` with readable errors),
//! [`fields`] (typed fields of the answer's JSON items), [`cursor`] (the
//! cursor and recently delivered keys, kept in kv as one checkpoint) and
//! [`backoff`] (exponential backoff while the service fails).
//!
//! `sdk/README.md` is the tutorial: the `gateway plugin new | build | dev`
//! workflow and a walk through each kind; its Rust examples run as doc
//! tests of this crate.

pub mod backoff;
pub mod bindings;
pub mod chat;
pub mod clock;
pub mod config;
pub mod cursor;
mod export;
pub mod fields;
pub mod http;
pub mod kv;
pub mod log;
pub mod market;
mod plugin;
pub mod records;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod upstream;

pub use bindings::event_filter::exports::gateway::plugins::event_filter::FilterInfo;
pub use bindings::host::gateway::plugins::market::PricePoint;
pub use bindings::host::gateway::plugins::types::{
    ChatReply, ChatRequest, Event, OrderBatch, OrderNotification, PluginInfo, PositionUpdate,
    Severity, Subscriber, Tick,
};
pub use bindings::order_poller::exports::gateway::plugins::order_poller::PollerInfo;
pub use bindings::price_source::exports::gateway::plugins::price_source::SourceInfo;
pub use plugin::{ChatResponder, EventFilter, OrderPoller, PriceSource};

/// The wire contract's symbol and event-type patterns, shared with the host.
pub use gateway_contract as contract;

/// The README's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Re-exports the export macros need; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::Instance;
    pub use wit_bindgen;
}

impl PluginInfo {
    /// Builds the name/version/description triple every plugin reports.
    ///
    /// ```
    /// let info = gateway_sdk::PluginInfo::new("my-feed", env!("CARGO_PKG_VERSION"), "one quote");
    /// assert_eq!(info.name, "my-feed");
    /// ```
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
        }
    }
}

impl Severity {
    /// The contract's name: `low`, `medium`, `high` or `critical`.
    ///
    /// ```
    /// assert_eq!(gateway_sdk::Severity::High.as_str(), "high");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the contract's name (case-insensitive).
    ///
    /// ```
    /// use gateway_sdk::Severity;
    /// assert_eq!(Severity::parse("Critical"), Some(Severity::Critical));
    /// assert_eq!(Severity::parse("loud"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// Rank for comparisons: low 0 … critical 3.
    ///
    /// ```
    /// use gateway_sdk::Severity;
    /// assert!(Severity::High.rank() > Severity::Medium.rank());
    /// ```
    pub fn rank(self) -> u8 {
        self as u8
    }
}
