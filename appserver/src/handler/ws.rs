//! WebSocket: [`WebSocketUpgrade`] takes a handshake request, and its
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade) answers 101 and runs the handler's code with
//! the [`WebSocket`], on the well-kept `tokio-tungstenite`.

use super::body::Body;
use super::error::Error as HttpError;
use super::extract::{FromRequest, Takes};
use super::request::Request;
use super::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderValue, Method, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::future::Future;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, error::CapacityError};

/// The largest WebSocket message, from the `ws_max_message_bytes` setting; the server
/// registers it as state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageLimit(pub(crate) usize);

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
    limit: usize,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade").field("limit", &self.limit).finish_non_exhaustive()
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
        let limit = request.state::<MessageLimit>().map_or(16 << 20, |limit| limit.0);
        Ok(WebSocketUpgrade { accept, on_upgrade, limit })
    }

    const __TAKES: Takes = Takes::Upgrade;
}

impl WebSocketUpgrade {
    /// The 101 that completes the handshake; once it is sent, `callback` runs with the
    /// [`WebSocket`] on a task of its own.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade { accept, on_upgrade, limit } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else { return };
            let config = WebSocketConfig::default().max_message_size(Some(limit)).max_frame_size(Some(limit));
            let stream = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
            callback(WebSocket { stream, limit }).await;
        });
        let mut response = Response::new(Body::empty());
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
/// `ws_max_message_bytes` closes the socket with 1009.
pub struct WebSocket {
    stream: WebSocketStream<TokioIo<Upgraded>>,
    limit: usize,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("limit", &self.limit).finish_non_exhaustive()
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
    /// The client broke the protocol, or the connection failed.
    Protocol(tungstenite::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("the WebSocket is closed"),
            Error::TooLarge { limit } => write!(f, "a message was larger than the limit of {limit} bytes"),
            Error::Protocol(error) => write!(f, "WebSocket: {error}"),
        }
    }
}

impl std::error::Error for Error {}

impl WebSocket {
    /// The client's next message; `None` once the socket is closed.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        loop {
            return match self.stream.next().await? {
                Ok(message) => match from_tungstenite(message) {
                    Some(message) => Some(Ok(message)),
                    // A raw frame, which reading never gives.
                    None => continue,
                },
                Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. })) => {
                    let close =
                        tungstenite::protocol::CloseFrame { code: CloseCode::Size, reason: "message too big".into() };
                    let _ = self.stream.close(Some(close)).await;
                    Some(Err(Error::TooLarge { limit: self.limit }))
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => None,
                Err(error) => Some(Err(Error::Protocol(error))),
            };
        }
    }

    /// Sends `message`.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.stream.send(into_tungstenite(message)).await.map_err(|error| match error {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Error::Closed,
            error => Error::Protocol(error),
        })
    }

    /// Closes the socket with `code` and `reason`.
    pub async fn close(mut self, code: u16, reason: &str) -> Result<(), Error> {
        self.send(Message::Close(Some(CloseFrame { code, reason: reason.to_owned() }))).await
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
