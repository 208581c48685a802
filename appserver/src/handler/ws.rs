//! WebSocket: [`WebSocketUpgrade`] takes a handshake request, and its
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade) answers 101 and runs the handler's code with
//! the [`WebSocket`], on the well-kept `tokio-tungstenite`.
//!
//! A socket ends well in every case: when the handler returns, it is closed (1000, or 1001
//! at shutdown); at shutdown [`WebSocket::recv`] returns `None`, so that a handler's loop
//! ends; a socket idle for `ws_idle_timeout` is closed with 1001 while its handler waits
//! for a message.

use super::body::Body;
use super::ending::Ending;
use super::error::Error as HttpError;
use super::extract::{FromRequest, Takes};
use super::request::Request;
use super::response::Response;
use super::shutdown::Shutdown;
use super::state::State;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderValue, Method, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, error::CapacityError};

/// How long a close frame may take to go out when a socket ends.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The limits of a WebSocket, from the settings `ws_max_message_bytes` and
/// `ws_idle_timeout`; the server registers them as state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message_bytes: usize,
    pub(crate) idle_timeout: Duration,
}

/// A WebSocket handshake: a handler takes it and answers with
/// [`on_upgrade`](WebSocketUpgrade::on_upgrade). A request that is no handshake is a 426
/// (a 400 over HTTP/2, which has no upgrade).
///
/// ```
/// use appserver::route;
/// use appserver::ws::{Message, WebSocketUpgrade};
///
/// #[route(GET, r"/echo")]
/// fn echo(ws: WebSocketUpgrade) -> appserver::Response {
///     ws.on_upgrade(|mut socket| async move {
///         while let Some(Ok(message)) = socket.recv().await {
///             if let Message::Text(_) | Message::Binary(_) = message {
///                 if socket.send(message).await.is_err() {
///                     break;
///                 }
///             }
///         }
///     })
/// }
/// ```
pub struct WebSocketUpgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
    limits: Limits,
    shutdown: Shutdown,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// Whether the header `name` lists `token` (comma-separated, any case).
fn lists(request: &Request, name: http::header::HeaderName, token: &str) -> bool {
    request
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
}

impl FromRequest for WebSocketUpgrade {
    fn from_request(request: &Request) -> Result<Self, HttpError> {
        let handshake = request.method() == Method::GET
            && lists(request, UPGRADE, "websocket")
            && lists(request, CONNECTION, "upgrade")
            && request.headers().get(SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13");
        let key = request.headers().get(SEC_WEBSOCKET_KEY).filter(|_| handshake);
        let Some(key) = key else {
            return Err(HttpError::new(
                StatusCode::UPGRADE_REQUIRED,
                "this route speaks WebSocket: send a GET with `Upgrade: websocket`, `Connection: Upgrade`, \
                 `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`",
            )
            .with_header(UPGRADE, HeaderValue::from_static("websocket"))
            .with_header(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13")));
        };
        let Some(on_upgrade) = request.take_upgrade() else {
            return Err(HttpError::bad_request("WebSocket needs HTTP/1.1: this connection cannot be upgraded"));
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let accept = HeaderValue::from_str(&accept).map_err(|_| HttpError::bad_request("bad Sec-WebSocket-Key"))?;
        // Registered by the server, from the settings (their one source).
        let limits = *State::<Limits>::from_request(request)?;
        let shutdown = Shutdown::from_request(request)?;
        Ok(WebSocketUpgrade { accept, on_upgrade, limits, shutdown })
    }

    const __TAKES: Takes = Takes::Upgrade;
}

impl WebSocketUpgrade {
    /// The 101 that completes the handshake; once it is sent, `callback` runs with the
    /// [`WebSocket`] on a task of its own. The request's access line is written when the
    /// socket ends, with the bytes of the messages sent.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade { accept, on_upgrade, limits, shutdown } = self;
        let ending = Arc::new(Ending::default());
        let sent = Arc::clone(&ending);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else { return };
            let limit = Some(limits.max_message_bytes);
            let config = WebSocketConfig::default().max_message_size(limit).max_frame_size(limit);
            let stream = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
            let last = Instant::now();
            callback(WebSocket { stream: Some(stream), limits, shutdown, ending: sent, last }).await;
        });
        let mut response = Response::new(Body::empty());
        response.extensions_mut().insert(ending);
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        response
    }
}

/// An open WebSocket: [`recv`](WebSocket::recv) the client's messages, [`send`](WebSocket::send)
/// yours. Pings are answered with pongs as they are read; a message larger than
/// `ws_max_message_bytes` closes the socket with 1009. Dropped (the handler returned), it
/// closes with 1000, or 1001 at shutdown.
pub struct WebSocket {
    /// `None` once it is closed.
    stream: Option<WebSocketStream<TokioIo<Upgraded>>>,
    limits: Limits,
    shutdown: Shutdown,
    /// The bytes of the messages sent, for the access line.
    ending: Arc<Ending>,
    /// When a message last went either way.
    last: Instant,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// A WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text.
    Text(String),
    /// Bytes.
    Binary(Bytes),
    /// A ping (answered by the server on its own).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The close handshake, with its code and reason if any.
    Close(Option<CloseFrame>),
}

/// The code and reason of a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code: 1000 normal, 1001 going away, 1009 message too big, ...
    pub code: u16,
    /// Why, for people.
    pub reason: String,
}

/// Why a WebSocket failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket is closed.
    Closed,
    /// A message was larger than the limit; the socket was closed with 1009.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No message went either way for `ws_idle_timeout`; the socket was closed with 1001.
    Idle {
        /// The limit.
        timeout: Duration,
    },
    /// The client broke the protocol, or the connection failed.
    Protocol(tungstenite::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("the WebSocket is closed"),
            Error::TooLarge { limit } => write!(f, "a message was larger than the limit of {limit} bytes"),
            Error::Idle { timeout } => write!(f, "no message went either way for {} s", timeout.as_secs_f64()),
            Error::Protocol(error) => write!(f, "WebSocket: {error}"),
        }
    }
}

impl std::error::Error for Error {}

impl WebSocket {
    /// The client's next message; `None` once the socket is closed, and from the moment the
    /// server begins to shut down (the socket may still send a last message, then closes
    /// with 1001 when the handler returns).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        let shutdown = self.shutdown.wait();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let stream = self.stream.as_mut()?;
            let idle = self.last + self.limits.idle_timeout;
            let next = tokio::select! {
                biased;
                () = &mut shutdown => return None,
                () = tokio::time::sleep_until(idle) => {
                    self.close_with(CloseCode::Away, "idle").await;
                    return Some(Err(Error::Idle { timeout: self.limits.idle_timeout }));
                }
                next = stream.next() => next,
            };
            self.last = Instant::now();
            return match next? {
                Ok(message) => match from_tungstenite(message) {
                    Some(message) => Some(Ok(message)),
                    // A raw frame, which reading never gives.
                    None => continue,
                },
                Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. })) => {
                    self.close_with(CloseCode::Size, "message too big").await;
                    Some(Err(Error::TooLarge { limit: self.limits.max_message_bytes }))
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    self.stream = None;
                    None
                }
                Err(error) => Some(Err(Error::Protocol(error))),
            };
        }
    }

    /// Sends `message`.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        let stream = self.stream.as_mut().ok_or(Error::Closed)?;
        let message = into_tungstenite(message);
        let len = message.len();
        stream.send(message).await.map_err(|error| match error {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Error::Closed,
            error => Error::Protocol(error),
        })?;
        self.ending.sent(len);
        self.last = Instant::now();
        Ok(())
    }

    /// Closes the socket with `code` and `reason`.
    pub async fn close(mut self, code: u16, reason: &str) -> Result<(), Error> {
        let sent = self.send(Message::Close(Some(CloseFrame { code, reason: reason.to_owned() }))).await;
        self.stream = None;
        sent
    }

    /// Closes the socket with `code` and `reason`, within [`CLOSE_WAIT`].
    async fn close_with(&mut self, code: CloseCode, reason: &str) {
        if let Some(stream) = self.stream.take() {
            close(stream, code, reason).await;
        }
    }
}

/// Sends the close frame of `code` and `reason` on `stream`, within [`CLOSE_WAIT`].
async fn close(mut stream: WebSocketStream<TokioIo<Upgraded>>, code: CloseCode, reason: &str) {
    let frame = tungstenite::protocol::CloseFrame { code, reason: reason.to_owned().into() };
    let _ = tokio::time::timeout(CLOSE_WAIT, stream.close(Some(frame))).await;
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        let (code, reason) = match self.shutdown.is_requested() {
            true => (CloseCode::Away, "the server is shutting down"),
            false => (CloseCode::Normal, ""),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(close(stream, code, reason));
        }
    }
}

fn from_tungstenite(message: tungstenite::Message) -> Option<Message> {
    Some(match message {
        tungstenite::Message::Text(text) => Message::Text(text.as_str().to_owned()),
        tungstenite::Message::Binary(bytes) => Message::Binary(bytes),
        tungstenite::Message::Ping(bytes) => Message::Ping(bytes),
        tungstenite::Message::Pong(bytes) => Message::Pong(bytes),
        tungstenite::Message::Close(frame) => {
            Message::Close(frame.map(|f| CloseFrame { code: f.code.into(), reason: f.reason.as_str().to_owned() }))
        }
        tungstenite::Message::Frame(_) => return None,
    })
}

fn into_tungstenite(message: Message) -> tungstenite::Message {
    match message {
        Message::Text(text) => tungstenite::Message::Text(text.into()),
        Message::Binary(bytes) => tungstenite::Message::Binary(bytes),
        Message::Ping(bytes) => tungstenite::Message::Ping(bytes),
        Message::Pong(bytes) => tungstenite::Message::Pong(bytes),
        Message::Close(frame) => tungstenite::Message::Close(
            frame.map(|f| tungstenite::protocol::CloseFrame { code: f.code.into(), reason: f.reason.into() }),
        ),
    }
}
