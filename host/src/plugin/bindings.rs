//! Host bindings generated from `wit/`: the imports once (`host-all`), and
//! one module per plugin world that reuses them, so a capability is
//! implemented once whatever the plugin's kind.
#![allow(missing_docs, unreachable_pub, clippy::all)]

/// Every interface the host implements.
pub mod host {
    wasmtime::component::bindgen!({
        world: "host-all",
        path: "../wit",
    });
}

macro_rules! plugin_world {
    ($world:literal $(; $($with:tt)*)?) => {
        wasmtime::component::bindgen!({
            world: $world,
            path: "../wit",
            with: {
                "gateway:plugins/types": crate::plugin::bindings::host::gateway::plugins::types,
                "gateway:plugins/log": crate::plugin::bindings::host::gateway::plugins::log,
                "gateway:plugins/clock": crate::plugin::bindings::host::gateway::plugins::clock,
                "gateway:plugins/config": crate::plugin::bindings::host::gateway::plugins::config,
                "gateway:plugins/kv": crate::plugin::bindings::host::gateway::plugins::kv,
                "gateway:plugins/http": crate::plugin::bindings::host::gateway::plugins::http,
                $($($with)*)?
            },
        });
    };
}

/// The `price-source-plugin` world.
pub mod price_source {
    plugin_world!("price-source-plugin");
}

/// The `order-poller-plugin` world.
pub mod order_poller {
    plugin_world!("order-poller-plugin");
}

/// The `chat-responder-plugin` world.
pub mod chat_responder {
    plugin_world!(
        "chat-responder-plugin";
        "gateway:plugins/market": crate::plugin::bindings::host::gateway::plugins::market,
        "gateway:plugins/chat-stream": crate::plugin::bindings::host::gateway::plugins::chat_stream,
    );
}

/// The `event-filter-plugin` world.
pub mod event_filter {
    plugin_world!("event-filter-plugin");
}

pub use host::gateway::plugins::types;
