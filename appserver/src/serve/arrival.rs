//! A request body as it arrives, noted on its connection's [`Activity`] while it waits for
//! bytes: a connection whose every request in flight waits for a body that does not come
//! (HTTP/2 streams left open, say) may be closed for a newcomer.

use super::connection::Activity;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// `body`, its waits noted on its connection's activity, if it has one.
    pub(crate) struct Arrival<B> {
        #[pin]
        body: B,
        activity: Option<Arc<Activity>>,
        // Whether the body's last poll found no bytes.
        waiting: bool,
    }

    impl<B> PinnedDrop for Arrival<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            wait(this.activity, this.waiting, false);
        }
    }
}

impl<B: Body> Arrival<B> {
    /// `body`, on the connection of `activity` (none for a request made in the process).
    pub(crate) fn new(body: B, activity: Option<&Arc<Activity>>) -> Self {
        let activity = activity.filter(|_| !body.is_end_stream()).map(|activity| {
            activity.body_arrived();
            Arc::clone(activity)
        });
        Arrival { body, activity, waiting: false }
    }
}

/// Notes on `activity` whether a body waits, if that changed.
fn wait(activity: &Option<Arc<Activity>>, was: &mut bool, waiting: bool) {
    if let Some(activity) = activity.as_ref().filter(|_| *was != waiting) {
        activity.body_waits(waiting);
        *was = waiting;
    }
}

impl<B: Body<Data = Bytes>> Body for Arrival<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let poll = this.body.poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(activity)) = (&poll, &*this.activity) {
            activity.body_arrived();
        }
        wait(this.activity, this.waiting, poll.is_pending());
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
