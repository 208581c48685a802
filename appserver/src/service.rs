//! One request: route, read the body, call the handler, log.

use crate::error::Error;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::route::{Reply, Route};
use crate::router::{Lookup, Router};
use crate::state::StateMap;
use bytes::Bytes;
use http::StatusCode;
use http::header::{ALLOW, CONNECTION, HeaderValue};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use std::any::Any;
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

/// Everything a request needs, shared by all connections.
pub(crate) struct App {
    pub(crate) router: Router,
    pub(crate) state: Arc<StateMap>,
    pub(crate) max_body_bytes: usize,
}

impl App {
    /// Answers `request`; never fails, never panics.
    pub(crate) async fn handle(self: Arc<Self>, request: hyper::Request<Incoming>) -> Response {
        if !tracing::enabled!(target: "appserver::access", tracing::Level::INFO) {
            return self.respond(request).await;
        }
        let started = Instant::now();
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let response = self.respond(request).await;
        tracing::info!(
            target: "appserver::access",
            method = %method,
            path = uri.path(),
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
        );
        response
    }

    async fn respond(&self, request: hyper::Request<Incoming>) -> Response {
        let (parts, body) = request.into_parts();
        let (route, params) = match self.router.find(&parts.method, parts.uri.path()) {
            Lookup::Route(route, params) => (route, params),
            Lookup::NotFound => {
                return Error::not_found(format!("no route for {} {}", parts.method, parts.uri.path())).into_response();
            }
            Lookup::NotAllowed(allow) => {
                let message = format!("{} is not allowed for {}; allowed: {allow}", parts.method, parts.uri.path());
                let mut response = Error::new(StatusCode::METHOD_NOT_ALLOWED, message).into_response();
                if let Ok(allow) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(ALLOW, allow);
                }
                return response;
            }
        };
        let body = match read_body(body, self.max_body_bytes).await {
            Ok(body) => body,
            Err(err) => {
                let mut response = err.into_response();
                response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
        };
        let request = Request {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            params,
            state: Arc::clone(&self.state),
        };
        call(route, request).await
    }
}

/// The whole body, up to `limit` bytes (a 413 past it, checked before reading when the
/// length is declared).
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Error> {
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let too_large =
        || Error::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body is larger than the limit of {limit} bytes"));
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) => Err(Error::bad_request(format!("cannot read the request body: {err}"))),
    }
}

/// Runs the handler: a panic becomes a logged 500, the server goes on.
async fn call(route: &'static Route, request: Request) -> Response {
    let mut future = match catch_unwind(AssertUnwindSafe(|| (route.handler)(&request))) {
        Ok(Ok(Reply::Ready(response))) => return response,
        Ok(Ok(Reply::Pending(future))) => future,
        Ok(Err(err)) => return err.into_response(),
        Err(panic) => return panicked(route, panic),
    };
    drop(request);
    poll_fn(move |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(poll) => poll,
        Err(panic) => Poll::Ready(panicked(route, panic)),
    })
    .await
}

fn panicked(route: &Route, panic: Box<dyn Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(handler = route.name, panic = message, "handler panicked");
    Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
}
