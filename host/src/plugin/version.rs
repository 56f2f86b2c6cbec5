//! One loaded version of a plugin: what it said about itself, where it came
//! from, and typed, async calls into its workers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::bindings::types as wit;
use super::capability::chat_stream::{ChunkSink, MAX_REPLY_BYTES};
use super::env::PluginEnv;
use super::error::CallError;
use super::instance::Live;
use super::kind::PluginKind;
use super::loader::Candidate;
use super::manifest::Manifest;
use super::worker::WorkerPool;
use super::world::Exports;
use crate::protocol::payloads::{Event, OrderBatch, Tick};

/// Where a version's bytes came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "path")]
pub enum PluginSource {
    /// Built with the gateway.
    Embedded,
    /// A file in the plugins directory.
    File(PathBuf),
}

/// What a plugin reported from `describe`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Description {
    /// Its own name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line about it.
    pub description: String,
    /// Symbols served (price sources).
    pub symbols: Vec<String>,
    /// How often to poll (sources), if it is one.
    pub interval: Option<Duration>,
}

/// A socket subscribed to events, as the filter plugins see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    /// Its user.
    pub user_id: String,
    /// The socket.
    pub socket_id: String,
    /// Types it subscribed to.
    pub event_types: Vec<String>,
}

/// A loaded, validated version and its workers.
pub struct PluginVersion {
    /// The plugin's name: its file stem, or the default plugin's name.
    pub name: String,
    /// Its kind.
    pub kind: PluginKind,
    /// What it said about itself.
    pub description: Description,
    /// Where it came from.
    pub source: PluginSource,
    /// SHA-256 of the wasm, hex.
    pub sha256: String,
    /// The layered manifest it was loaded with.
    pub manifest: Manifest,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Its environment.
    pub env: Arc<PluginEnv>,
    pub(crate) pool: WorkerPool,
}

/// Reads `describe` of a live instance, whatever its kind.
pub(crate) fn describe(live: &mut Live) -> Result<Description, CallError> {
    live.call(|store, ex| {
        Ok(match ex {
            Exports::PriceSource(p) => {
                let d = p.gateway_plugins_price_source().call_describe(store)?;
                described(d.plugin, d.symbols, Some(d.interval_ms))
            }
            Exports::OrderPoller(p) => {
                let d = p.gateway_plugins_order_poller().call_describe(store)?;
                described(d.plugin, Vec::new(), Some(d.interval_ms))
            }
            Exports::ChatResponder(p) => {
                let d = p.gateway_plugins_chat_responder().call_describe(store)?;
                described(d, Vec::new(), None)
            }
            Exports::EventFilter(p) => {
                let d = p.gateway_plugins_event_filter().call_describe(store)?;
                described(d.plugin, Vec::new(), d.poll_interval_ms)
            }
        })
    })
}

fn described(info: wit::PluginInfo, symbols: Vec<String>, interval_ms: Option<u32>) -> Description {
    Description {
        name: info.name,
        version: info.version,
        description: info.description,
        symbols,
        interval: interval_ms.map(|ms| Duration::from_millis(u64::from(ms.max(1)))),
    }
}

fn plugin_result<T>(r: Result<T, String>) -> Result<T, CallError> {
    r.map_err(CallError::Plugin)
}

fn wrong_kind() -> CallError {
    CallError::Trap("called with the wrong plugin kind".into())
}

impl PluginVersion {
    /// Whether this version already runs `candidate` (whose wasm hashes to
    /// `sha256`): same bytes, manifest and source, and not stalled.
    pub fn runs(&self, candidate: &Candidate, sha256: &str) -> bool {
        self.sha256 == sha256
            && self.manifest == candidate.manifest
            && self.source == candidate.source
            && !self.is_stalled()
    }

    /// Runs `f` on one of the version's instances, within the kind's
    /// wall-clock deadline.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Live) -> Result<R, CallError> + Send + 'static,
    ) -> Result<R, CallError> {
        self.pool.call(self.env.limits.wall(self.kind), f).await
    }

    /// Whether so many instances got stuck that calls are refused.
    pub fn is_stalled(&self) -> bool {
        self.pool.is_stalled()
    }

    /// Polls a price source.
    pub async fn poll_prices(&self) -> Result<Vec<Tick>, CallError> {
        self.run(|live| {
            live.call(|store, ex| match ex {
                Exports::PriceSource(p) => p.gateway_plugins_price_source().call_poll(store),
                _ => Ok(Err(wrong_kind().to_string())),
            })
            .and_then(plugin_result)
            .map(|ticks| ticks.into_iter().map(Tick::from).collect())
        })
        .await
    }

    /// Polls an order poller.
    pub async fn poll_orders(&self) -> Result<OrderBatch, CallError> {
        self.run(|live| {
            let batch = live
                .call(|store, ex| match ex {
                    Exports::OrderPoller(p) => p.gateway_plugins_order_poller().call_poll(store),
                    _ => Ok(Err(wrong_kind().to_string())),
                })
                .and_then(plugin_result)?;
            Ok(OrderBatch {
                orders: batch.orders.into_iter().map(Into::into).collect(),
                positions: batch.positions.into_iter().map(Into::into).collect(),
            })
        })
        .await
    }

    /// Polls an event filter that is also an event source.
    pub async fn poll_events(&self) -> Result<Vec<Event>, CallError> {
        self.run(|live| {
            live.call(|store, ex| match ex {
                Exports::EventFilter(p) => p.gateway_plugins_event_filter().call_poll(store),
                _ => Ok(Err(wrong_kind().to_string())),
            })
            .and_then(plugin_result)
            .map(|events| events.into_iter().map(Event::from).collect())
        })
        .await
    }

    /// Asks a chat responder; streamed parts go to `chunks` while it runs.
    pub(crate) async fn respond(
        &self,
        request: wit::ChatRequest,
        chunks: ChunkSink,
    ) -> Result<String, CallError> {
        self.run(move |live| {
            live.state_mut().chunks = Some(chunks);
            let reply = live.call(|store, ex| match ex {
                Exports::ChatResponder(p) => p
                    .gateway_plugins_chat_responder()
                    .call_respond(store, &request),
                _ => Ok(Err(wrong_kind().to_string())),
            });
            live.state_mut().chunks = None;
            let message = reply.and_then(plugin_result)?.message;
            if message.len() > MAX_REPLY_BYTES {
                return Err(CallError::Plugin(format!(
                    "the reply has {} bytes; at most {MAX_REPLY_BYTES} are sent",
                    message.len()
                )));
            }
            Ok(message)
        })
        .await
    }

    /// Asks an event filter which of `subscribers` receive `event`.
    pub async fn filter(
        &self,
        event: &Event,
        subscribers: &[Subscriber],
    ) -> Result<Vec<bool>, CallError> {
        let ev = wit::Event::from(event);
        let subs: Vec<wit::Subscriber> = subscribers.iter().map(Into::into).collect();
        let n = subs.len();
        let flags = self
            .run(move |live| {
                live.call(|store, ex| match ex {
                    Exports::EventFilter(p) => p
                        .gateway_plugins_event_filter()
                        .call_filter(store, &ev, &subs),
                    _ => Ok(vec![false; subs.len()]),
                })
            })
            .await?;
        if flags.len() != n {
            return Err(CallError::Plugin(format!(
                "filter answered {} flags for {n} subscribers",
                flags.len()
            )));
        }
        Ok(flags)
    }
}
