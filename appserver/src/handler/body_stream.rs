//! [`BodyStream`]: a request body read as it arrives, never held whole.

use super::body::BoxError;
use super::error::Error;
use bytes::Bytes;
use futures_core::Stream;
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Body as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The request body as it arrives, in chunks, for a route that takes more than it should
/// hold in memory: an upload to a file, say. The route's body limit applies
/// (`max_body_bytes`, which the route may raise: `#[route(POST, r"/upload/", max_body_bytes =
/// 1_073_741_824)]`); past it a chunk is a 413 error, as a pause longer than `body_timeout`
/// is a 408. A handler that stops reading early answers with `Connection: close`.
///
/// ```
/// use appserver::{route, BodyStream, Error};
///
/// #[route(POST, r"/upload/", max_body_bytes = 1_073_741_824)]
/// async fn upload(mut body: BodyStream) -> Result<u64, Error> {
///     let mut total = 0;
///     while let Some(chunk) = body.chunk().await {
///         total += chunk?.len() as u64; // e.g. written to a file
///     }
///     Ok(total)
/// }
/// ```
///
/// It is a [`Stream`] of `Result<Bytes, Error>` too.
pub struct BodyStream {
    body: UnsyncBoxBody<Bytes, BoxError>,
    limit: usize,
    read: usize,
    pause: Duration,
    idle: Pin<Box<Sleep>>,
    /// Set once the body has been read to its end: the connection may then be kept.
    finished: Arc<AtomicBool>,
    done: bool,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream").field("limit", &self.limit).field("read", &self.read).finish_non_exhaustive()
    }
}

impl BodyStream {
    /// The body of a request, to be read within `limit` bytes, pausing at most `pause`;
    /// `finished` is set once it has been read to its end.
    pub(crate) fn new(
        body: UnsyncBoxBody<Bytes, BoxError>,
        limit: usize,
        pause: Duration,
        finished: Arc<AtomicBool>,
    ) -> Self {
        let idle = Box::pin(tokio::time::sleep(pause));
        BodyStream { body, limit, read: 0, pause, idle, finished, done: false }
    }

    /// A body with nothing in it.
    pub(crate) fn empty() -> Self {
        let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        BodyStream::new(empty, 0, Duration::from_secs(1), Arc::new(AtomicBool::new(true)))
    }

    /// The next chunk, `None` at the end of the body.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> usize {
        self.read
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Bytes, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => {
                    ready!(this.idle.as_mut().poll(cx));
                    return this.fail(Error::body_too_slow());
                }
                Poll::Ready(frame) => frame,
            };
            this.idle.as_mut().reset(Instant::now() + this.pause);
            match frame {
                None => {
                    this.done = true;
                    this.finished.store(true, Ordering::Relaxed);
                    return Poll::Ready(None);
                }
                Some(Err(err)) => {
                    return this.fail(Error::bad_request(format!("cannot read the request body: {err}")));
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    this.read += data.len();
                    if this.read > this.limit {
                        return this.fail(Error::body_too_large(this.limit));
                    }
                    if !data.is_empty() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}
