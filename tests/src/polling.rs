//! A bare Engine.IO long-polling client: with this transport a client that
//! does not poll leaves everything in the server's per-socket buffer, so a
//! test can make a socket congested at will and read exactly what was
//! queued for it.

use std::sync::Mutex;

use serde_json::Value;

/// One long-polling connection.
pub struct Polling {
    http: reqwest::Client,
    url: String,
    /// Packets read while waiting for the CONNECT answer, handed out by
    /// the next [`Polling::poll`].
    early: Mutex<Vec<String>>,
}

/// One Socket.IO packet as read from a poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// An event (`42[name, data]`).
    Event(String, Value),
    /// An acknowledgement (`43<id>[data]`).
    Ack(u64, Value),
    /// The server disconnected the socket (`41`) or closed the session (`1`).
    Disconnect,
    /// Anything else (the CONNECT answer, pings, acks).
    Other(String),
}

impl Polling {
    /// Opens a session, sends the Socket.IO CONNECT with `auth` and waits
    /// for its answer (accepted or refused), as a real client does before
    /// it emits: an event sent before the namespace is connected ends the
    /// session.
    pub async fn open(base: &str, auth: &Value) -> Self {
        let http = reqwest::Client::new();
        let url = format!("{base}/socket.io/?EIO=4&transport=polling");
        let open = http.get(&url).send().await.unwrap().text().await.unwrap();
        let handshake: Value = serde_json::from_str(open.trim_start_matches('0')).unwrap();
        let url = format!("{url}&sid={}", handshake["sid"].as_str().unwrap());
        let me = Self {
            http,
            url,
            early: Mutex::new(Vec::new()),
        };
        me.send(&format!("40{auth}")).await;
        let mut early = Vec::new();
        while !early
            .iter()
            .any(|p: &String| p.starts_with("40") || p.starts_with("44") || p == "1")
        {
            early.extend(me.get().await);
        }
        *me.early.lock().unwrap() = early;
        me
    }

    /// Sends raw packet text.
    pub async fn send(&self, packet: &str) {
        let status = self
            .http
            .post(&self.url)
            .body(packet.to_owned())
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }

    /// Emits `event` with `data` (no ack).
    pub async fn emit(&self, event: &str, data: &Value) {
        self.send(&format!("42{}", serde_json::json!([event, data])))
            .await;
    }

    /// Emits `event` with `data`, asking for ack `id`.
    pub async fn emit_with_ack(&self, event: &str, data: &Value, id: u64) {
        self.send(&format!("42{id}{}", serde_json::json!([event, data])))
            .await;
    }

    /// One poll: the raw packets the server had queued.
    pub async fn poll(&self) -> Vec<String> {
        let early = std::mem::take(&mut *self.early.lock().unwrap());
        if !early.is_empty() {
            return early;
        }
        self.get().await
    }

    /// One GET of the session.
    async fn get(&self) -> Vec<String> {
        let body = self
            .http
            .get(&self.url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.split('\u{1e}').map(str::to_owned).collect()
    }

    /// One poll, parsed.
    pub async fn packets(&self) -> Vec<Packet> {
        self.poll().await.iter().map(|p| parse(p)).collect()
    }
}

/// Parses one packet's text.
pub fn parse(text: &str) -> Packet {
    if text == "41" || text == "1" {
        return Packet::Disconnect;
    }
    if let Some(rest) = text.strip_prefix("43") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (id, json) = rest.split_at(digits);
        if let (Ok(id), Ok(Value::Array(mut v))) = (id.parse(), serde_json::from_str(json)) {
            let data = if v.is_empty() {
                Value::Null
            } else {
                v.remove(0)
            };
            return Packet::Ack(id, data);
        }
    }
    match text.strip_prefix("42").map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Array(mut v))) if !v.is_empty() => {
            let data = if v.len() > 1 {
                v.remove(1)
            } else {
                Value::Null
            };
            Packet::Event(v[0].as_str().unwrap_or_default().to_owned(), data)
        }
        _ => Packet::Other(text.to_owned()),
    }
}

/// The data of the events named `event` among `packets`.
pub fn events<'a>(packets: &'a [Packet], event: &str) -> Vec<&'a Value> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Event(name, data) if name == event => Some(data),
            _ => None,
        })
        .collect()
}
