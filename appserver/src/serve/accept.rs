//! The accept loop every serving process runs (the Threaded server, each Forked worker):
//! accept, admit (per-client cap, eviction when connections run short), serve with hyper,
//! and on shutdown: stop accepting, answer what the kernel had already accepted, let
//! requests in flight finish within `graceful_timeout`, close the rest.

use super::access;
use super::arrival::Arrival;
use super::boot::Served;
use super::connection::{Activity, Connections, RequestGuard, Watched};
use super::grace::Deadline;
use super::head_budget::{HeadBudget, Metered};
use super::layer::{self, Stack, box_error};
use super::pieces::Pieces;
use super::service::App;
use super::tls::Tls;
use crate::config::{Config, ErrorFormat};
use crate::handler::{BoxError, EndsAtShutdown, Shutdown};
use crate::handler::{error_body, problem_body};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections taken from the kernel's queue at shutdown, at most: they were accepted
/// before the listening socket closed, so they are answered.
const DRAIN_LIMIT: usize = 4096;

/// How long a client over its connection cap gets to show which protocol it speaks, when
/// the server speaks both HTTP/1.1 and HTTP/2 on plain TCP.
const REFUSAL_WAIT: Duration = Duration::from_millis(100);

/// Why a client over its address's connection cap is refused.
const TOO_MANY: &str = "too many connections from this address; retry later";

/// The answers to a client over its address's connection cap, written without reading its
/// request, each in the client's protocol.
struct Refusals {
    /// A 503 in the `error_format` of the server (a renderer of its own does not apply).
    http1: Box<[u8]>,
    /// The server's SETTINGS, then GOAWAY with no stream processed and ENHANCE_YOUR_CALM.
    http2: Box<[u8]>,
}

impl Refusals {
    fn new(format: ErrorFormat) -> Self {
        let status = StatusCode::SERVICE_UNAVAILABLE;
        let (content_type, body) = match format {
            ErrorFormat::Problem => ("application/problem+json", problem_body(status, TOO_MANY)),
            _ => ("application/json", error_body(status, TOO_MANY)),
        };
        let head = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {content_type}\r\nconnection: close\r\n\
             retry-after: 1\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // RFC 9113 §4.1 (frame header), §6.5 (SETTINGS), §6.8 (GOAWAY), §7 (0xb).
        let goaway_len = u32::try_from(8 + TOO_MANY.len()).unwrap_or(8).to_be_bytes();
        let mut http2 = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
        http2.extend_from_slice(&[goaway_len[1], goaway_len[2], goaway_len[3], 0x7, 0, 0, 0, 0, 0]);
        http2.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0xb]);
        http2.extend_from_slice(TOO_MANY.as_bytes());
        Refusals { http1: [head.into_bytes(), body].concat().into(), http2: http2.into() }
    }
}

/// Accepts and serves connections until `shutdown`, then shuts down gracefully: requests in
/// flight get until the deadline `shutdown` gives. `release_memory` gives the memory the
/// allocator holds free back to the system; it is called when half the connections open at
/// a peak have gone (a flood that ended, say).
pub(crate) async fn serve_connections(
    listener: std::net::TcpListener,
    served: Served,
    config: &Config,
    release_memory: fn(),
    shutdown: impl Future<Output = Deadline>,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    // Until the end of this function, once every request has had its line.
    let _access_log = access::Writer::start();
    let background: Vec<_> = served.background.iter().map(|task| tokio::spawn(task())).collect();
    let server = Arc::new(Accepting::new(served, config));
    // The reaper has a thread of its own: as a timer of the runtime it would make each wait
    // for I/O look at the timer wheel, a cost on every request.
    let (stop_reaper, reaper_stopped) = mpsc::channel::<()>();
    let reaper = std::thread::Builder::new().name("appserver-reaper".into()).spawn({
        let connections = Arc::clone(&server.connections);
        move || {
            // The most connections open since the allocator last gave memory back.
            let mut peak = 0;
            while let Err(RecvTimeoutError::Timeout) = reaper_stopped.recv_timeout(connections.tick()) {
                connections.reap();
                let open = connections.open();
                peak = peak.max(open);
                if open * 2 < peak {
                    release_memory();
                    peak = open;
                }
            }
        }
    })?;
    let mut shutdown = std::pin::pin!(shutdown);
    let deadline = loop {
        let accepted = tokio::select! {
            deadline = &mut shutdown => break deadline,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match Arc::clone(&server.permits).try_acquire_owned() {
            Ok(permit) => Some(permit),
            // Every slot is taken: an idle connection is closed for this one, which gets its
            // slot once that socket is closed (so that open sockets stay within the cap); if
            // all are busy, it waits for one to finish (further newcomers wait in the backlog).
            Err(_) => {
                server.connections.evict();
                tokio::select! {
                    deadline = &mut shutdown => {
                        server.serve(stream, None);
                        break deadline;
                    }
                    permit = Arc::clone(&server.permits).acquire_owned() => permit.ok(),
                }
            }
        };
        server.serve(stream, permit);
    };
    // Streams that end at shutdown end, handlers waiting for it are told, the program's
    // background work stops.
    server.connections.shutdown.begin();
    background.iter().for_each(tokio::task::JoinHandle::abort);
    // Stop accepting; take what the kernel already accepted, then close the socket so that
    // new connections are refused at once.
    let listener = listener.into_std()?;
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        match listener.accept() {
            Ok((stream, _)) => {
                drained += 1;
                let permit = Arc::clone(&server.permits).try_acquire_owned().ok();
                match stream.set_nonblocking(true).and_then(|()| TcpStream::from_std(stream)) {
                    Ok(stream) => server.serve(stream, permit),
                    Err(err) => tracing::debug!(error = %err, "cannot serve a connection accepted at shutdown"),
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(listener);
    tracing::info!(drained, "shutting down: finishing requests in flight");
    server.connections.close_all();
    let open = server.connections.closed(deadline).await;
    if open > 0 {
        tracing::warn!(open, "graceful_timeout reached: closing the connections still open");
    }
    drop(stop_reaper);
    let _ = reaper.join();
    Ok(())
}

/// A connection's service: `respond`, each request counted in `activity` until its
/// response's body, handed over in [`Pieces`], is sent.
struct Counted<R> {
    activity: Arc<Activity>,
    respond: R,
}

impl<R, A, B> hyper::service::Service<hyper::Request<Incoming>> for Counted<R>
where
    R: Fn(hyper::Request<Incoming>, &Arc<Activity>) -> A,
    A: Future<Output = hyper::Response<B>> + Unpin,
    B: hyper::body::Body,
{
    type Response = hyper::Response<Pieces<B>>;
    type Error = Infallible;
    type Future = Answered<A>;

    fn call(&self, request: hyper::Request<Incoming>) -> Answered<A> {
        let version = request.version();
        let guard = Some(self.activity.request(version));
        Answered { guard, version, answer: (self.respond)(request, &self.activity) }
    }
}

/// A request's answer on its way, counted as in flight until its body is sent.
struct Answered<A> {
    guard: Option<RequestGuard>,
    version: http::Version,
    answer: A,
}

impl<A: Future<Output = hyper::Response<B>> + Unpin, B: hyper::body::Body> Future for Answered<A> {
    type Output = Result<hyper::Response<Pieces<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = ready!(Pin::new(&mut this.answer).poll(cx));
        let guard = this.guard.take();
        let upgrades = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
        if let Some(guard) = guard.as_ref().filter(|_| upgrades) {
            guard.activity().upgraded();
        }
        if !upgrades && guard.as_ref().is_some_and(|guard| guard.activity().closes_after(this.version)) {
            response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        let ends = !response.extensions().is_empty() && response.extensions().get::<EndsAtShutdown>().is_some();
        Poll::Ready(Ok(response.map(|body| Pieces::new(body, guard, ends))))
    }
}

/// What the accept loop shares with the connections it spawns.
struct Accepting {
    app: Arc<App>,
    tls: Option<Arc<Tls>>,
    http: http1::Builder,
    /// HTTP/1.1 or HTTP/2, for TLS and for `http2` on plain TCP.
    auto: Option<auto::Builder<TokioExecutor>>,
    /// The routes in their layers, if any.
    stack: Option<Stack>,
    header_timeout: Duration,
    /// The answers to a client over its connection cap, made once.
    refusals: Arc<Refusals>,
    permits: Arc<Semaphore>,
    connections: Arc<Connections>,
    heads: Arc<HeadBudget>,
}

impl Accepting {
    fn new(served: Served, config: &Config) -> Self {
        let Served { app, layers, tls, background: _ } = served;
        let shutdown = app.state.get::<Shutdown>().map(|shutdown| (*shutdown).clone()).unwrap_or_default();
        let mut http = http1::Builder::new();
        // The exact head limit (431), and the read buffer bounded by it.
        http.max_header_size(config.max_header_bytes).max_buf_size(config.max_header_bytes).writev(false);
        let auto = (tls.is_some() || config.http2).then(|| {
            let mut auto = auto::Builder::new(TokioExecutor::new());
            auto.http1().max_buf_size(config.max_header_bytes);
            auto.http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(config.http2_max_streams)
                .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
            auto
        });
        let stack = (!layers.is_empty()).then(|| layer::stack(Arc::clone(&app), &layers));
        Accepting {
            app,
            tls,
            http,
            auto,
            stack,
            header_timeout: config.header_timeout,
            refusals: Arc::new(Refusals::new(config.error_format)),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            connections: Arc::new(Connections::new(
                config.header_timeout,
                config.keep_alive_timeout,
                config.max_connections_per_client,
                shutdown,
            )),
            heads: Arc::default(),
        }
    }

    /// Serves `stream` on a new task, holding `permit` while it is open; a client over its
    /// connection cap is answered 503.
    fn serve(&self, stream: TcpStream, permit: Option<OwnedSemaphorePermit>) {
        let Ok(client) = stream.peer_addr() else { return };
        // Whether the client has sent bytes already: a connection that has not is the first
        // to be closed for a newcomer, and the runtime reads only after its next I/O turn.
        let sent = socket2::SockRef::from(&stream).peek(&mut [std::mem::MaybeUninit::uninit()]).is_ok_and(|n| n > 0);
        let Some(slot) = self.connections.admit(client.ip(), sent, permit) else {
            tracing::debug!(client = %client.ip(), "refused: too many connections from this address");
            self.refuse(stream);
            return;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::clone(&slot.activity);
        let stream = Metered::new(stream, slot, Arc::clone(&self.heads));
        match &self.stack {
            // No layers: the routes themselves.
            None => {
                let app = Arc::clone(&self.app);
                let respond = move |request, activity: &Arc<Activity>| app.handle(request, Some(activity));
                self.drive(stream, Counted { activity, respond });
            }
            Some(stack) => {
                let (stack, render, request_id) = (stack.clone(), self.app.render.clone(), self.app.request_id);
                let respond = move |request: hyper::Request<Incoming>, activity: &Arc<Activity>| {
                    let request =
                        request.map(|body| Arrival::new(body, Some(activity)).map_err(box_error).boxed_unsync());
                    Box::pin(layer::call(stack.clone(), render.clone(), request, request_id))
                };
                self.drive(stream, Counted { activity, respond });
            }
        }
    }

    /// Refuses a connection over its address's cap in the protocol its client speaks: a TLS
    /// client is closed (nothing goes out in plaintext before a handshake), an HTTP/2 client
    /// gets GOAWAY, an HTTP/1.1 client the 503.
    fn refuse(&self, stream: TcpStream) {
        if self.tls.is_some() {
            return;
        }
        if self.auto.is_none() {
            let _ = stream.try_write(&self.refusals.http1);
            return;
        }
        let refusals = Arc::clone(&self.refusals);
        tokio::spawn(async move {
            let mut first = [0; 3];
            let answer = match tokio::time::timeout(REFUSAL_WAIT, stream.peek(&mut first)).await {
                Ok(Ok(3)) if &first == b"PRI" => &refusals.http2,
                Ok(Ok(n)) if n > 0 && !b"PRI".starts_with(&first[..n]) => &refusals.http1,
                // Silent, or too little to tell: closed.
                _ => return,
            };
            let _ = stream.try_write(answer);
        });
    }

    /// Serves one connection with `service` on a new task: plain HTTP/1.1, or HTTP/1.1 and
    /// HTTP/2 (after the TLS handshake, if any).
    fn drive<S, B>(&self, stream: Metered, service: S)
    where
        S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (activity, upgrades) = (Arc::clone(stream.activity()), self.app.upgrades);
        let Some(auto) = self.auto.clone() else {
            // Plain HTTP/1.1: the fast path, with upgrades only if a route takes them.
            let connection = self.http.serve_connection(TokioIo::new(stream), service);
            match upgrades {
                true => tokio::spawn(Watched::new(connection.with_upgrades(), activity)),
                false => tokio::spawn(Watched::new(connection, activity)),
            };
            return;
        };
        let (tls, handshake_timeout) = (self.tls.clone(), self.header_timeout);
        tokio::spawn(async move {
            match tls {
                None => serve_auto(&auto, TokioIo::new(stream), service, activity, upgrades).await,
                Some(tls) => {
                    let handshake = tokio::time::timeout(handshake_timeout, tls.acceptor().accept(stream));
                    match activity.unless_closed(handshake).await {
                        Some(Ok(Ok(stream))) => {
                            serve_auto(&auto, TokioIo::new(stream), service, activity, upgrades).await;
                        }
                        Some(Ok(Err(err))) => tracing::debug!(error = %err, "TLS handshake failed"),
                        Some(Err(_)) => tracing::debug!("TLS handshake timed out"),
                        None => {}
                    }
                }
            }
        });
    }
}

/// Serves `io` with HTTP/1.1 or HTTP/2 until it closes, with upgrades if `upgrades`.
async fn serve_auto<I, S, B>(
    auto: &auto::Builder<TokioExecutor>,
    io: I,
    service: S,
    activity: Arc<Activity>,
    upgrades: bool,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    match upgrades {
        true => Watched::new(auto.serve_connection_with_upgrades(io, service).into_owned(), activity).await,
        false => Watched::new(auto.serve_connection(io, service).into_owned(), activity).await,
    }
}
