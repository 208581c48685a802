//! actix-web 4 with `WORKERS` workers (default 1) for `load.sh`. It answers a
//! `#[derive(Serialize)]` struct, as `examples/hello.rs` does.
//!
//! Run with: cargo run --release -p benchmarks --bin bench-actix -- PORT [WORKERS=1]

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;

/// The answer.
#[derive(Serialize)]
struct Object {
    object_type: String,
    object_id: u64,
}

async fn get_object(path: web::Path<(String, u64)>) -> HttpResponse {
    let (object_type, object_id) = path.into_inner();
    HttpResponse::Ok().json(Object { object_type, object_id })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: bench-actix PORT [WORKERS]");
    let workers: usize = args.next().map_or(1, |w| w.parse().expect("a number of workers"));
    HttpServer::new(|| App::new().route("/{object_type}/get/{object_id}/", web::get().to(get_object)))
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
