//! The traits a plugin implements, one per plugin kind, and the per-instance
//! state cell the export macros keep the plugin value in.

use std::cell::RefCell;

use crate::{
    ChatReply, ChatRequest, Event, FilterInfo, OrderBatch, PluginInfo, PollerInfo, SourceInfo,
    Subscriber, Tick,
};

/// A source of price ticks, polled by the host at `interval_ms`.
///
/// The symbols it describes are its claim. When several sources claim a
/// symbol, the host delivers the ticks of one, the owner: the highest
/// `priority` in the plugins' manifests (`NAME.toml`, default 0), then the
/// one loaded first. The others stand by; when the owner is unloaded, its
/// circuit opens or it returns no tick for a number of its intervals
/// (`SOURCE_STALE_INTERVALS`), the next one takes over until the owner
/// ticks again.
pub trait PriceSource: Sized + 'static {
    /// Name, version and the symbols served; may read [`crate::config`].
    fn describe() -> SourceInfo;
    /// Builds the plugin's state; called once per instance before `poll`.
    fn init() -> Result<Self, String>;
    /// Ticks produced since the previous poll.
    fn poll(&mut self) -> Result<Vec<Tick>, String>;
}

/// A source of order notifications and position updates.
pub trait OrderPoller: Sized + 'static {
    /// Name, version and poll interval; may read [`crate::config`].
    fn describe() -> PollerInfo;
    /// Builds the plugin's state; called once per instance before `poll`.
    fn init() -> Result<Self, String>;
    /// Notifications since the previous poll. Keep the cursor in [`crate::kv`]
    /// so a reload or restart neither replays nor skips.
    fn poll(&mut self) -> Result<OrderBatch, String>;
}

/// Answers users' chat messages.
pub trait ChatResponder: Sized + 'static {
    /// Name and version.
    fn describe() -> PluginInfo;
    /// Builds the plugin's state; called once per instance.
    fn init() -> Result<Self, String>;
    /// The final answer; parts may be streamed first with [`crate::chat::send_chunk`].
    fn respond(&mut self, request: ChatRequest) -> Result<ChatReply, String>;
}

/// Decides which subscribers receive an event, and may poll for events.
pub trait EventFilter: Sized + 'static {
    /// Name, version and (when it is an event source) its poll interval.
    fn describe() -> FilterInfo;
    /// Builds the plugin's state; called once per instance.
    fn init() -> Result<Self, String>;
    /// One flag per subscriber, in order: whether it receives `event`.
    fn filter(&mut self, event: &Event, subscribers: &[Subscriber]) -> Vec<bool>;
    /// New events from upstream; the default is no events.
    fn poll(&mut self) -> Result<Vec<Event>, String> {
        Ok(Vec::new())
    }
}

/// Holds one plugin value per wasm instance (a wasm instance is single
/// threaded, so a thread-local cell is the whole story).
pub struct Instance<T: 'static> {
    cell: &'static std::thread::LocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> Instance<T> {
    /// Wraps the thread-local the export macro declares.
    pub const fn new(cell: &'static std::thread::LocalKey<RefCell<Option<T>>>) -> Self {
        Self { cell }
    }

    /// Stores a freshly built value, replacing any earlier one.
    pub fn init(&self, make: impl FnOnce() -> Result<T, String>) -> Result<(), String> {
        let value = make()?;
        self.cell.with(|c| *c.borrow_mut() = Some(value));
        Ok(())
    }

    /// Runs `f` on the value, building it first if the host did not call `init`.
    pub fn with<R>(
        &self,
        make: impl FnOnce() -> Result<T, String>,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, String> {
        self.cell.with(|c| {
            let mut slot = c.borrow_mut();
            if slot.is_none() {
                *slot = Some(make()?);
            }
            Ok(f(slot.as_mut().expect("initialised above")))
        })
    }
}
