//! A lean Socket.IO v4 client for many sockets: one task per socket over a
//! raw Engine.IO websocket (no polling upgrade, default namespace, text
//! frames only). It authenticates with `auth.token`, answers pings, waits
//! for the go-ahead, subscribes to its symbols with an ack, then only
//! counts `price:update` frames and reads their `timestamp` without
//! parsing the JSON (and, when asked to follow its streams, their `symbol`,
//! to count repeated and skipped ticks). Unlike the tests' client (`tests/src/sio.rs`: two
//! tasks, channels and a full JSON parse per event) nothing is allocated
//! per frame beyond what the websocket library hands over.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::stats::Shared;

/// The longest a handshake (TCP, websocket upgrade, Engine.IO open,
/// Socket.IO connect) may take before it counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the sockets connect and how they are throttled.
pub(crate) struct Endpoint {
    /// The server's address.
    pub(crate) addr: SocketAddr,
    /// Handshakes in flight at most.
    pub(crate) in_flight: Arc<Semaphore>,
}

/// What one socket does.
pub(crate) struct Job {
    /// Its JWT.
    pub(crate) token: Arc<str>,
    /// Its `subscribe:prices` packet, sent after the go-ahead.
    pub(crate) subscribe: String,
    /// Follow each symbol's stream, whose ticks come every this many ms.
    pub(crate) follow_ms: Option<u64>,
}

/// The last tick timestamp of each symbol a socket follows.
type Streams = Vec<(Box<str>, u64)>;

type Ws = WebSocketStream<TcpStream>;

/// What the socket should do after a frame.
enum Flow {
    Continue,
    Closed,
}

/// Runs one socket until it is closed or its task is aborted: handshake,
/// then idle until `go` turns true, then subscribe and receive.
pub(crate) async fn run(
    endpoint: Arc<Endpoint>,
    job: Job,
    shared: Arc<Shared>,
    mut go: watch::Receiver<bool>,
) {
    let mut streams = Streams::new();
    let follow = job.follow_ms;
    let mut ws = {
        let Ok(_permit) = endpoint.in_flight.acquire().await else {
            return;
        };
        let began = Instant::now();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(endpoint.addr, &job.token)).await {
            Ok(Ok(ws)) => {
                shared.admitted(began);
                ws
            }
            Ok(Err(reason)) => return shared.refused(reason),
            Err(_) => return shared.refused("handshake timed out".into()),
        }
    };
    loop {
        tokio::select! {
            changed = go.changed() => {
                if changed.is_err() {
                    return;
                }
                if *go.borrow_and_update() {
                    break;
                }
            }
            frame = ws.next() => {
                if let Flow::Closed = on_frame(&mut ws, frame, &shared, follow, &mut streams).await {
                    return;
                }
            }
        }
    }
    if ws.send(Message::text(job.subscribe)).await.is_err() {
        shared
            .dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return;
    }
    loop {
        let frame = ws.next().await;
        if let Flow::Closed = on_frame(&mut ws, frame, &shared, follow, &mut streams).await {
            return;
        }
    }
}

/// TCP connect, websocket upgrade, Engine.IO open, Socket.IO connect with
/// `auth: { token }`; a refusal is reported with its code.
async fn handshake(addr: SocketAddr, token: &str) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("tcp: {}", e.kind()))?;
    let _ = tcp.set_nodelay(true);
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| format!("websocket: {}", short(&e.to_string())))?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.starts_with('0') => {}
        other => {
            return Err(format!(
                "no Engine.IO open packet: {}",
                short(&format!("{other:?}"))
            ));
        }
    }
    ws.send(Message::text(format!("40{{\"token\":\"{token}\"}}")))
        .await
        .map_err(|e| format!("websocket: {}", short(&e.to_string())))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let t = t.as_str();
                if t == "2" {
                    let _ = ws.send(Message::text("3")).await;
                } else if t.starts_with("40") {
                    return Ok(ws);
                } else if let Some(body) = t.strip_prefix("44") {
                    // `{"message":"CODE: sentence"}`: keep the code.
                    let message = body.split('"').nth(3).unwrap_or(body);
                    let code = message.split(':').next().unwrap_or(message);
                    return Err(format!("refused: {}", short(code)));
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("websocket: {}", short(&e.to_string()))),
            None => return Err("closed during the handshake".into()),
        }
    }
}

/// Handles one frame: counts price updates and acks, answers pings; with
/// `follow` (the tick interval), checks each symbol's stream in `streams`.
async fn on_frame(
    ws: &mut Ws,
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    shared: &Shared,
    follow: Option<u64>,
    streams: &mut Streams,
) -> Flow {
    use std::sync::atomic::Ordering::Relaxed;
    let text = match frame {
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
            shared.dropped.fetch_add(1, Relaxed);
            return Flow::Closed;
        }
        Some(Ok(_)) => return Flow::Continue,
    };
    let t = text.as_str();
    if t == "2" {
        // Engine.IO ping.
        if ws.send(Message::text("3")).await.is_err() {
            shared.dropped.fetch_add(1, Relaxed);
            return Flow::Closed;
        }
        return Flow::Continue;
    }
    match t.as_bytes() {
        [b'4', b'2', ..] => {
            if let Some(ts) = price_timestamp(t) {
                shared.update(ts);
                if let (Some(interval), Some(symbol)) = (follow, price_symbol(t)) {
                    match streams.iter_mut().find(|(s, _)| **s == *symbol) {
                        Some((_, last)) => {
                            shared.stream_step(*last, ts, interval);
                            *last = (*last).max(ts);
                        }
                        None => streams.push((symbol.into(), ts)),
                    }
                }
            }
        }
        [b'4', b'3', ..] => {
            if t.contains("\"ok\":true") {
                shared.subscribed.fetch_add(1, Relaxed);
            } else {
                shared.subscribe_failed.fetch_add(1, Relaxed);
                shared.failure(format!("subscribe: {}", short(t)));
            }
        }
        [b'4', b'1', ..] | [b'1', ..] => {
            shared.dropped.fetch_add(1, Relaxed);
            return Flow::Closed;
        }
        _ => {}
    }
    Flow::Continue
}

/// The tick timestamp of a `price:update` packet
/// (`42["price:update",{…,"timestamp":1764…}]`), without a JSON parse.
fn price_timestamp(packet: &str) -> Option<u64> {
    let body = packet.strip_prefix("42[\"price:update\",")?;
    const KEY: &str = "\"timestamp\":";
    let at = body.rfind(KEY)? + KEY.len();
    let digits = body.as_bytes()[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit());
    let mut value = 0u64;
    let mut any = false;
    for d in digits {
        value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        any = true;
    }
    any.then_some(value)
}

/// The `symbol` of a `price:update` packet, without a JSON parse.
fn price_symbol(packet: &str) -> Option<&str> {
    let body = packet.strip_prefix("42[\"price:update\",")?;
    const KEY: &str = "\"symbol\":\"";
    let at = body.find(KEY)? + KEY.len();
    let len = body[at..].find('"')?;
    Some(&body[at..at + len])
}

/// The `subscribe:prices` packet (ack id 1) for `symbols`.
pub(crate) fn subscribe_packet(symbols: &[&str]) -> String {
    let list: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "421[\"subscribe:prices\",{{\"symbols\":[{}]}}]",
        list.join(",")
    )
}

/// At most 80 characters of `s`, for failure reasons.
fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_timestamp_of_either_server() {
        let rust = r#"42["price:update",{"symbol":"EURUSD","bid":1.08501,"ask":1.08509,"timestamp":1764097123456}]"#;
        assert_eq!(price_timestamp(rust), Some(1_764_097_123_456));
        let node = r#"42["price:update",{"symbol":"USDJPY","bid":151.2,"ask":151.202,"timestamp":1764097123457}]"#;
        assert_eq!(price_timestamp(node), Some(1_764_097_123_457));
        assert_eq!(
            price_timestamp(r#"42["prices:initial",{"prices":[]}]"#),
            None
        );
        assert_eq!(
            price_timestamp(r#"42["price:update",{"timestamp":null}]"#),
            None
        );
        assert_eq!(price_symbol(rust), Some("EURUSD"));
        assert_eq!(price_symbol(node), Some("USDJPY"));
        assert_eq!(price_symbol(r#"42["price:update",{"bid":1}]"#), None);
    }

    #[test]
    fn subscribe_packet_is_an_event_with_an_ack() {
        assert_eq!(
            subscribe_packet(&["EURUSD", "GBPUSD"]),
            r#"421["subscribe:prices",{"symbols":["EURUSD","GBPUSD"]}]"#
        );
    }
}
