//! `graceful_timeout` as one [`Deadline`], set once when a stop begins: the accept loop stops
//! waiting for requests in flight at it, a Threaded server's caller stops waiting for the
//! runtime a short margin after it (a sync handler can hold a thread past it), and a Forked
//! master kills the workers still busy at it.

use std::time::{Duration, Instant};

/// The instant a graceful shutdown gives up on requests in flight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `timeout` from now (never, for a timeout too long to count).
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// `margin` after this one.
    pub(crate) fn and(self, margin: Duration) -> Self {
        Deadline(self.0.and_then(|at| at.checked_add(margin)))
    }

    /// The time left; `None` if it never comes.
    pub(crate) fn left(self) -> Option<Duration> {
        self.0.map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether it has come.
    pub(crate) fn passed(self) -> bool {
        self.0.is_some_and(|at| at <= Instant::now())
    }
}
