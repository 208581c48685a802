//! axum 0.8 for `load.sh`: on a current-thread runtime, or with `THREADS` > 1 on a
//! multi-thread runtime with that many worker threads. It answers a `#[derive(Serialize)]`
//! struct, as `examples/hello.rs` does.
//!
//! Run with: cargo run --release -p benchmarks --bin bench-axum -- PORT [THREADS=1]

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The answer.
#[derive(Serialize)]
struct Object {
    object_type: String,
    object_id: u64,
}

async fn get_object(Path((object_type, object_id)): Path<(String, u64)>) -> Json<Object> {
    Json(Object { object_type, object_id })
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: bench-axum PORT [THREADS]");
    let threads: usize = args.next().map_or(1, |t| t.parse().expect("a number of threads"));
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build()?,
    };
    runtime.block_on(async {
        let app = Router::new().route("/{object_type}/get/{object_id}/", get(get_object).post(get_object));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}
