//! Open connections: their timeouts, eviction when connections run short, the per-client
//! cap.
//!
//! Rather than a timer per request (hyper's header timeout resets one on every request),
//! one reaper task per server looks at every connection a few times per timeout. A
//! connection with no request in flight that has seen no new request for its limit
//! (`header_timeout` before its first request, the smaller of `keep_alive_timeout` and
//! `header_timeout` after) is shut down gracefully, and dropped one tick later if it is
//! stuck in the middle of a request's headers. On shutdown (and a Forked reload) no
//! request is lost: an HTTP/2 connection gets GOAWAY, and an HTTP/1.1 one stays open until
//! its next request, answered with `Connection: close`, or until its idle limit, so that a
//! client never sends a request on a connection the server is closing.
//!
//! When a newcomer finds no free slot, a connection that has no request in flight is closed
//! for it at once, as nginx reuses idle keep-alive connections: a flood of idle sockets
//! cannot lock clients out. Connections that have never been answered go first (silent
//! ones, then those part-way through a head, then those whose requests only wait for
//! bodies that do not come; all dropped on the spot), the oldest first; a keep-alive
//! connection that has been answered goes only when no such one is left.
//!
//! A response counts as in flight until its body is sent; the bytes of large ones that
//! clients have not taken yet are held against [`SEND_BUDGET`], which the reaper enforces
//! on the connections that take none of theirs.
//!
//! The hot path pays two relaxed atomic increments and one load per request, and one
//! atomic load per poll of the connection.

use super::grace::Deadline;
use super::metrics;
use crate::handler::Shutdown;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// How long request bodies must have been waiting for bytes for their connection to count
/// as idle for eviction.
const PARKED: Duration = Duration::from_secs(1);

/// Milliseconds since the first call: the coarse clock of body arrivals.
fn clock() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

const OPEN: u8 = 0;
const GRACEFUL: u8 = 1;
const DROP: u8 = 2;

/// What the service and the reaper know of one connection.
#[derive(Default)]
pub(crate) struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
    close: AtomicU8,
    waker: Mutex<Option<Waker>>,
    /// Whether the client has sent bytes of a head not yet complete.
    sending: AtomicBool,
    /// Whether the connection has carried an HTTP/2 request.
    http2: AtomicBool,
    /// Whether the server is shutting down: each response closes its HTTP/1.1 connection.
    draining: AtomicBool,
    /// Bytes of this connection's responses its client has not taken yet (large ones).
    held: AtomicUsize,
    /// Requests in flight waiting for bytes of their bodies.
    waiting: AtomicU64,
    /// When body bytes last arrived (or a body was begun), in ms of [`clock`].
    arrived: AtomicU64,
    /// The same, for every connection of the process: [`Connections::backlog`].
    backlog: Arc<AtomicUsize>,
    /// The server's shutdown.
    shutdown: Shutdown,
}

impl Activity {
    /// Marks a request as started; the guard marks it finished when dropped.
    pub(crate) fn request(self: &Arc<Self>, version: http::Version) -> RequestGuard {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.sending.store(false, Ordering::Relaxed);
        if version == http::Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        RequestGuard(Arc::clone(self))
    }

    /// Counts the connection, upgraded (to a WebSocket), as a request in flight for as long
    /// as it is open: busy, never idle nor evicted; its socket holds its [`Slot`].
    pub(crate) fn upgraded(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// The server's shutdown.
    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Asks the connection to close once its response is sent.
    pub(crate) fn close_gracefully(&self) {
        self.close(GRACEFUL);
    }

    /// Whether the response to a request of `version` closes the connection (`Connection:
    /// close`): the server is shutting down, and the connection is HTTP/1.
    pub(crate) fn closes_after(&self, version: http::Version) -> bool {
        version < http::Version::HTTP_2 && self.draining.load(Ordering::Relaxed)
    }

    /// `future`'s output, or `None` if the connection is asked to close first (a TLS
    /// handshake, for example, is not worth finishing for an evicted connection).
    pub(crate) async fn unless_closed<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            match self.close.load(Ordering::Acquire) {
                OPEN => Poll::Pending,
                _ => Poll::Ready(None),
            }
        })
        .await
    }

    /// Notes that a request's body waits for bytes (`true`), or no longer does.
    pub(crate) fn body_waits(&self, waiting: bool) {
        match waiting {
            true => self.waiting.fetch_add(1, Ordering::Relaxed),
            false => self.waiting.fetch_sub(1, Ordering::Relaxed),
        };
    }

    /// Notes that bytes of a request body arrived (or that a body is begun).
    pub(crate) fn body_arrived(&self) {
        self.arrived.store(clock(), Ordering::Relaxed);
    }

    /// Notes that the client has sent part of a request head.
    pub(crate) fn sending(&self) {
        self.sending.store(true, Ordering::Relaxed);
    }

    /// Requests started so far, and whether none is in flight.
    pub(crate) fn requests(&self) -> (u64, bool) {
        let started = self.started.load(Ordering::Relaxed);
        (started, started == self.finished.load(Ordering::Relaxed))
    }

    fn close(&self, how: u8) {
        if self.close.fetch_max(how, Ordering::AcqRel) < how {
            if let Some(waker) = self.waker.lock().unwrap().as_ref() {
                waker.wake_by_ref();
            }
        }
    }
}

/// A request in flight on a connection.
pub(crate) struct RequestGuard(Arc<Activity>);

impl RequestGuard {
    /// The connection's activity.
    pub(crate) fn activity(&self) -> &Activity {
        &self.0
    }

    /// Counts `n` bytes of a response the client has yet to take.
    pub(crate) fn hold(&self, n: usize) {
        self.0.held.fetch_add(n, Ordering::Relaxed);
        self.0.backlog.fetch_add(n, Ordering::Relaxed);
    }

    /// Notes that `n` of the bytes held went out.
    pub(crate) fn taken(&self, n: usize) {
        self.0.held.fetch_sub(n, Ordering::Relaxed);
        self.0.backlog.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// A hyper connection that obeys its [`Activity`]'s close flag.
pub(crate) struct Watched<C> {
    connection: Pin<Box<C>>,
    activity: Arc<Activity>,
    seen: u8,
    waker: Option<Waker>,
}

/// A connection that can be asked to finish its request in flight and close.
pub(crate) trait GracefulShutdown {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S> GracefulShutdown for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::Connection::graceful_shutdown(self)
    }
}

impl<I, S, E, B> GracefulShutdown for hyper_util::server::conn::auto::Connection<'static, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper_util::server::conn::auto::Connection::graceful_shutdown(self)
    }
}

impl<I, S> GracefulShutdown for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown(self)
    }
}

impl<I, S, E, B> GracefulShutdown for hyper_util::server::conn::auto::UpgradeableConnection<'static, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(self)
    }
}

impl<C> Watched<C> {
    pub(crate) fn new(connection: C, activity: Arc<Activity>) -> Self {
        Watched { connection: Box::pin(connection), activity, seen: OPEN, waker: None }
    }
}

impl<C, E> Future for Watched<C>
where
    C: Future<Output = Result<(), E>> + GracefulShutdown,
    E: std::fmt::Display,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            this.waker = Some(cx.waker().clone());
            *this.activity.waker.lock().unwrap() = this.waker.clone();
        }
        match this.activity.close.load(Ordering::Acquire) {
            DROP => return Poll::Ready(()),
            GRACEFUL if this.seen == OPEN => {
                this.seen = GRACEFUL;
                this.connection.as_mut().graceful_shutdown();
            }
            _ => {}
        }
        this.connection.as_mut().poll(cx).map(|result| {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        })
    }
}

/// Bytes of responses waiting for their clients to take them that a process holds before
/// it closes the connections that do not take theirs.
pub(crate) const SEND_BUDGET: usize = 64 << 20;

/// Every open connection of a server: for the reaper, for eviction when connections run
/// short, and for the per-client cap.
pub(crate) struct Connections {
    registry: Mutex<Registry>,
    /// Bytes of large responses not yet taken by their clients, in all.
    backlog: Arc<AtomicUsize>,
    header_timeout: Duration,
    idle_timeout: Duration,
    per_client: usize,
    live: AtomicUsize,
    all_closed: Notify,
    /// Fired when the server begins to shut down.
    pub(crate) shutdown: Shutdown,
}

#[derive(Default)]
struct Registry {
    /// Oldest first.
    tracked: VecDeque<Tracked>,
    clients: HashMap<IpAddr, usize>,
}

struct Tracked {
    activity: Weak<Activity>,
    client: IpAddr,
    /// `started` when last looked at, and since when it has not changed.
    seen: u64,
    since: Instant,
    /// When the connection was asked to close gracefully.
    asked: Option<Instant>,
    /// Its bytes held when last looked at, and since when they have not gone down.
    held: usize,
    held_since: Instant,
}

impl Tracked {
    /// How readily the connection is closed for a newcomer, if it may be (open, and no
    /// request in flight but those waiting for a body that does not come): 0 never answered
    /// and silent, 1 never answered and part-way through a head, 2 never answered and every
    /// request in flight waiting for a body that has not moved for [`PARKED`], 3 answered
    /// and silent, 4 answered and part-way through its next head.
    fn eviction_rank(&self) -> Option<u8> {
        let a = self.activity.upgrade()?;
        if a.close.load(Ordering::Acquire) != OPEN {
            return None;
        }
        let finished = a.finished.load(Ordering::Relaxed);
        let in_flight = a.started.load(Ordering::Relaxed).saturating_sub(finished);
        let sending = u8::from(a.sending.load(Ordering::Relaxed));
        match in_flight {
            0 if finished == 0 => Some(sending),
            0 => Some(3 + sending),
            n if finished == 0
                && n == a.waiting.load(Ordering::Relaxed)
                && clock().saturating_sub(a.arrived.load(Ordering::Relaxed)) >= PARKED.as_millis() as u64 =>
            {
                Some(2)
            }
            _ => None,
        }
    }
}

/// A connection's place in [`Connections`] and its slot of `max_connections`: its socket
/// holds it ([`Metered`](super::head_budget::Metered)), upgraded or not, and gives it up
/// when it closes.
pub(crate) struct Slot {
    connections: Arc<Connections>,
    client: IpAddr,
    pub(crate) activity: Arc<Activity>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut registry = self.connections.registry.lock().unwrap();
        if let Some(count) = registry.clients.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                registry.clients.remove(&self.client);
            }
        }
        drop(registry);
        if let Some(metrics) = metrics::get() {
            metrics.connection_closed();
        }
        if self.connections.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.connections.all_closed.notify_waiters();
        }
    }
}

impl Connections {
    pub(crate) fn new(
        header_timeout: Duration,
        keep_alive_timeout: Duration,
        per_client: usize,
        shutdown: Shutdown,
    ) -> Self {
        Connections {
            registry: Mutex::default(),
            backlog: Arc::default(),
            header_timeout,
            idle_timeout: keep_alive_timeout.min(header_timeout),
            per_client,
            live: AtomicUsize::new(0),
            all_closed: Notify::new(),
            shutdown,
        }
    }

    /// Tracks a new connection from `client`, holding `permit` until its socket has closed.
    /// At the per-client cap, the client's oldest
    /// connection without a request in flight is closed to make room; `None` when there is
    /// none (the newcomer is refused).
    /// `sent`: whether the client has already sent bytes.
    pub(crate) fn admit(
        self: &Arc<Self>,
        client: IpAddr,
        sent: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Option<Slot> {
        let mut registry = self.registry.lock().unwrap();
        let count = registry.clients.get(&client).copied().unwrap_or(0);
        if count >= self.per_client && registry.evict(|t| t.client == client).is_none() {
            return None;
        }
        *registry.clients.entry(client).or_insert(0) += 1;
        let backlog = Arc::clone(&self.backlog);
        let shutdown = self.shutdown.clone();
        let activity = Arc::new(Activity { backlog, shutdown, ..Activity::default() });
        activity.sending.store(sent, Ordering::Relaxed);
        let now = Instant::now();
        let activity_ref = Arc::downgrade(&activity);
        let tracked =
            Tracked { activity: activity_ref, client, seen: 0, since: now, asked: None, held: 0, held_since: now };
        registry.tracked.push_back(tracked);
        self.live.fetch_add(1, Ordering::AcqRel);
        if let Some(metrics) = metrics::get() {
            metrics.connection_opened();
        }
        Some(Slot { connections: Arc::clone(self), client, activity, _permit: permit })
    }

    /// Closes a connection without a request in flight for a newcomer, which gets its slot
    /// when the connection has closed; nothing if every connection is busy.
    pub(crate) fn evict(&self) {
        self.registry.lock().unwrap().evict(|_| true);
    }

    /// How often the reaper looks: a quarter of the shortest limit, within 10 ms..1 s.
    pub(crate) fn tick(&self) -> Duration {
        (self.idle_timeout.min(self.header_timeout) / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// One look at every connection: closes the idle and the stuck ones, forgets the closed.
    /// While the process holds more than [`SEND_BUDGET`] bytes of responses for their
    /// clients, a connection whose client has taken none of its own for its idle limit is
    /// dropped (a slow reader, or one that never opens its HTTP/2 window).
    pub(crate) fn reap(&self) {
        let now = Instant::now();
        let tick = self.tick();
        let mut over = self.backlog.load(Ordering::Relaxed).saturating_sub(SEND_BUDGET);
        self.registry.lock().unwrap().tracked.retain_mut(|tracked| {
            let Some(activity) = tracked.activity.upgrade() else { return false };
            let held = activity.held.load(Ordering::Relaxed);
            if held == 0 || held < tracked.held {
                tracked.held_since = now;
            }
            tracked.held = held;
            if over > 0 && held > 0 && now - tracked.held_since >= self.idle_timeout {
                activity.close(DROP);
                over = over.saturating_sub(held);
                return true;
            }
            let started = activity.started.load(Ordering::Relaxed);
            if started != tracked.seen || activity.finished.load(Ordering::Relaxed) != started {
                // A new request, or one in flight: not idle.
                tracked.seen = started;
                tracked.since = now;
                return true;
            }
            let limit = if started == 0 { self.header_timeout } else { self.idle_timeout };
            match tracked.asked {
                None if now - tracked.since >= limit => {
                    activity.close(GRACEFUL);
                    tracked.asked = Some(now);
                }
                // Still open a tick after the request to close: stuck in a request's head.
                Some(asked) if now - asked >= tick => activity.close(DROP),
                _ => {}
            }
            true
        });
    }

    /// How many connections are open.
    pub(crate) fn open(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Shuts every connection down without losing a request: HTTP/2 ones get GOAWAY (their
    /// streams in flight finish); HTTP/1.1 ones answer their next request with `Connection:
    /// close`, and are closed by the reaper if none comes within their idle limit.
    pub(crate) fn close_all(&self) {
        for tracked in self.registry.lock().unwrap().tracked.iter() {
            if let Some(activity) = tracked.activity.upgrade() {
                activity.draining.store(true, Ordering::Relaxed);
                if activity.http2.load(Ordering::Relaxed) {
                    activity.close(GRACEFUL);
                }
            }
        }
    }

    /// Waits until every connection has closed, at most until `deadline`; returns how many are
    /// still open.
    pub(crate) async fn closed(&self, deadline: Deadline) -> usize {
        let wait = async {
            loop {
                let notified = self.all_closed.notified();
                if self.live.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        match deadline.left() {
            Some(left) => drop(tokio::time::timeout(left, wait).await),
            None => wait.await,
        }
        self.live.load(Ordering::Acquire)
    }
}

impl Registry {
    /// Closes the tracked connection that `which` selects, has no request in flight and
    /// ranks first for eviction ([`Tracked::eviction_rank`]), the oldest of its rank, and
    /// returns it. One never answered, or waiting only for bodies, is dropped at once (it
    /// has nothing to send); an answered one closes gracefully, so that a response just
    /// written is still sent.
    fn evict(&mut self, which: impl Fn(&Tracked) -> bool) -> Option<Arc<Activity>> {
        while self.tracked.front().is_some_and(|t| t.activity.strong_count() == 0) {
            self.tracked.pop_front();
        }
        let mut best: Option<(u8, usize)> = None;
        for (i, tracked) in self.tracked.iter().enumerate() {
            let Some(rank) = tracked.eviction_rank().filter(|_| which(tracked)) else { continue };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, i));
                if rank == 0 {
                    break;
                }
            }
        }
        let (rank, i) = best?;
        let tracked = &mut self.tracked[i];
        let activity = tracked.activity.upgrade()?;
        activity.close(if rank < 3 { DROP } else { GRACEFUL });
        tracked.asked = Some(Instant::now());
        if let Some(metrics) = metrics::get() {
            metrics.connection_evicted();
        }
        Some(activity)
    }
}
