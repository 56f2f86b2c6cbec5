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
///
/// ```
/// use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, clock};
///
/// struct Fixed;
///
/// impl PriceSource for Fixed {
///     fn describe() -> SourceInfo {
///         SourceInfo {
///             plugin: PluginInfo::new("fixed", "0.1.0", "one fixed quote"),
///             symbols: vec!["EURUSD".into()],
///             interval_ms: 1000,
///         }
///     }
///     fn init() -> Result<Self, String> {
///         Ok(Fixed)
///     }
///     fn poll(&mut self) -> Result<Vec<Tick>, String> {
///         let timestamp = clock::now_ms();
///         Ok(vec![Tick { symbol: "EURUSD".into(), bid: 1.1, ask: 1.1002, timestamp }])
///     }
/// }
///
/// gateway_sdk::export_price_source!(Fixed);
/// # let _host = gateway_sdk::testing::FakeHost::new().time_ms(7).install();
/// assert_eq!(Fixed.poll().unwrap()[0].timestamp, 7);
/// ```
pub trait PriceSource: Sized + 'static {
    /// Name, version and the symbols served; may read [`crate::config`].
    fn describe() -> SourceInfo;
    /// Builds the plugin's state; called once per instance before `poll`.
    fn init() -> Result<Self, String>;
    /// Ticks produced since the previous poll.
    fn poll(&mut self) -> Result<Vec<Tick>, String>;
}

/// A source of order notifications and position updates.
///
/// ```
/// use gateway_sdk::{OrderBatch, OrderPoller, PluginInfo, PollerInfo};
///
/// struct Quiet;
///
/// impl OrderPoller for Quiet {
///     fn describe() -> PollerInfo {
///         PollerInfo { plugin: PluginInfo::new("quiet", "0.1.0", "no orders"), interval_ms: 1000 }
///     }
///     fn init() -> Result<Self, String> {
///         Ok(Quiet)
///     }
///     fn poll(&mut self) -> Result<OrderBatch, String> {
///         Ok(OrderBatch { orders: vec![], positions: vec![] })
///     }
/// }
///
/// gateway_sdk::export_order_poller!(Quiet);
/// assert!(Quiet.poll().unwrap().orders.is_empty());
/// ```
///
/// A real poller keeps its position with [`crate::cursor::Checkpoint`]
/// (see `sdk/README.md` and the scaffold of `gateway plugin new --kind
/// order-poller`).
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
///
/// ```
/// use gateway_sdk::{ChatReply, ChatRequest, ChatResponder, PluginInfo, chat};
///
/// struct Echo;
///
/// impl ChatResponder for Echo {
///     fn describe() -> PluginInfo {
///         PluginInfo::new("echo", "0.1.0", "says it back")
///     }
///     fn init() -> Result<Self, String> {
///         Ok(Echo)
///     }
///     fn respond(&mut self, request: ChatRequest) -> Result<ChatReply, String> {
///         chat::send_chunk(&request.id, "You said: ");
///         Ok(ChatReply { message: format!("You said: {}", request.message) })
///     }
/// }
///
/// gateway_sdk::export_chat_responder!(Echo);
/// # let _host = gateway_sdk::testing::FakeHost::new().install();
/// let request = ChatRequest {
///     id: "r-1".into(),
///     user_id: "alice".into(),
///     message: "hi".into(),
///     current_symbol: None,
/// };
/// assert_eq!(Echo.respond(request).unwrap().message, "You said: hi");
/// ```
pub trait ChatResponder: Sized + 'static {
    /// Name and version.
    fn describe() -> PluginInfo;
    /// Builds the plugin's state; called once per instance.
    fn init() -> Result<Self, String>;
    /// The final answer; parts may be streamed first with [`crate::chat::send_chunk`].
    fn respond(&mut self, request: ChatRequest) -> Result<ChatReply, String>;
}

/// Decides which subscribers receive an event, and may poll for events.
///
/// ```
/// use gateway_sdk::{Event, EventFilter, FilterInfo, PluginInfo, Subscriber};
///
/// struct ByType;
///
/// impl EventFilter for ByType {
///     fn describe() -> FilterInfo {
///         FilterInfo {
///             plugin: PluginInfo::new("by-type", "0.1.0", "subscribed types only"),
///             poll_interval_ms: None,
///         }
///     }
///     fn init() -> Result<Self, String> {
///         Ok(ByType)
///     }
///     fn filter(&mut self, event: &Event, subscribers: &[Subscriber]) -> Vec<bool> {
///         subscribers.iter().map(|s| s.event_types.contains(&event.kind)).collect()
///     }
/// }
///
/// gateway_sdk::export_event_filter!(ByType);
/// ```
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
