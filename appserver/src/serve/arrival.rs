//! A request body as it arrives, noted on its connection's [`Activity`] while it waits for
//! bytes: a connection whose every request in flight waits for a body that does not come
//! (HTTP/2 streams left open, say) may be closed for a newcomer.

use super::connection::Activity;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// hyper's request body, its waits noted on the connection.
pub(crate) struct Arrival {
    body: Incoming,
    /// The connection, for a body still to come.
    activity: Option<Arc<Activity>>,
    /// Whether the body's last poll found no bytes.
    waiting: bool,
}

impl Arrival {
    pub(crate) fn new(body: Incoming, activity: &Arc<Activity>) -> Self {
        let activity = (!body.is_end_stream()).then(|| {
            activity.body_arrived();
            Arc::clone(activity)
        });
        Arrival { body, activity, waiting: false }
    }

    fn wait(&mut self, waiting: bool) {
        if let Some(activity) = self.activity.as_ref().filter(|_| self.waiting != waiting) {
            activity.body_waits(waiting);
            self.waiting = waiting;
        }
    }
}

impl Body for Arrival {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let poll = Pin::new(&mut self.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(activity)) = (&poll, &self.activity) {
            activity.body_arrived();
        }
        self.wait(poll.is_pending());
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        self.wait(false);
    }
}
