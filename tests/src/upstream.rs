//! Fake upstream services as real HTTP servers on 127.0.0.1: the trading
//! service (orders and positions, with a `/push` control endpoint), the
//! event service (same shape), the user service (ids starting with
//! `banned` are refused) and a market data service whose answer a test can
//! switch between good prices, garbage, errors and silence.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// A fake service listening on a random port.
pub struct Fake<S> {
    /// Its base URL.
    pub url: String,
    /// Its shared state.
    pub state: Arc<S>,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Drop for Fake<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` over HTTP on a random 127.0.0.1 port.
pub async fn serve<S: Send + Sync + 'static>(state: Arc<S>, router: Router) -> Fake<S> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Fake { url, state, task }
}

/// Serves `router` over HTTPS with `tls` on a random port, as
/// `https://localhost:PORT`.
pub async fn serve_https<S: Send + Sync + 'static>(
    state: Arc<S>,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
) -> Fake<S> {
    let listener = crate::tls::TlsListener::bind(tls).await;
    let port = axum::serve::Listener::local_addr(&listener).unwrap().port();
    let url = format!("https://localhost:{port}");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Fake { url, state, task }
}

/// A cursor-paged feed: items appended by tests, served after `since`.
#[derive(Default)]
pub struct Feed {
    items: Mutex<Vec<(String, Value)>>,
    requests: Mutex<Vec<Option<String>>>,
    failing: Mutex<bool>,
}

impl Feed {
    /// Appends items of `list` (e.g. `orders`).
    pub fn push(&self, list: &str, items: &[Value]) {
        self.items
            .lock()
            .extend(items.iter().map(|i| (list.to_owned(), i.clone())));
    }

    /// The `since` of every request so far.
    pub fn requests(&self) -> Vec<Option<String>> {
        self.requests.lock().clone()
    }

    /// Makes the feed answer 503 (or recover).
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock() = failing;
    }

    fn page(&self, since: Option<String>, lists: &[&str]) -> Response {
        self.requests.lock().push(since.clone());
        if *self.failing.lock() {
            return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
        }
        let items = self.items.lock();
        let from = since
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0)
            .min(items.len());
        let mut body = json!({ "cursor": items.len().to_string() });
        for list in lists {
            body[*list] = Value::Array(
                items[from..]
                    .iter()
                    .filter(|(l, _)| l == list)
                    .map(|(_, v)| v.clone())
                    .collect(),
            );
        }
        Json(body).into_response()
    }
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<String>,
}

/// The trading service: `GET /notifications?since=`, `POST /push`.
pub async fn trading() -> Fake<Feed> {
    let state = Arc::new(Feed::default());
    let router = Router::new()
        .route(
            "/notifications",
            get(
                |State(f): State<Arc<Feed>>, Query(q): Query<Since>| async move {
                    f.page(q.since, &["orders", "positions"])
                },
            ),
        )
        .route(
            "/push",
            post(
                |State(f): State<Arc<Feed>>, Json(body): Json<Value>| async move {
                    for list in ["orders", "positions"] {
                        if let Some(items) = body[list].as_array() {
                            f.push(list, items);
                        }
                    }
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(state.clone());
    serve(state, router).await
}

/// The event service: `GET /events?since=`.
pub async fn events() -> Fake<Feed> {
    let state = Arc::new(Feed::default());
    let router = Router::new()
        .route(
            "/events",
            get(
                |State(f): State<Arc<Feed>>, Query(q): Query<Since>| async move {
                    f.page(q.since, &["events"])
                },
            ),
        )
        .with_state(state.clone());
    serve(state, router).await
}

/// The user service: 200 for any id not starting with `banned`.
pub async fn users() -> Fake<()> {
    let router = Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<String>| async move {
            if id.starts_with("banned") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            }
        }),
    );
    serve(Arc::new(()), router).await
}

/// What the fake market data service answers.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketMode {
    /// `{ prices }` with these ticks (timestamps refreshed to now).
    Prices(Vec<Value>),
    /// A body that is not JSON.
    Garbage,
    /// HTTP 500.
    Error,
    /// Waits this long before answering with the prices.
    Slow(Duration, Vec<Value>),
}

/// The market data service: `GET /prices?symbols=`.
pub async fn market(mode: MarketMode) -> Fake<Mutex<MarketMode>> {
    let state = Arc::new(Mutex::new(mode));
    serve(state.clone(), market_router(state)).await
}

/// [`market`] over HTTPS with `tls`.
pub async fn market_https(
    mode: MarketMode,
    tls: Arc<rustls::ServerConfig>,
) -> Fake<Mutex<MarketMode>> {
    let state = Arc::new(Mutex::new(mode));
    serve_https(state.clone(), market_router(state), tls).await
}

/// The routes of [`market`], for a test that layers its own on top.
pub fn market_router(state: Arc<Mutex<MarketMode>>) -> Router {
    Router::new()
        .route(
            "/prices",
            get(|State(m): State<Arc<Mutex<MarketMode>>>| async move {
                let mode = m.lock().clone();
                let fresh = |ticks: Vec<Value>| {
                    let now = gateway::time::now_ms();
                    let prices: Vec<Value> = ticks
                        .into_iter()
                        .map(|mut t| {
                            t["timestamp"] = json!(now);
                            t
                        })
                        .collect();
                    Json(json!({ "prices": prices })).into_response()
                };
                match mode {
                    MarketMode::Prices(t) => fresh(t),
                    MarketMode::Garbage => {
                        (StatusCode::OK, "<html>not json</html>").into_response()
                    }
                    MarketMode::Error => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
                    }
                    MarketMode::Slow(d, t) => {
                        tokio::time::sleep(d).await;
                        fresh(t)
                    }
                }
            }),
        )
        .with_state(state)
}
