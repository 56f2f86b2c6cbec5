//! The Socket.IO side of the contract: the handshake ([`handshake`]: token,
//! user check, caps, greeting), the token's expiry ([`expiry`]), then one
//! module per event family. Every client event passes the same [`gate`] —
//! count, rate limit, typed payload ([`payload`]) — before its handler
//! runs; only chat and event filtering ever reach a plugin, and never on
//! the socket's I/O path (plugins run on their own threads).

mod chat;
mod events;
mod expiry;
mod gate;
mod handshake;
mod orders;
mod payload;
mod prices;
mod refresh;
pub(crate) mod reply;
pub(crate) mod session;

use std::sync::Arc;

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;

use crate::app::Gateway;
use crate::protocol::client;
use session::Session;

/// Installs the default namespace's handshake and handlers.
pub(crate) fn attach(io: &SocketIo, gateway: Arc<Gateway>) {
    let on_connect = {
        let gateway = gateway.clone();
        move |socket: SocketRef| {
            let gateway = gateway.clone();
            async move { handshake::connected(socket, gateway).await }
        }
    };
    let check = move |socket: SocketRef, auth: TryData<Value>| {
        handshake::authenticate(socket, auth, gateway.clone())
    };
    io.ns("/", on_connect.with(check));
}

/// Registers the handlers of an authenticated socket.
fn register(socket: &SocketRef, g: &Arc<Gateway>, s: &Arc<Session>) {
    gate::on(socket, g, s, client::SUBSCRIBE_PRICES, prices::subscribe);
    gate::on(
        socket,
        g,
        s,
        client::UNSUBSCRIBE_PRICES,
        prices::unsubscribe,
    );
    gate::on(socket, g, s, client::SUBSCRIBE_ORDERS, orders::subscribe);
    gate::on(
        socket,
        g,
        s,
        client::UNSUBSCRIBE_ORDERS,
        orders::unsubscribe,
    );
    gate::on(socket, g, s, client::ORDERS_REPLAY, orders::replay);
    gate::on(socket, g, s, client::CHAT_MESSAGE, chat::message);
    gate::on(socket, g, s, client::SUBSCRIBE_EVENTS, events::subscribe);
    gate::on(
        socket,
        g,
        s,
        client::UNSUBSCRIBE_EVENTS,
        events::unsubscribe,
    );
    gate::on(socket, g, s, client::AUTH_REFRESH, refresh::refresh);
    gate::on_unknown(socket, g, s);
}
