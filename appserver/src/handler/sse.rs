//! Server-Sent Events: [`Sse`], a response of [`Event`]s as a stream yields them.

use super::body::{Body, BoxError};
use super::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// One event of an [`Sse`] stream:
///
/// ```
/// use appserver::sse::Event;
/// use std::time::Duration;
///
/// let event = Event::default().event("price").id("42").data("{\"eur\": 1.08}").retry(Duration::from_secs(5));
/// # drop(event);
/// ```
///
/// Data of several lines is sent as several `data:` lines, which the client joins again.
/// A line break in an event name or an id, which the format cannot carry, is left out.
#[derive(Debug, Clone, Default)]
pub struct Event {
    text: String,
}

impl Event {
    /// The event's data; called again, more lines of it.
    pub fn data(mut self, data: impl AsRef<str>) -> Self {
        for line in data.as_ref().split('\n') {
            let _ = writeln!(self.text, "data: {}", line.strip_suffix('\r').unwrap_or(line));
        }
        self
    }

    /// The event's type (`event:`), which the client's `addEventListener` names.
    pub fn event(self, name: impl AsRef<str>) -> Self {
        self.field("event", name.as_ref())
    }

    /// The event's id (`id:`), which a reconnecting client sends back as `Last-Event-ID`.
    pub fn id(self, id: impl AsRef<str>) -> Self {
        self.field("id", &id.as_ref().replace('\0', ""))
    }

    /// How long a client waits before it reconnects (`retry:`).
    pub fn retry(self, after: Duration) -> Self {
        let millis = after.as_millis().to_string();
        self.field("retry", &millis)
    }

    /// A comment (`: text`), which clients ignore.
    pub fn comment(self, text: impl AsRef<str>) -> Self {
        self.field("", text.as_ref())
    }

    fn field(mut self, name: &str, value: &str) -> Self {
        let value: String = value.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        let _ = writeln!(self.text, "{name}: {value}");
        self
    }

    /// The event as sent: its lines, then a blank line.
    fn into_bytes(self) -> Bytes {
        let mut text = self.text;
        text.push('\n');
        Bytes::from(text)
    }
}

/// A response of Server-Sent Events (`text/event-stream`), sent as `stream` yields them,
/// without buffering; `Last-Event-ID`, sent by a client that reconnects, is a request
/// header the handler can read (`HeaderMap`). `request_timeout` does not apply. At
/// shutdown the stream sends the events it has ready and ends; a stream that awaits
/// [`Shutdown`](crate::Shutdown) can make its last event then.
///
/// ```
/// use appserver::route;
/// use appserver::sse::{Event, Sse};
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// #[route(GET, r"/events/")]
/// async fn events() -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
///     let events = (1..=3).map(|n| Ok(Event::default().event("tick").data(n.to_string()).id(n.to_string())));
///     Sse::new(futures_util::stream::iter(events)).keep_alive(Duration::from_secs(15))
/// }
/// ```
pub struct Sse<S> {
    stream: S,
    keep_alive: Option<Duration>,
}

impl<S> Sse<S> {
    /// The events of `stream`; an error ends the response.
    pub fn new(stream: S) -> Self {
        Sse { stream, keep_alive: None }
    }

    /// Sends a comment after each `interval` without an event, so that proxies and clients
    /// keep an idle stream open.
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(interval);
        self
    }
}

impl<S> std::fmt::Debug for Sse<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sse").field("keep_alive", &self.keep_alive).finish_non_exhaustive()
    }
}

impl<S, E> IntoResponse for Sse<S>
where
    S: Stream<Item = Result<Event, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn into_response(self) -> Response {
        let body = Body::from_stream(Events { stream: Box::pin(self.stream), keep_alive: self.keep_alive, idle: None });
        let mut response = Response::new(body);
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response.extensions_mut().insert(EndsAtShutdown);
        response
    }
}

/// Marks a response whose streamed body may end when the server shuts down (an event
/// stream: its client reconnects to another server), instead of holding the shutdown up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndsAtShutdown;

/// The events as bytes, with a comment after each idle interval.
struct Events<S> {
    stream: Pin<Box<S>>,
    keep_alive: Option<Duration>,
    /// When the next comment is due; made at the first poll, inside the server's runtime.
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S, E> Stream for Events<S>
where
    S: Stream<Item = Result<Event, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                if let (Some(interval), Some(idle)) = (this.keep_alive, &mut this.idle) {
                    idle.as_mut().reset(tokio::time::Instant::now() + interval);
                }
                Poll::Ready(Some(Ok(event.into_bytes())))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let Some(interval) = this.keep_alive else { return Poll::Pending };
                let idle = this.idle.get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
                if idle.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                idle.as_mut().reset(tokio::time::Instant::now() + interval);
                Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))))
            }
        }
    }
}
