//! Requests gathered into one statement ([`Gather`]): while a key's statement is in flight,
//! the requests that come for that key wait, and the next statement takes them all. No
//! timer: one request alone goes at once, and a batch is as large as the load makes it
//! (the PostgreSQL queues' batch completers, without their delay).

use crate::store::{Refused, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// The most requests one statement takes; the rest wait for the next.
const MOST: usize = 512;

/// A statement's run over a batch: one answer per request, in order.
pub(crate) type Run<S, K, R, O> = fn(Arc<S>, K, Vec<R>) -> Pin<Box<dyn Future<Output = Vec<O>> + Send>>;

/// The requests waiting, by key; a key is present while its statement is in flight.
type Waiting<K, R, O> = Arc<Mutex<HashMap<K, Vec<(R, oneshot::Sender<O>)>>>>;

/// Gathers the requests `R` for a key `K` into runs of one statement on the shared `S`.
pub(crate) struct Gather<S, K, R, O> {
    waiting: Waiting<K, R, O>,
    run: Run<S, K, R, O>,
}

impl<S, K, R, O> Gather<S, K, R, O>
where
    S: Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    R: Send + 'static,
    O: Send + 'static,
{
    pub(crate) fn new(run: Run<S, K, R, O>) -> Self {
        Gather { waiting: Arc::default(), run }
    }

    /// `request`'s answer, from the next statement for `key`: this one at once if none is
    /// in flight. A statement that panicked answers that the store failed.
    pub(crate) async fn submit(&self, shared: &Arc<S>, key: K, request: R) -> Result<O, Refused> {
        let (answer, answered) = oneshot::channel();
        let first = {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            match waiting.get_mut(&key) {
                Some(queue) => {
                    queue.push((request, answer));
                    None
                }
                None => {
                    waiting.insert(key.clone(), Vec::new());
                    Some(vec![(request, answer)])
                }
            }
        };
        if let Some(first) = first {
            let drain = Drain { waiting: Arc::clone(&self.waiting), key: key.clone(), ended: false };
            tokio::spawn(drain.run(Arc::clone(shared), self.run, first));
        }
        answered.await.map_err(|_| Refused::Store(StoreError::Stopped))
    }
}

/// The task that runs a key's statements until no request waits; its key leaves the map
/// when it ends, even by a panic (the requests then waiting are answered with an error).
struct Drain<K: Hash + Eq, R, O> {
    waiting: Waiting<K, R, O>,
    key: K,
    /// Whether the key left the map already (under the lock that saw nothing waiting).
    ended: bool,
}

impl<K: Hash + Eq + Clone, R, O> Drain<K, R, O> {
    async fn run<S>(mut self, shared: Arc<S>, run: Run<S, K, R, O>, mut batch: Vec<(R, oneshot::Sender<O>)>) {
        loop {
            let (requests, answers): (Vec<R>, Vec<oneshot::Sender<O>>) = batch.into_iter().unzip();
            let outcomes = run(Arc::clone(&shared), self.key.clone(), requests).await;
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                let _ = answer.send(outcome);
            }
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(queue) = waiting.get_mut(&self.key) else { return };
            if queue.is_empty() {
                waiting.remove(&self.key);
                self.ended = true;
                return;
            }
            let take = queue.len().min(MOST);
            batch = queue.drain(..take).collect();
        }
    }
}

impl<K: Hash + Eq, R, O> Drop for Drain<K, R, O> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}
