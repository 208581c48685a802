//! Serving: the [`Server`] builder and the one [`Boot`](boot::Boot) every server type
//! starts from; the accept loop, connections and their limits, the service that answers a
//! request (and logs what a handler's error hides from the client), tower layers, TLS,
//! signals, graceful shutdown, the Threaded and Forked server types, the access log and
//! the log setup, and the in-process [`TestClient`].
//!
//! May import: `config`, `routing` and `handler`. Nothing imports it but the crate root.

mod accept;
mod access;
mod arrival;
mod boot;
mod connection;
mod error;
mod fd_limit;
#[cfg(target_os = "linux")]
mod fork;
#[cfg(not(target_os = "linux"))]
#[path = "no_fork.rs"]
mod fork;
mod grace;
mod head_budget;
mod inspect;
mod layer;
mod log;
mod metrics;
mod pieces;
mod probes;
mod request_id;
mod scrape;
mod server;
mod service;
mod signal;
mod static_dir;
mod test_client;
mod threaded;
mod tls;
mod tokens;

pub use error::ServeError;
pub use inspect::{openapi, routes};
pub use layer::{AppService, LayerBody};
pub use server::{Listener, Server, run};
pub use test_client::{TestClient, TestRequest, TestResponse};
pub use threaded::RunningServer;
