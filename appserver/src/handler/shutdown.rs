//! [`Shutdown`]: the server's shutdown, which a handler with a long-lived answer (a
//! WebSocket, a stream of events) can await to say its last word.

use super::error::Error;
use super::extract::FromRequest;
use super::request::Request;
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// The shutdown of the serving process (SIGTERM, SIGINT, a Forked reload's old workers):
/// an extractor, whose [`wait`](Shutdown::wait) completes when the shutdown begins.
///
/// At shutdown an event stream ([`Sse`](crate::sse::Sse)) sends the events it has ready and
/// ends, and a WebSocket's [`recv`](crate::ws::WebSocket::recv) returns `None`; the handler
/// may still send, and the socket closes with 1001 ("going away") when the handler returns.
/// Everything must be done within `graceful_timeout`.
///
/// ```
/// use appserver::ws::{Message, WebSocketUpgrade};
/// use appserver::{route, Shutdown};
/// use std::time::Duration;
///
/// #[route(GET, r"/ticks")]
/// fn ticks(ws: WebSocketUpgrade, shutdown: Shutdown) -> appserver::Response {
///     ws.on_upgrade(|mut socket| async move {
///         let mut every = tokio::time::interval(Duration::from_secs(1));
///         loop {
///             tokio::select! {
///                 _ = every.tick() => {
///                     if socket.send(Message::Text("tick".into())).await.is_err() {
///                         return;
///                     }
///                 }
///                 () = shutdown.wait() => {
///                     let _ = socket.send(Message::Text("the server is restarting".into())).await;
///                     return;
///                 }
///             }
///         }
///     })
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// Completes when the shutdown begins (at once if it has); the future owns what it needs,
    /// so it can be moved into a stream or a task.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        self.0.clone().cancelled_owned()
    }

    /// Whether the shutdown has begun.
    pub fn is_requested(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Begins the shutdown: every [`wait`](Shutdown::wait) completes.
    pub(crate) fn begin(&self) {
        self.0.cancel();
    }
}

impl FromRequest for Shutdown {
    fn from_request(request: &Request) -> Result<Self, Error> {
        // A request that no server serves (a test's) sees a shutdown that never comes.
        Ok(request.state.get::<Shutdown>().map(|shutdown| (*shutdown).clone()).unwrap_or_default())
    }
}
