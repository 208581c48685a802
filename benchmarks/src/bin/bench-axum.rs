//! axum 0.8 on a current-thread runtime, for `load.sh`.
//!
//! Run with: cargo run --release -p benchmarks --bin bench-axum -- PORT

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

async fn get_object(Path((object_type, object_id)): Path<(String, u64)>) -> Json<Value> {
    Json(json!({ "object_type": object_type, "object_id": object_id }))
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).expect("usage: bench-axum PORT");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let app = Router::new().route("/{object_type}/get/{object_id}/", get(get_object).post(get_object));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await
    })
}
