//! The health probes an orchestrator polls: liveness at `health_path` (200 while the
//! process serves) and readiness at `ready_path` (200 when every check the application
//! added with [`Server::readiness`](crate::Server::readiness) passes; 503 when one fails,
//! and from the moment a graceful shutdown begins). A process answers only once its routes
//! are compiled and its `on_worker_start` hook has run, so a worker still starting is never
//! ready.

use crate::handler::{Response, Shutdown, StateMap, json_response};
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long one readiness check may take before it counts as failed.
pub(crate) const CHECK_WAIT: Duration = Duration::from_secs(2);

/// One readiness check: its name, and what runs it.
pub(crate) type Check = (&'static str, Arc<dyn Fn() -> CheckFuture + Send + Sync>);

/// A readiness check's run: an error's text when it fails.
pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The readiness checks of the application, in the order they were added; the server
/// registers them as state.
#[derive(Clone, Default)]
pub(crate) struct Readiness(pub(crate) Arc<[Check]>);

/// The paths of the probes, from the settings `health_path` and `ready_path`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probes {
    pub(crate) health: Option<String>,
    pub(crate) ready: Option<String>,
    /// Whether their requests get access lines (the setting `log_probes`).
    pub(crate) logged: bool,
}

/// Which probe a path is.
pub(crate) enum Probe {
    Health,
    Ready,
}

impl Probes {
    /// The probe at `path`, if any.
    pub(crate) fn at(&self, path: &str) -> Option<Probe> {
        if self.health.as_deref() == Some(path) {
            Some(Probe::Health)
        } else if self.ready.as_deref() == Some(path) {
            Some(Probe::Ready)
        } else {
            None
        }
    }
}

/// Marks a response whose request gets no access line (a probe's, with `log_probes =
/// false`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quiet;

/// `response`, marked [`Quiet`] unless `logged`.
pub(crate) fn quiet_unless(logged: bool, mut response: Response) -> Response {
    if !logged {
        response.extensions_mut().insert(Quiet);
    }
    response
}

/// Liveness: the process serves.
pub(crate) fn health() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

/// Readiness, from the shutdown and the checks registered in `state`: 200
/// `{"status":"ready","checks":{...}}`, else 503 with `"not ready"` and each check's
/// outcome, or `"stopping"` once a graceful shutdown has begun.
pub(crate) async fn ready(state: Arc<StateMap>) -> Response {
    if state.get::<Shutdown>().is_some_and(|shutdown| shutdown.is_requested()) {
        return unavailable(json!({ "status": "stopping" }));
    }
    let checks = state.get::<Readiness>().map(|readiness| Arc::clone(&readiness.0)).unwrap_or_default();
    let mut outcomes = Map::new();
    let mut ready = true;
    for (name, check) in checks.iter() {
        let (passed, outcome) = match tokio::time::timeout(CHECK_WAIT, check()).await {
            Ok(Ok(())) => (true, "ok".to_owned()),
            Ok(Err(error)) => (false, error),
            Err(_) => (false, format!("no answer within {} s", CHECK_WAIT.as_secs())),
        };
        ready &= passed;
        outcomes.insert((*name).to_owned(), Value::String(outcome));
    }
    match ready {
        true => json_response(StatusCode::OK, &json!({ "status": "ready", "checks": outcomes })),
        false => unavailable(json!({ "status": "not ready", "checks": outcomes })),
    }
}

/// A 503 with `body`, to be asked again in a second.
fn unavailable(body: Value) -> Response {
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
