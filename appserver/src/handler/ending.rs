//! [`Ending`]: the end of an answer that outlives its head (a streamed body, a WebSocket),
//! with the bytes it sent.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What to do when an answer ends, called with the bytes it sent.
type Then = Box<dyn FnOnce(u64) + Send>;

/// The bytes an answer that outlives its head sent, counted as they go, and what the
/// server does when it ends (its access line): when the last holder drops it.
#[derive(Default)]
pub(crate) struct Ending {
    bytes: AtomicU64,
    then: Mutex<Option<Then>>,
}

impl Ending {
    /// Counts `n` bytes sent.
    pub(crate) fn sent(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Calls `then` with the bytes sent when the answer ends.
    pub(crate) fn then(&self, then: impl FnOnce(u64) + Send + 'static) {
        *self.then.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(then));
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        let then = self.then.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(then) = then {
            then(*self.bytes.get_mut());
        }
    }
}
