//! [`Body`]: a response's body, held in full or streamed.

use super::ending::Ending;
use bytes::Bytes;
use futures_core::Stream;
use hyper::body::{Frame, SizeHint};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// An error of a streamed body, a body a layer made, or a layer.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a [`Response`](crate::Response): bytes held in full (from a `String`, a
/// `&'static str`, a `Vec<u8>` or [`Bytes`]), or a stream of chunks
/// ([`Body::from_stream`]).
pub struct Body(Content);

enum Content {
    /// The whole body, until it is sent.
    Full(Option<Bytes>),
    /// Chunks as the stream yields them.
    Stream(Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body(Content::Full(None))
    }

    /// A body sent as `stream` yields its chunks: chunked on HTTP/1.1, data frames on
    /// HTTP/2. The stream is polled as the client takes what was sent, so a slow client
    /// does not make the server hold the stream's output; an error ends the response.
    ///
    /// ```
    /// use appserver::{route, Body, Bytes, Response};
    /// use std::convert::Infallible;
    ///
    /// #[route(GET, r"/download/")]
    /// fn download() -> Response {
    ///     let lines = (0..1000).map(|n| Ok::<_, Infallible>(Bytes::from(format!("line {n}\n"))));
    ///     Response::new(Body::from_stream(futures_util::stream::iter(lines)))
    /// }
    /// ```
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Body(Content::Stream(Box::pin(ErrInto(Box::pin(stream)))))
    }

    /// Whether the body is streamed.
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.0, Content::Stream(_))
    }

    /// For a streamed body: an [`Ending`] its chunks are counted in from now on, which the
    /// stream holds until it is dropped.
    pub(crate) fn ending(&mut self) -> Option<Arc<Ending>> {
        let Content::Stream(stream) = &mut self.0 else { return None };
        let ending = Arc::new(Ending::default());
        let inner = std::mem::replace(stream, Box::pin(futures_util::stream::empty()));
        *stream = Box::pin(Counted { inner, ending: Arc::clone(&ending) });
        Some(ending)
    }
}

/// A stream whose chunks are counted in an [`Ending`].
struct Counted {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>,
    ending: Arc<Ending>,
}

impl Stream for Counted {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.ending.sent(chunk.len());
        }
        polled
    }
}

/// A stream whose errors are boxed.
struct ErrInto<S>(Pin<Box<S>>);

impl<S: Stream<Item = Result<Bytes, E>>, E: Into<BoxError>> Stream for ErrInto<S> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx).map(|item| item.map(|result| result.map_err(Into::into)))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Content::Full(data) => {
                Poll::Ready(data.take().filter(|data| !data.is_empty()).map(|data| Ok(Frame::data(data))))
            }
            Content::Stream(stream) => {
                stream.as_mut().poll_next(cx).map(|item| item.map(|chunk| chunk.map(Frame::data)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.0, Content::Full(data) if data.as_ref().is_none_or(Bytes::is_empty))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Content::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64)),
            Content::Stream(_) => SizeHint::default(),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Content::Full(data) => f.debug_tuple("Body").field(data).finish(),
            Content::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(data: Bytes) -> Self {
        Body(Content::Full(Some(data)))
    }
}

impl From<Vec<u8>> for Body {
    fn from(data: Vec<u8>) -> Self {
        Body::from(Bytes::from(data))
    }
}

impl From<String> for Body {
    fn from(data: String) -> Self {
        Body::from(Bytes::from(data))
    }
}

impl From<&'static str> for Body {
    fn from(data: &'static str) -> Self {
        Body::from(Bytes::from_static(data.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(data: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(data))
    }
}
