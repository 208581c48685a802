//! A bound on the memory that unfinished request heads hold, per process.
//!
//! hyper buffers a request's head until it is complete, up to `max_header_bytes` per
//! connection: at the connection cap that could be `max_connections` times as much. Each
//! connection may hold [`FREE`] bytes of an unfinished head on its own; bytes past that
//! draw on one budget of [`BUDGET`] bytes shared by the process. A connection that needs
//! more when the budget is spent is closed: a legitimate large head waits for nobody, an
//! attack of many slow large heads gets no further.
//!
//! Bytes count while the connection has no request in flight (once a head is complete,
//! what arrives is its body); they are given back when the next request starts or the
//! connection closes.

use super::connection::{Activity, Slot};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes of an unfinished head a connection holds without drawing on the budget.
pub(crate) const FREE: usize = 16 << 10;
/// Bytes of unfinished heads past [`FREE`] that all connections of a process may hold.
pub(crate) const BUDGET: usize = 64 << 20;

/// The bytes drawn, shared by the connections of a process.
#[derive(Default)]
pub(crate) struct HeadBudget {
    used: AtomicUsize,
}

impl HeadBudget {
    /// Takes `bytes` if they fit.
    fn take(&self, bytes: usize) -> bool {
        if self.used.fetch_add(bytes, Ordering::AcqRel) + bytes <= BUDGET {
            return true;
        }
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        false
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A connection's socket, counting the bytes of unfinished heads it reads, and holding
/// the connection's [`Slot`] until it closes.
pub(crate) struct Metered {
    stream: TcpStream,
    slot: Slot,
    budget: Arc<HeadBudget>,
    /// `started` of the activity when the count below began.
    since: u64,
    /// Bytes read since then while no request was in flight.
    head: usize,
    /// Of those, the bytes drawn on the budget.
    drawn: usize,
}

impl Metered {
    pub(crate) fn new(stream: TcpStream, slot: Slot, budget: Arc<HeadBudget>) -> Self {
        Metered { stream, slot, budget, since: 0, head: 0, drawn: 0 }
    }

    /// The connection's activity.
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.slot.activity
    }

    /// Counts `n` bytes just read; false if they do not fit.
    fn count(&mut self, n: usize) -> bool {
        let (started, idle) = self.slot.activity.requests();
        if started != self.since {
            // A request started since the count began: its head is done.
            self.since = started;
            self.head = 0;
            self.budget.give_back(std::mem::take(&mut self.drawn));
        }
        if !idle {
            return true; // A body, not a head.
        }
        self.slot.activity.sending();
        self.head += n;
        let over = self.head.saturating_sub(FREE).saturating_sub(self.drawn);
        if over == 0 {
            return true;
        }
        let fits = self.budget.take(over);
        self.drawn += if fits { over } else { 0 };
        fits
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.budget.give_back(self.drawn);
    }
}

impl AsyncRead for Metered {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        let read = buf.filled().len() - before;
        if read > 0 && !self.count(read) {
            tracing::debug!("closing a connection: the memory for unfinished request heads is spent");
            return Poll::Ready(Err(io::Error::other("the memory for unfinished request heads is spent")));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Metered {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
