//! actix-web 4 with one worker, for `load.sh`.
//!
//! Run with: cargo run --release -p benchmarks --bin bench-actix -- PORT

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

async fn get_object(path: web::Path<(String, u64)>) -> HttpResponse {
    let (object_type, object_id) = path.into_inner();
    HttpResponse::Ok().json(json!({ "object_type": object_type, "object_id": object_id }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).expect("usage: bench-actix PORT");
    HttpServer::new(|| App::new().route("/{object_type}/get/{object_id}/", web::get().to(get_object)))
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
