//! One request: route, read the body, call the handler, log.

use super::access::Access;
use super::arrival::Arrival;
use super::connection::Activity;
use super::log::{Panic, catching};
use super::metrics::{self, Metrics};
use super::probes::{self, Probe, Probes, Quiet};
use super::request_id::{self, X_REQUEST_ID};
use super::scrape;
use super::static_dir::StaticDir;
use crate::handler::{
    BodyStream, BoxError, Ending, Error, ErrorMessage, Failure, IntoResponse, Params, Request, Response, StateMap,
    Taken, Takes,
};
use crate::routing::{Lookup, Reply, Route, Router, openapi_document};
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HOST, HeaderValue, TRANSFER_ENCODING};
use http::{StatusCode, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

/// A request body the routes can read: hyper's, or whatever a layer made of it.
pub(crate) trait RequestBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}
impl<B: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static> RequestBody for B {}

/// Everything a request needs, shared by all connections.
pub(crate) struct App {
    pub(crate) router: Arc<Router>,
    /// Answers the paths no route matches, if the program has a `#[fallback]`.
    pub(crate) fallback: Option<&'static Route>,
    pub(crate) state: Arc<StateMap>,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) body_timeout: Duration,
    /// Where the OpenAPI document is served, if it is.
    pub(crate) openapi: Option<OpenApi>,
    /// Where the health probes are answered, if they are.
    pub(crate) probes: Probes,
    /// Whether the server answers a path itself: the OpenAPI document or a probe.
    pub(crate) builtins: bool,
    /// How errors are rendered, unless as the JSON they are made in.
    pub(crate) render: Option<Renderer>,
    /// Folders served under URL prefixes, after the routes.
    pub(crate) dirs: Arc<[StaticDir]>,
    /// Whether a route takes the connection (WebSocket): only then are connections served
    /// with upgrades, which costs every request a little.
    pub(crate) upgrades: bool,
    /// Whether requests get an id (the setting `request_id`).
    pub(crate) request_id: bool,
    /// The metrics requests are recorded in, if the server serves them.
    pub(crate) metrics: Option<&'static Metrics>,
    /// Where the metrics are served.
    pub(crate) metrics_path: Option<String>,
}

/// Renders an error in the shape a server answers errors in: `error_format = "problem"`, or
/// [`Server::error_renderer`](crate::Server::error_renderer).
pub(crate) type Renderer = Arc<dyn Fn(&Error) -> Response + Send + Sync>;

/// `response`, if it is an error response made in the JSON shape ([`ErrorMessage`]), made
/// again by `render`; the headers it had (`Allow`, `Retry-After`, `WWW-Authenticate`,
/// `Connection`) stay, unless the renderer set its own.
pub(crate) fn rendered(mut response: Response, render: &Renderer) -> Response {
    let Some(ErrorMessage(message)) = response.extensions_mut().remove::<ErrorMessage>() else { return response };
    let mut again = render(&Error::new(response.status(), message));
    let own: Vec<_> = again.headers().keys().cloned().collect();
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH && !own.contains(name) {
            again.headers_mut().append(name, value.clone());
        }
    }
    again
}

/// The OpenAPI document at its path: built when it is first asked for, then kept (shared
/// by the apps of one configuration's reloads, as the routes do not change).
pub(crate) struct OpenApi {
    pub(crate) path: String,
    pub(crate) document: Arc<OnceLock<Bytes>>,
    /// Whether the server has bearer tokens: without, no route asks for one.
    pub(crate) tokens: bool,
}

/// The title and version of the served OpenAPI document
/// ([`Server::openapi_info`](crate::Server::openapi_info)); the server registers it as state.
#[derive(Debug, Clone)]
pub(crate) struct OpenApiInfo {
    pub(crate) title: String,
    pub(crate) version: String,
}

impl OpenApi {
    /// The document of `router`, with the title and version of `info`, else titled after
    /// the program at version 0.0.0.
    fn get(&self, router: &Router, info: Option<&OpenApiInfo>) -> Bytes {
        let document = self.document.get_or_init(|| {
            let (title, version) = match info {
                Some(info) => (info.title.clone(), info.version.as_str()),
                None => {
                    let exe = std::env::current_exe().ok();
                    let stem = exe.as_deref().and_then(|exe| exe.file_stem()).map(|s| s.to_string_lossy().into_owned());
                    (stem.unwrap_or_else(|| "appserver".into()), "0.0.0")
                }
            };
            Bytes::from(openapi_document(router, &title, version, self.tokens).to_string())
        });
        document.clone()
    }
}

/// The response to one request: ready at once (the common case, a sync handler and no
/// body), or a future (a body to read, an async or blocking handler).
pub(crate) enum Answer {
    Ready(Option<Response>),
    Later(Pin<Box<dyn Future<Output = Response> + Send>>),
}

impl Future for Answer {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match self.get_mut() {
            Answer::Ready(response) => Poll::Ready(response.take().expect("an Answer is polled to completion once")),
            Answer::Later(future) => future.as_mut().poll(cx),
        }
    }
}

impl App {
    /// Answers `request`, which came on the connection of `activity`, and logs its access
    /// line; never fails, never panics.
    pub(crate) fn handle<B: RequestBody>(
        self: &Arc<Self>,
        mut request: http::Request<B>,
        activity: Option<&Arc<Activity>>,
    ) -> Answer {
        let id = self.request_id.then(|| request_id::of(&mut request));
        let access = Access::start(&request);
        if access.is_none() && id.is_none() {
            return self.respond(request, activity);
        }
        let mut answer = self.respond(request, activity);
        if let Answer::Ready(Some(response)) = &mut answer {
            sign(response, access, id);
            return answer;
        }
        match answer {
            Answer::Later(future) => Answer::Later(Box::pin(async move {
                let mut response = future.await;
                sign(&mut response, access, id);
                response
            })),
            ready => ready,
        }
    }

    /// Answers `request`, its errors rendered as the server renders them, and records it in
    /// the metrics; never fails, never panics.
    pub(crate) fn respond<B: RequestBody>(
        self: &Arc<Self>,
        request: http::Request<B>,
        activity: Option<&Arc<Activity>>,
    ) -> Answer {
        let Some(metrics) = self.metrics else { return self.rendered(request, activity, &mut 0) };
        let timer = metrics.start(request.method());
        let mut label = metrics.none_label();
        match self.rendered(request, activity, &mut label) {
            Answer::Ready(Some(response)) => {
                timer.finish(label, response.status().as_u16());
                Answer::Ready(Some(response))
            }
            Answer::Later(future) => Answer::Later(Box::pin(async move {
                let response = future.await;
                timer.finish(label, response.status().as_u16());
                response
            })),
            ready => ready,
        }
    }

    /// Answers `request`, its errors rendered as the server renders them; `label`: the
    /// metrics' label of the route that answers it.
    #[inline(always)]
    fn rendered<B: RequestBody>(
        self: &Arc<Self>,
        request: http::Request<B>,
        activity: Option<&Arc<Activity>>,
        label: &mut usize,
    ) -> Answer {
        let Some(render) = &self.render else { return self.answer(request, activity, label) };
        match self.answer(request, activity, label) {
            Answer::Ready(Some(response)) => Answer::Ready(Some(rendered(response, render))),
            Answer::Later(future) => {
                let render = Arc::clone(render);
                Answer::Later(Box::pin(async move { rendered(future.await, &render) }))
            }
            ready => ready,
        }
    }

    /// Answers `request` with errors in the JSON shape; a body to read waits on the
    /// connection of `activity` ([`Arrival`]).
    fn answer<B: RequestBody>(
        self: &Arc<Self>,
        request: http::Request<B>,
        activity: Option<&Arc<Activity>>,
        label: &mut usize,
    ) -> Answer {
        let ready = |response| Answer::Ready(Some(response));
        let (mut parts, body) = request.into_parts();
        if parts.version == Version::HTTP_11 && !one_host(&parts.headers) {
            // RFC 9112 §3.2; hyper leaves this check to the server.
            return ready(close(Error::bad_request("an HTTP/1.1 request needs exactly one Host header")));
        }
        if self.builtins && (parts.method == http::Method::GET || parts.method == http::Method::HEAD) {
            if let Some(answer) = self.builtin(parts.uri.path()) {
                return answer;
            }
        }
        let (route, params) = match self.router.find(&parts.method, parts.uri.path()) {
            Lookup::Route(route, params, index) => {
                *label = index;
                (route, params)
            }
            Lookup::NotFound => {
                if let Some(i) = self.dirs.iter().position(|dir| dir.below(parts.uri.path()).is_some()) {
                    let (app, request) = (Arc::clone(self), http::Request::from_parts(parts, ()));
                    return Answer::Later(Box::pin(async move { app.dirs[i].serve(&request).await }));
                }
                match self.fallback {
                    Some(fallback) => {
                        *label = self.metrics.map_or(0, Metrics::fallback_label);
                        (fallback, Params::new())
                    }
                    None => {
                        let message = format!("no route for {} {}", parts.method, parts.uri.path());
                        return ready(Error::not_found(message).into_response());
                    }
                }
            }
            Lookup::NotAllowed(allow) => {
                let error = Error::method_not_allowed(&parts.method, parts.uri.path(), &allow.to_string());
                return ready(error.into_response());
            }
        };
        let timeout = self.request_timeout;
        let mut request = Request {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: Bytes::new(),
            params,
            state: Arc::clone(&self.state),
            taken: match self.upgrades {
                true => parts.extensions.remove::<hyper::upgrade::OnUpgrade>().map(|up| Taken::Upgrade(up).boxed()),
                false => None,
            },
        };
        if body.is_end_stream() {
            return match run(route, &request) {
                Reply::Ready(response) => ready(response),
                reply => Answer::Later(Box::pin(finish(route, reply, timeout))),
            };
        }
        if let Err(err) = check_body_headers(&request.headers) {
            return ready(close(err));
        }
        // A request the route's checks refuse (a missing token) is refused unread.
        match catching(|| (route.precheck)(&request)) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return ready(close(err)),
            Err(panic) => return ready(closing(panicked(route, &panic))),
        }
        let limit = route.max_body_bytes.unwrap_or(self.max_body_bytes);
        let pause = self.body_timeout;
        let body = Arrival::new(body, activity);
        if (route.takes)() == Takes::Stream {
            return stream_body(route, request, body, limit, pause);
        }
        Answer::Later(Box::pin(async move {
            request.body = match read_body(body, limit, timeout, pause).await {
                Ok(body) => body,
                Err(err) => return close(err),
            };
            let reply = run(route, &request);
            drop(request);
            finish(route, reply, timeout).await
        }))
    }
}

/// Finishes `response`: its access line, and the request's `id` in its headers.
#[inline(always)]
fn sign(response: &mut Response, access: Option<Access>, id: Option<HeaderValue>) {
    if let Some(access) = access {
        log_access(response, access, id.as_ref());
    }
    if let Some(id) = id {
        response.headers_mut().insert(X_REQUEST_ID, id);
    }
}

/// Logs the access line of `response` now, or, if it outlives its head (a streamed body, a
/// WebSocket), when it ends, with the bytes it sent.
#[inline]
fn log_access(response: &mut Response, access: Access, id: Option<&HeaderValue>) {
    match response.extensions().is_empty() && !response.body().is_stream() {
        true => access.log(response.status(), id),
        false => log_access_at_end(response, access, id),
    }
}

#[cold]
fn log_access_at_end(response: &mut Response, access: Access, id: Option<&HeaderValue>) {
    if response.extensions_mut().remove::<Quiet>().is_some() {
        return;
    }
    let status = response.status();
    // A WebSocket's 101 carries its ending; a streamed body is given one.
    let upgrade = response.extensions_mut().remove::<Arc<Ending>>();
    match upgrade.or_else(|| response.body_mut().ending()) {
        Some(ending) => {
            let id = id.cloned();
            ending.then(move |bytes| access.log_ended(status, bytes, id.as_ref()));
        }
        None => access.log(status, id),
    }
}

impl App {
    /// The answer to a GET of a path the server serves itself, if `path` is one: the
    /// OpenAPI document, the metrics, a health probe.
    #[cold]
    fn builtin(self: &Arc<Self>, path: &str) -> Option<Answer> {
        if let Some(openapi) = self.openapi.as_ref().filter(|openapi| openapi.path == path) {
            let info = self.state.get::<OpenApiInfo>();
            let mut response = Response::new(crate::handler::Body::from(openapi.get(&self.router, info.as_deref())));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Some(Answer::Ready(Some(response)));
        }
        if let Some(metrics) = self.metrics.filter(|_| self.metrics_path.as_deref() == Some(path)) {
            let mut response = Response::new(crate::handler::Body::from(scrape::render(metrics)));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(scrape::CONTENT_TYPE));
            return Some(Answer::Ready(Some(response)));
        }
        let logged = self.probes.logged;
        Some(match self.probes.at(path)? {
            Probe::Health => Answer::Ready(Some(probes::quiet_unless(logged, probes::health()))),
            Probe::Ready => {
                let state = Arc::clone(&self.state);
                Answer::Later(Box::pin(async move { probes::quiet_unless(logged, probes::ready(state).await) }))
            }
        })
    }
}

/// Answers a request whose route takes its body as a [`BodyStream`]: the handler reads the
/// body as it arrives, within `limit` bytes and pauses of at most `pause`; `request_timeout`
/// does not apply, as the body's own progress is watched. A response made before the body
/// was read to its end closes the connection.
fn stream_body<B: RequestBody>(
    route: &'static Route,
    mut request: Request,
    body: B,
    limit: usize,
    pause: Duration,
) -> Answer {
    if body.size_hint().lower() > limit as u64 {
        return Answer::Ready(Some(close(Error::body_too_large(limit))));
    }
    let finished = Arc::new(AtomicBool::new(false));
    let body = body.map_err(Into::into).boxed_unsync();
    request.taken = Some(Taken::Stream(BodyStream::new(body, limit, pause, Arc::clone(&finished))).boxed());
    Answer::Later(Box::pin(async move {
        let reply = run(route, &request);
        drop(request);
        let response = finish(route, reply, Duration::MAX).await;
        match finished.load(Ordering::Relaxed) {
            true => response,
            false => closing(response),
        }
    }))
}

/// Whether `headers` hold exactly one `Host`: when no header is repeated (the common case),
/// one lookup.
fn one_host(headers: &http::HeaderMap) -> bool {
    match headers.len() == headers.keys_len() {
        true => headers.contains_key(HOST),
        false => headers.get_all(HOST).iter().count() == 1,
    }
}

/// What hyper leaves to the server about a request with a body: a transfer coding other
/// than `chunked` alone (501: the body would be passed on still encoded), an expectation
/// other than `100-continue` (417; hyper answers that one itself).
fn check_body_headers(headers: &http::HeaderMap) -> Result<(), Error> {
    let mut codings = headers.get_all(TRANSFER_ENCODING).iter();
    if let Some(coding) = codings.next() {
        if codings.next().is_some() || !coding.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") {
            let coding = String::from_utf8_lossy(coding.as_bytes()).into_owned();
            return Err(Error::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "transfer coding {coding:?} is not supported: send the body with Content-Length or \
                     Transfer-Encoding: chunked alone"
                ),
            ));
        }
    }
    match headers.get(EXPECT) {
        Some(expect) if !expect.as_bytes().trim_ascii().eq_ignore_ascii_case(b"100-continue") => Err(Error::new(
            StatusCode::EXPECTATION_FAILED,
            "the only expectation this server meets is `Expect: 100-continue`",
        )),
        _ => Ok(()),
    }
}

/// `err` as a response that closes the connection (its state is unknown: say, a body was
/// left unread).
fn close(err: Error) -> Response {
    closing(logged(err.into_response()))
}

/// `response`, closing the connection.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The whole body, up to `limit` bytes (a 413 past it, checked before reading when the
/// length is declared), within `timeout` and with no pause longer than `pause` (a 408
/// past either: a stalled body, an HTTP/2 stream left open, holds nothing for long).
async fn read_body<B: RequestBody>(body: B, limit: usize, timeout: Duration, pause: Duration) -> Result<Bytes, Error> {
    if body.size_hint().lower() > limit as u64 {
        return Err(Error::body_too_large(limit));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = std::pin::pin!(Limited::new(body, limit));
    let mut chunks: Vec<Bytes> = Vec::new();
    loop {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now()).min(pause);
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(frame))) => chunks.extend(frame.into_data().ok().filter(|data| !data.is_empty())),
            Ok(Some(Err(err))) if err.is::<LengthLimitError>() => return Err(Error::body_too_large(limit)),
            Ok(Some(Err(err))) => return Err(Error::bad_request(format!("cannot read the request body: {err}"))),
            Err(_) => return Err(Error::body_too_slow()),
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    })
}

/// Calls the handler: its reply, with an error or a panic (logged) as a ready response.
fn run(route: &'static Route, request: &Request) -> Reply {
    match catching(|| (route.handler)(request)) {
        Ok(Ok(mut reply)) => {
            if let Reply::Ready(response) = &mut reply {
                log_failure(response);
            }
            reply
        }
        Ok(Err(err)) => Reply::Ready(logged(err.into_response())),
        Err(panic) => Reply::Ready(panicked(route, &panic)),
    }
}

/// `response`, whose cause, if it is an error's that the client does not see ([`Failure`]),
/// is logged here: the one place a handler's error turns into a log line.
fn logged(mut response: Response) -> Response {
    log_failure(&mut response);
    response
}

/// Logs the cause of `response`, if it is an error's that the client does not see.
#[inline]
fn log_failure(response: &mut Response) {
    // Most responses have no extensions at all: one test, no lookup.
    if !response.extensions().is_empty() {
        if let Some(Failure(cause)) = response.extensions_mut().remove::<Failure>() {
            super::log::handler_failed(response.status().as_u16(), &cause);
        }
    }
}

/// Awaits an async or blocking handler: a panic is a logged 500, a handler past `timeout`
/// a 503 (its task is dropped), and the server goes on.
async fn finish(route: &'static Route, reply: Reply, timeout: Duration) -> Response {
    let response = match reply {
        Reply::Ready(response) => Ok(response),
        Reply::Pending(mut future) => {
            let guarded = poll_fn(move |cx| match catching(|| future.as_mut().poll(cx)) {
                Ok(poll) => poll,
                Err(panic) => Poll::Ready(panicked(route, &panic)),
            });
            tokio::time::timeout(timeout, guarded).await
        }
        Reply::Blocking(call) => {
            let call = move || catching(call).unwrap_or_else(|panic| panicked(route, &panic));
            tokio::time::timeout(timeout, tokio::task::spawn_blocking(call)).await.map(|joined| {
                joined.unwrap_or_else(|_| {
                    Error::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down").into_response()
                })
            })
        }
    };
    response.map(logged).unwrap_or_else(|_| {
        super::log::handler_timed_out(route.name, timeout);
        let message = format!("the handler did not answer within {} ms", timeout.as_millis());
        Error::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response()
    })
}

fn panicked(route: &Route, panic: &Panic) -> Response {
    panic.log(route.name);
    if let Some(metrics) = metrics::get() {
        metrics.handler_panicked();
    }
    Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
}
