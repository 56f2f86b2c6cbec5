//! A small Socket.IO v4 client over a raw Engine.IO websocket, for tests
//! and the load generator: connect with `auth`, emit with or without an
//! ack, receive events, answer pings. Only the default namespace and text
//! packets, which is all the gateway speaks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How a connection attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    /// The server answered `connect_error` with this message.
    Refused(String),
    /// The transport failed.
    Transport(String),
}

/// Something the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An event and its first argument (`Null` when none).
    Event(String, Value),
    /// The server disconnected the socket (or the transport closed).
    Disconnected,
}

/// Acks awaited, by id; `None` once the connection closed (nothing more
/// will be answered).
type Acks = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Value>>>>>;

/// One connected socket.
pub struct Client {
    /// The socket id the server gave.
    pub sid: String,
    out: mpsc::UnboundedSender<Message>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    acks: Acks,
    next_ack: AtomicU64,
}

/// Connect options.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// The handshake `auth` payload.
    pub auth: Option<Value>,
    /// Extra query parameters (e.g. `token`).
    pub query: Vec<(String, String)>,
    /// Extra HTTP headers (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
}

impl Options {
    /// `auth: { token }`.
    pub fn token(token: &str) -> Self {
        Self {
            auth: Some(serde_json::json!({ "token": token })),
            ..Self::default()
        }
    }
}

/// Connects to `base` (`http://host:port`).
pub async fn connect(base: &str, options: Options) -> Result<Client, ConnectError> {
    let mut url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replacen("http", "ws", 1)
    );
    for (k, v) in &options.query {
        url.push_str(&format!("&{k}={v}"));
    }
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Transport(e.to_string()))?;
    for (k, v) in &options.headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| ConnectError::Transport(e.to_string()))?,
            v.parse()
                .map_err(|_| ConnectError::Transport("bad header".into()))?,
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| ConnectError::Transport(e.to_string()))?;
    let (mut sink, mut stream) = ws.split();
    // Engine.IO open packet.
    match stream.next().await {
        Some(Ok(Message::Text(t))) if t.starts_with('0') => {}
        other => {
            return Err(ConnectError::Transport(format!(
                "no open packet: {other:?}"
            )));
        }
    }
    let connect = match &options.auth {
        Some(a) => format!("40{a}"),
        None => "40".into(),
    };
    sink.send(Message::text(connect))
        .await
        .map_err(|e| ConnectError::Transport(e.to_string()))?;
    let sid = loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => {
                let t = t.as_str();
                if t == "2" {
                    let _ = sink.send(Message::text("3")).await;
                } else if let Some(body) = t.strip_prefix("40") {
                    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    break v["sid"].as_str().unwrap_or_default().to_owned();
                } else if let Some(body) = t.strip_prefix("44") {
                    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    return Err(ConnectError::Refused(
                        v["message"].as_str().unwrap_or(body).to_owned(),
                    ));
                }
            }
            Some(Ok(_)) => {}
            other => {
                return Err(ConnectError::Transport(format!(
                    "closed during handshake: {other:?}"
                )));
            }
        }
    };
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    let (in_tx, incoming) = mpsc::unbounded_channel();
    let acks: Acks = Arc::new(Mutex::new(Some(HashMap::new())));
    tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let reader_acks = acks.clone();
    let pong = out.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            let Message::Text(t) = m else { continue };
            match parse(t.as_str()) {
                Packet::Ping => {
                    let _ = pong.send(Message::text("3"));
                }
                Packet::Event(name, data) => {
                    let _ = in_tx.send(Incoming::Event(name, data));
                }
                Packet::Ack(id, data) => {
                    let waiting = reader_acks.lock().as_mut().and_then(|a| a.remove(&id));
                    if let Some(tx) = waiting {
                        let _ = tx.send(data);
                    }
                }
                Packet::Disconnect => break,
                Packet::Other => {}
            }
        }
        // Unanswered acks will stay so: their waiters give up at once.
        *reader_acks.lock() = None;
        let _ = in_tx.send(Incoming::Disconnected);
    });
    Ok(Client {
        sid,
        out,
        incoming,
        acks,
        next_ack: AtomicU64::new(1),
    })
}

enum Packet {
    Ping,
    Event(String, Value),
    Ack(u64, Value),
    Disconnect,
    Other,
}

fn parse(t: &str) -> Packet {
    match t.as_bytes().first() {
        Some(b'2') => return Packet::Ping,
        Some(b'1') => return Packet::Disconnect,
        Some(b'4') => {}
        _ => return Packet::Other,
    }
    let body = &t[1..];
    let (kind, rest) = body.split_at(body.len().min(1));
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, json) = rest.split_at(digits);
    let args: Vec<Value> = serde_json::from_str(json).unwrap_or_default();
    match kind {
        "1" => Packet::Disconnect,
        "2" => {
            let mut args = args.into_iter();
            let name = args
                .next()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Packet::Event(name, args.next().unwrap_or(Value::Null))
        }
        "3" => Packet::Ack(
            id.parse().unwrap_or(0),
            args.into_iter().next().unwrap_or(Value::Null),
        ),
        _ => Packet::Other,
    }
}

/// How long helpers wait for an answer before giving up.
pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    /// Emits `event` with `data`, no ack.
    pub fn emit(&self, event: &str, data: &Value) {
        let _ = self.out.send(Message::text(format!(
            "42{}",
            serde_json::json!([event, data])
        )));
    }

    /// Emits raw Socket.IO packet text (after the Engine.IO `4`), for malformed-input tests.
    pub fn emit_raw(&self, packet: &str) {
        let _ = self.out.send(Message::text(format!("4{packet}")));
    }

    /// Emits `event` with `data` and waits for the ack.
    ///
    /// # Panics
    /// When no ack arrives within [`WAIT`].
    pub async fn emit_ack(&self, event: &str, data: &Value) -> Value {
        self.try_emit_ack(event, data, WAIT)
            .await
            .unwrap_or_else(|| panic!("no ack for {event} within {WAIT:?}"))
    }

    /// Emits `event` with `data`; the ack, or `None` when the connection
    /// closed or `limit` passed first.
    pub async fn try_emit_ack(&self, event: &str, data: &Value, limit: Duration) -> Option<Value> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().as_mut()?.insert(id, tx);
        let _ = self.out.send(Message::text(format!(
            "42{id}{}",
            serde_json::json!([event, data])
        )));
        tokio::time::timeout(limit, rx).await.ok()?.ok()
    }

    /// The next thing the server sends, within `limit`.
    pub async fn recv(&mut self, limit: Duration) -> Option<Incoming> {
        tokio::time::timeout(limit, self.incoming.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next `event`, skipping others, within `limit`.
    pub async fn next(&mut self, event: &str, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Incoming::Event(name, data) if name == event => return Some(data),
                Incoming::Event(..) => {}
                Incoming::Disconnected => return None,
            }
        }
    }

    /// Every event received within `window`.
    pub async fn drain(&mut self, window: Duration) -> Vec<Incoming> {
        let deadline = tokio::time::Instant::now() + window;
        let mut all = Vec::new();
        while let Some(m) = self
            .recv(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            all.push(m);
        }
        all
    }

    /// Waits until the server disconnects the socket.
    pub async fn disconnected(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self
                .recv(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await
            {
                Some(Incoming::Disconnected) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.acks.lock().is_none()
    }

    /// Closes the connection.
    pub fn close(&self) {
        let _ = self.out.send(Message::text("41"));
        let _ = self.out.send(Message::Close(None));
    }
}
