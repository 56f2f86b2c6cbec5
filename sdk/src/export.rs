//! One export macro per plugin kind. Each wires a type implementing the kind's
//! trait to the world's exports; in a native build it expands to nothing, so
//! the plugin crate still compiles for `cargo test`.

/// Exports a [`PriceSource`](crate::PriceSource) implementation as the plugin's component.
///
/// Once per crate, after the implementation: `gateway_sdk::export_price_source!(MyPlugin);`
/// (the [`PriceSource`](crate::PriceSource) docs have a whole plugin). In a native
/// build it expands to nothing.
#[macro_export]
macro_rules! export_price_source {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::bindings::price_source::exports::gateway::plugins::price_source as world;
            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<Option<$t>> = const { ::std::cell::RefCell::new(None) };
            }
            const INSTANCE: $crate::__private::Instance<$t> = $crate::__private::Instance::new(&STATE);
            struct Export;
            impl world::Guest for Export {
                fn describe() -> world::SourceInfo {
                    <$t as $crate::PriceSource>::describe()
                }
                fn init() -> Result<(), String> {
                    INSTANCE.init(<$t as $crate::PriceSource>::init)
                }
                fn poll() -> Result<Vec<$crate::Tick>, String> {
                    INSTANCE.with(<$t as $crate::PriceSource>::init, |p| $crate::PriceSource::poll(p))?
                }
            }
            $crate::bindings::price_source::__export_price_source_world!(Export);
        };
    };
}

/// Exports an [`OrderPoller`](crate::OrderPoller) implementation as the plugin's component.
///
/// Once per crate, after the implementation: `gateway_sdk::export_order_poller!(MyPlugin);`
/// (the [`OrderPoller`](crate::OrderPoller) docs have a whole plugin). In a native
/// build it expands to nothing.
#[macro_export]
macro_rules! export_order_poller {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::bindings::order_poller::exports::gateway::plugins::order_poller as world;
            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<Option<$t>> = const { ::std::cell::RefCell::new(None) };
            }
            const INSTANCE: $crate::__private::Instance<$t> = $crate::__private::Instance::new(&STATE);
            struct Export;
            impl world::Guest for Export {
                fn describe() -> world::PollerInfo {
                    <$t as $crate::OrderPoller>::describe()
                }
                fn init() -> Result<(), String> {
                    INSTANCE.init(<$t as $crate::OrderPoller>::init)
                }
                fn poll() -> Result<$crate::OrderBatch, String> {
                    INSTANCE.with(<$t as $crate::OrderPoller>::init, |p| $crate::OrderPoller::poll(p))?
                }
            }
            $crate::bindings::order_poller::__export_order_poller_world!(Export);
        };
    };
}

/// Exports a [`ChatResponder`](crate::ChatResponder) implementation as the plugin's component.
///
/// Once per crate, after the implementation: `gateway_sdk::export_chat_responder!(MyPlugin);`
/// (the [`ChatResponder`](crate::ChatResponder) docs have a whole plugin). In a native
/// build it expands to nothing.
#[macro_export]
macro_rules! export_chat_responder {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::bindings::chat_responder::exports::gateway::plugins::chat_responder as world;
            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<Option<$t>> = const { ::std::cell::RefCell::new(None) };
            }
            const INSTANCE: $crate::__private::Instance<$t> = $crate::__private::Instance::new(&STATE);
            struct Export;
            impl world::Guest for Export {
                fn describe() -> $crate::PluginInfo {
                    <$t as $crate::ChatResponder>::describe()
                }
                fn init() -> Result<(), String> {
                    INSTANCE.init(<$t as $crate::ChatResponder>::init)
                }
                fn respond(request: $crate::ChatRequest) -> Result<$crate::ChatReply, String> {
                    INSTANCE.with(<$t as $crate::ChatResponder>::init, |p| {
                        $crate::ChatResponder::respond(p, request)
                    })?
                }
            }
            $crate::bindings::chat_responder::__export_chat_responder_world!(Export);
        };
    };
}

/// Exports an [`EventFilter`](crate::EventFilter) implementation as the plugin's component.
///
/// Once per crate, after the implementation: `gateway_sdk::export_event_filter!(MyPlugin);`
/// (the [`EventFilter`](crate::EventFilter) docs have a whole plugin). In a native
/// build it expands to nothing.
#[macro_export]
macro_rules! export_event_filter {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::bindings::event_filter::exports::gateway::plugins::event_filter as world;
            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<Option<$t>> = const { ::std::cell::RefCell::new(None) };
            }
            const INSTANCE: $crate::__private::Instance<$t> = $crate::__private::Instance::new(&STATE);
            struct Export;
            impl world::Guest for Export {
                fn describe() -> world::FilterInfo {
                    <$t as $crate::EventFilter>::describe()
                }
                fn init() -> Result<(), String> {
                    INSTANCE.init(<$t as $crate::EventFilter>::init)
                }
                fn filter(ev: $crate::Event, subscribers: Vec<$crate::Subscriber>) -> Vec<bool> {
                    INSTANCE
                        .with(<$t as $crate::EventFilter>::init, |p| {
                            $crate::EventFilter::filter(p, &ev, &subscribers)
                        })
                        .unwrap_or_else(|_| vec![false; subscribers.len()])
                }
                fn poll() -> Result<Vec<$crate::Event>, String> {
                    INSTANCE.with(<$t as $crate::EventFilter>::init, |p| $crate::EventFilter::poll(p))?
                }
            }
            $crate::bindings::event_filter::__export_event_filter_world!(Export);
        };
    };
}
