//! Response bodies handed to hyper in pieces of at most [`PIECE`] bytes, each counted as
//! its request in flight until it is sent, and a large one's bytes not yet taken by the
//! client counted against the process's budget ([`RequestGuard::hold`]).
//!
//! A plain HTTP/1.1 connection has hyper copy each response into its write buffer
//! (`writev(false)`) and send it with one `write`: that costs fewer instructions per
//! request than its queue of buffers for `writev`. The buffer keeps the capacity it grew
//! to, and hyper adds to it while it holds less than `max_buf_size`; in pieces, a large
//! body grows it to at most `max_buf_size` plus one piece, whatever the response's size.

use super::connection::RequestGuard;
#[cfg(doc)]
use crate::handler::EndsAtShutdown;
use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The most bytes of a body hyper takes at once.
pub(crate) const PIECE: usize = 16 << 10;

/// `body`, its data frames cut into pieces of at most [`PIECE`] bytes.
pub(crate) struct Pieces<B> {
    body: B,
    /// What is left of a data frame larger than a piece.
    rest: Option<Bytes>,
    /// The request this body answers, in flight until the body is sent.
    guard: Option<RequestGuard>,
    /// The bytes of a body larger than a piece not yet handed to hyper, held in the budget.
    held: usize,
    /// Whether the body ends when the server shuts down ([`EndsAtShutdown`]).
    ends_at_shutdown: bool,
    /// For such a body, once it has had to wait: the shutdown, which ends it.
    shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<B: Body> Pieces<B> {
    /// `body`, answering the request of `guard`; it ends when the server shuts down if
    /// `ends_at_shutdown`.
    pub(crate) fn new(body: B, guard: Option<RequestGuard>, ends_at_shutdown: bool) -> Self {
        let size = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
        let held = match &guard {
            Some(guard) if size > PIECE => {
                guard.hold(size);
                size
            }
            _ => 0,
        };
        Pieces { body, rest: None, guard, held, ends_at_shutdown, shutdown: None }
    }
}

impl<B> Pieces<B> {
    /// Notes that `n` bytes went to hyper, and, at the end, that the request is answered.
    fn sent(&mut self, n: usize, done: bool) {
        if self.held > 0 {
            let n = if done { self.held } else { n.min(self.held) };
            self.held -= n;
            if let Some(guard) = &self.guard {
                guard.taken(n);
            }
        }
        if done {
            self.guard = None;
        }
    }

    /// For a body whose next frame is not ready: whether it ends now, the server shutting
    /// down and the body one that ends then. Its connection closes after it (HTTP/1.1).
    fn ends_now(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(guard) = self.guard.as_ref().filter(|_| self.ends_at_shutdown) else { return false };
        let shutdown = self.shutdown.get_or_insert_with(|| Box::pin(guard.activity().shutdown().wait()));
        if shutdown.as_mut().poll(cx).is_pending() {
            return false;
        }
        guard.activity().close_gracefully();
        self.sent(0, true);
        true
    }
}

impl<B> Drop for Pieces<B> {
    fn drop(&mut self) {
        self.sent(0, true);
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Pieces<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if this.rest.is_none() {
            let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) else {
                // What was ready went out; a stream that ends at shutdown waits no longer.
                return match this.ends_now(cx) {
                    true => Poll::Ready(None),
                    false => Poll::Pending,
                };
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    // Most bodies: one piece at once.
                    Ok(data) if data.len() <= PIECE => {
                        this.sent(data.len(), false);
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(data) => this.rest = Some(data),
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                done => {
                    this.sent(0, true);
                    return Poll::Ready(done);
                }
            }
        }
        let Some(rest) = this.rest.as_mut() else { return Poll::Ready(None) };
        let piece = rest.split_to(rest.len().min(PIECE));
        if !rest.has_remaining() {
            this.rest = None;
        }
        this.sent(piece.len(), false);
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.body.size_hint();
        let rest = self.rest.as_ref().map_or(0, Bytes::len) as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::{PIECE, Pieces};
    use http_body_util::{BodyExt, Full};
    use hyper::body::Body;

    #[test]
    fn a_large_body_comes_in_pieces_with_its_exact_size() {
        let data: Vec<u8> = (0..PIECE * 2 + 5).map(|i| i as u8).collect();
        let mut body = Pieces::new(Full::new(bytes::Bytes::from(data.clone())), None, false);
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        let mut pieces = Vec::new();
        now_or_never(async {
            while let Some(frame) = body.frame().await {
                pieces.push(frame.unwrap().into_data().unwrap());
            }
        });
        assert_eq!(pieces.iter().map(|p| p.len()).collect::<Vec<_>>(), [PIECE, PIECE, 5]);
        assert_eq!(pieces.concat(), data);
        assert!(body.is_end_stream());
    }

    /// Runs a future that never waits.
    fn now_or_never(future: impl std::future::Future<Output = ()>) {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_ready());
    }
}
