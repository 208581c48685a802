//! Run with: cargo run --example middleware
//!
//! tower-http middleware on every route: CORS (preflight requests answered), gzip
//! compression, and a request id on every response:
//!
//! ```text
//! curl -si --compressed localhost:8080/items/
//! curl -si -X OPTIONS localhost:8080/items/ -H 'origin: https://example.com' -H 'access-control-request-method: GET'
//! ```

use appserver::{Server, route};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};

#[route(GET, r"/items/")]
fn items() -> Value {
    let items: Vec<Value> = (0..100).map(|i| json!({ "id": i, "name": format!("item {i}") })).collect();
    json!({ "items": items })
}

/// Request ids from a counter: `1`, `2`, ... (a client's own `x-request-id` is kept).
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &appserver::http::Request<B>) -> Option<RequestId> {
        let id = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        Some(RequestId::new(id.to_string().parse().ok()?))
    }
}

/// The server with its layers; the last added is the outermost.
fn app() -> Server {
    let cors = CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any);
    Server::new()
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(Counter::default()))
}

fn main() -> Result<(), appserver::ServeError> {
    app().serve()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    /// Sends `head` (a request without body) and returns the response head and body bytes.
    fn exchange(server: &appserver::RunningServer, head: &str) -> (String, Vec<u8>) {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(out[..split].to_vec()).unwrap();
        let mut body = out[split + 4..].to_vec();
        if head.contains("\r\ntransfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (head, body)
    }

    /// The data of a chunked body.
    fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        loop {
            let line = chunked.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&chunked[..line]).unwrap().trim(), 16).unwrap();
            if size == 0 {
                return data;
            }
            data.extend_from_slice(&chunked[line + 2..line + 2 + size]);
            chunked = &chunked[line + 2 + size + 2..];
        }
    }

    #[test]
    fn cors_compression_and_request_ids_on_every_route() {
        let server = super::app().bind(([127, 0, 0, 1], 0)).start().unwrap();
        // Compressed when the client accepts gzip, with a request id.
        let (head, body) = exchange(&server, "GET /items/ HTTP/1.1\r\nAccept-Encoding: gzip");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("\r\ncontent-encoding: gzip"), "{head}");
        assert!(head.contains("\r\nx-request-id: "), "{head}");
        let mut json = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["items"][99]["name"], "item 99");
        assert!(body.len() < json.len() / 3, "{} gzip bytes for {} JSON bytes", body.len(), json.len());
        // Not compressed otherwise; a client's request id is kept.
        let (head, body) = exchange(&server, "GET /items/ HTTP/1.1\r\nX-Request-Id: abc-123");
        assert!(!head.contains("content-encoding") && head.contains("\r\nx-request-id: abc-123"), "{head}");
        assert!(body.starts_with(br#"{"items":[{"id":0,"name":"item 0"}"#));
        // A CORS preflight is answered by the layer; real requests get the CORS header.
        let (head, _) = exchange(
            &server,
            "OPTIONS /items/ HTTP/1.1\r\nOrigin: https://example.com\r\nAccess-Control-Request-Method: GET",
        );
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("\r\naccess-control-allow-origin: *"), "{head}");
        assert!(head.contains("\r\naccess-control-allow-methods: *"), "{head}");
        let (head, _) = exchange(&server, "GET /items/ HTTP/1.1\r\nOrigin: https://example.com");
        assert!(head.contains("\r\naccess-control-allow-origin: *"), "{head}");
        // The framework's own answers pass through the layers too.
        let (head, body) = exchange(&server, "GET /nowhere HTTP/1.1");
        assert!(head.starts_with("HTTP/1.1 404 ") && head.contains("\r\nx-request-id: "), "{head}");
        assert_eq!(body, br#"{"error":{"status":404,"message":"no route for GET /nowhere"}}"#);
    }
}
