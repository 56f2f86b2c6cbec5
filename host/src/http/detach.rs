//! Socket.IO requests detached from hyper's read buffer. hyper parses a
//! request's URI and header values as slices of the connection's read
//! buffer (8 KiB or more), and every socket keeps its handshake request's
//! parts (engineioxide's `req_parts`, where the handshake reads the token)
//! for as long as it is open, together with axum's `OriginalUri`: so each
//! open socket kept that whole buffer alive (heaptrack: 7.5 KiB of the
//! 30.8 KiB an idle socket cost). Before the Socket.IO layer sees the
//! request, this copies the URI and the headers something behind it reads
//! into allocations of their own, drops the other headers (a browser sends
//! a kilobyte of them, kept per socket for nothing), and drops
//! `OriginalUri`, which nothing behind this layer reads. CORS runs before
//! this layer and sees every header. It costs one copy of a few hundred
//! bytes per handshake and long-polling request.

use axum::extract::{OriginalUri, Request};
use axum::http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use axum::http::{HeaderMap, Uri};

/// The prefix of the Socket.IO endpoint.
const SOCKET_IO_PATH: &str = "/socket.io/";

/// The headers read behind this layer: the token (`Authorization`, by the
/// handshake), the long-polling body (`Content-Type`, `Content-Length`, by
/// engineioxide) and the WebSocket upgrade (by engineioxide and hyper).
const KEPT: [HeaderName; 9] = [
    AUTHORIZATION,
    CONTENT_TYPE,
    CONTENT_LENGTH,
    CONNECTION,
    UPGRADE,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
];

/// `req` with its URI and the [`KEPT`] headers in fresh allocations
/// (Socket.IO requests only; others pass unchanged).
pub(crate) async fn detach(mut req: Request) -> Request {
    if !req.uri().path().starts_with(SOCKET_IO_PATH) {
        return req;
    }
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
    let headers = std::mem::take(req.headers_mut());
    *req.headers_mut() = copied(&headers);
    req.extensions_mut().remove::<OriginalUri>();
    req
}

/// A copy of the [`KEPT`] headers of `headers` that shares no buffer with
/// them.
fn copied(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::new();
    for name in KEPT {
        for value in headers.get_all(&name) {
            let Ok(mut fresh) = HeaderValue::from_bytes(value.as_bytes()) else {
                continue;
            };
            fresh.set_sensitive(value.is_sensitive());
            copy.append(name.clone(), fresh);
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[tokio::test]
    async fn socket_io_requests_keep_their_uri_and_the_headers_read_behind() {
        let req = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket&token=a.b.c")
            .header("authorization", "Bearer x")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", "a")
            .header("sec-websocket-protocol", "b")
            .header("user-agent", "Mozilla/5.0")
            .header("cookie", "session=1")
            .body(Body::empty())
            .unwrap();
        let out = detach(req).await;
        assert_eq!(
            out.uri(),
            "/socket.io/?EIO=4&transport=websocket&token=a.b.c"
        );
        assert_eq!(out.headers()["authorization"], "Bearer x");
        assert_eq!(
            out.headers()["sec-websocket-key"],
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        let protocols: Vec<_> = out
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .collect();
        assert_eq!(protocols, ["a", "b"]);
        assert!(out.headers().get("user-agent").is_none());
        assert!(out.headers().get("cookie").is_none());
    }

    #[tokio::test]
    async fn other_requests_pass_unchanged() {
        let req = Request::builder()
            .uri("/api/status")
            .header("user-agent", "curl")
            .body(Body::empty())
            .unwrap();
        let out = detach(req).await;
        assert_eq!(out.headers()["user-agent"], "curl");
    }
}
