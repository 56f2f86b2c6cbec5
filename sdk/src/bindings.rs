//! Guest bindings generated from `wit/`, one module per world.
//!
//! `host` binds every import once; the four plugin worlds reuse it through
//! `with`, so a `Tick` is one type whichever world a plugin exports. Each
//! world's export macro is public and carries its own type section, so a
//! plugin links only the world it exports (see the `export_*!` macros).
#![allow(missing_docs, unreachable_pub, unsafe_code, clippy::all)]

/// Every host import, bound once.
pub mod host {
    wit_bindgen::generate!({
        world: "host-all",
        path: "../wit",
        additional_derives: [PartialEq],
        generate_unused_types: true,
    });
}

macro_rules! shared_imports {
    (with: { $($with:tt)* }, $($rest:tt)*) => {
        wit_bindgen::generate!({
            $($rest)*
            path: "../wit",
            pub_export_macro: true,
            with: {
                "gateway:plugins/types@0.1.0": crate::bindings::host::gateway::plugins::types,
                "gateway:plugins/log@0.1.0": crate::bindings::host::gateway::plugins::log,
                "gateway:plugins/clock@0.1.0": crate::bindings::host::gateway::plugins::clock,
                "gateway:plugins/config@0.1.0": crate::bindings::host::gateway::plugins::config,
                "gateway:plugins/kv@0.1.0": crate::bindings::host::gateway::plugins::kv,
                "gateway:plugins/http@0.1.0": crate::bindings::host::gateway::plugins::http,
                $($with)*
            },
        });
    };
}

/// The `price-source-plugin` world.
pub mod price_source {
    shared_imports!(
        with: {},
        world: "price-source-plugin",
        export_macro_name: "__export_price_source_world",
        default_bindings_module: "gateway_sdk::bindings::price_source",
        additional_derives: [PartialEq],
    );
}

/// The `order-poller-plugin` world.
pub mod order_poller {
    shared_imports!(
        with: {},
        world: "order-poller-plugin",
        export_macro_name: "__export_order_poller_world",
        default_bindings_module: "gateway_sdk::bindings::order_poller",
        additional_derives: [PartialEq],
    );
}

/// The `chat-responder-plugin` world.
pub mod chat_responder {
    shared_imports!(
        with: {
            "gateway:plugins/market@0.1.0": crate::bindings::host::gateway::plugins::market,
            "gateway:plugins/chat-stream@0.1.0": crate::bindings::host::gateway::plugins::chat_stream,
        },
        world: "chat-responder-plugin",
        export_macro_name: "__export_chat_responder_world",
        default_bindings_module: "gateway_sdk::bindings::chat_responder",
        additional_derives: [PartialEq],
    );
}

/// The `event-filter-plugin` world.
pub mod event_filter {
    shared_imports!(
        with: {},
        world: "event-filter-plugin",
        export_macro_name: "__export_event_filter_world",
        default_bindings_module: "gateway_sdk::bindings::event_filter",
        additional_derives: [PartialEq],
    );
}
