//! Tower layers around the routes, and the routes as a tower service mounted in hyper.

mod support;

use appserver::http::header::{HeaderName, HeaderValue};
use appserver::{Server, route};
use std::time::Duration;
use support::{logged, raw, start};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

#[route(GET, r"/hello/(?P<name>[a-z]+)")]
fn hello(name: String) -> String {
    format!("hello {name}")
}

#[route(GET, r"/slow/")]
async fn slow() -> u8 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    1
}

#[route(POST, r"/echo/")]
fn echo(body: appserver::Bytes) -> usize {
    body.len()
}

fn tagged(value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(HeaderName::from_static("x-layer"), HeaderValue::from_static(value))
}

#[test]
fn layers_wrap_every_route_the_last_added_outermost() {
    // Before any server installs its own subscriber: other tests read the log.
    logged();
    let server = start(Server::new().max_body_bytes(10).layer(tagged("inner")).layer(tagged("outer")));
    let get = |path: &str| {
        raw(server.addr(), format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
    };
    let out = get("/hello/ann");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with(r#""hello ann""#), "{out}");
    assert!(out.contains("\r\nx-layer: outer\r\n") && !out.contains("inner"), "the outer layer runs last: {out}");
    // The framework's answers and limits hold behind the layers.
    let out = get("/nowhere");
    assert!(out.contains("\r\nx-layer: outer\r\n"), "{out}");
    assert!(out.ends_with(r#"{"error":{"status":404,"message":"no route for GET /nowhere"}}"#), "{out}");
    let out = raw(server.addr(), b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    assert!(out.starts_with("HTTP/1.1 413 ") && out.contains("limit of 10 bytes"), "{out}");
}

#[test]
fn a_layer_error_is_a_json_500_and_the_server_goes_on() {
    logged();
    let server = start(Server::new().layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(200))));
    let out = raw(server.addr(), b"GET /slow/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
    assert!(out.ends_with(r#"{"error":{"status":500,"message":"internal server error"}}"#), "{out}");
    // The access line tells what the client got, though the layer dropped the handler.
    let log = logged();
    assert!(log.contains(r#"appserver::access: method=GET path="/slow/" status=500"#), "{log}");
    let out = raw(server.addr(), b"GET /hello/bob HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.ends_with(r#""hello bob""#), "{out}");
}

#[test]
fn tower_http_trace_layer_logs_each_request_it_wraps() {
    logged();
    let server = start(Server::new().layer(TraceLayer::new_for_http()));
    let out = raw(server.addr(), b"GET /hello/trace HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with(r#""hello trace""#), "{out}");
    let log = logged();
    let line =
        log.lines().find(|line| line.contains("uri=/hello/trace") && line.contains("finished processing request"));
    let line = line.unwrap_or_else(|| panic!("no trace line for the request: {log}"));
    assert!(line.contains("status=200") && line.contains("method=GET"), "{line}");
    assert!(log.contains(r#"appserver::access: method=GET path="/hello/trace" status=200"#), "{log}");
}

#[test]
fn the_routes_as_a_tower_service_serve_inside_plain_hyper() {
    // Before any server installs its own subscriber: other tests read the log.
    logged();
    let service = Server::new().layer(tagged("mounted")).into_service().expect("the routes compile");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper_util::service::TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        })
    });
    let out = raw(addr, b"GET /hello/hyper HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with(r#""hello hyper""#), "{out}");
    assert!(out.contains("\r\nx-layer: mounted\r\n"), "{out}");
    let out = raw(addr, b"DELETE /hello/hyper HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 405 ") && out.contains("\r\nallow: GET, HEAD\r\n"), "{out}");
}

#[test]
fn the_routes_as_a_tower_service_nest_inside_axum() {
    // Before any server installs its own subscriber: other tests read the log.
    logged();
    let service = Server::new().into_service().expect("the routes compile");
    let app = axum::Router::new()
        .route("/axum-own", axum::routing::get(|| async { "from axum" }))
        .nest_service("/app", service);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || runtime.block_on(async move { axum::serve(listener, app).await.unwrap() }));
    let get = |path: &str| raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let out = get("/axum-own");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("from axum"), "{out}");
    // axum strips the prefix it nests under; the routes see /hello/nested.
    let out = get("/app/hello/nested");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with(r#""hello nested""#), "{out}");
    let out = get("/app/nowhere");
    assert!(out.ends_with(r#"{"error":{"status":404,"message":"no route for GET /nowhere"}}"#), "{out}");
}
