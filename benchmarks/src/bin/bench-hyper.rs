//! The baseline of `load.sh`: raw hyper 1 on a current-thread runtime, with a hand-written
//! match of `/{object_type}/get/{object_id}/`, answering a `json!` value, or with `struct`
//! a `#[derive(Serialize)]` struct (as an appserver handler returning a struct would).
//!
//! Run with: cargo run --release -p benchmarks --bin bench-hyper -- PORT [struct]

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::json;
use std::convert::Infallible;

/// The answer, as a struct.
#[derive(Serialize)]
struct Object<'a> {
    object_type: &'a str,
    object_id: u64,
}

async fn handle(request: Request<Incoming>, as_struct: bool) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let matched = path.strip_prefix('/').and_then(|rest| rest.split_once("/get/")).and_then(|(kind, id)| {
        let id = id.strip_suffix('/')?;
        let kind_ok = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        Some((kind, id.parse::<u64>().ok()?)).filter(|_| kind_ok)
    });
    let response = match matched {
        Some((kind, id)) => {
            let body = match as_struct {
                true => serde_json::to_vec(&Object { object_type: kind, object_id: id }),
                false => serde_json::to_vec(&json!({ "object_type": kind, "object_id": id })),
            };
            let body = body.unwrap();
            Response::builder().header("content-type", "application/json").body(Full::new(Bytes::from(body)))
        }
        None => Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(Bytes::new())),
    };
    Ok(response.unwrap())
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).expect("usage: bench-hyper PORT [struct]");
    let as_struct = std::env::args().nth(2).as_deref() == Some("struct");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let service = service_fn(move |request| handle(request, as_struct));
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    })
}
