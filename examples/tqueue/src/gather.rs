//! Requests gathered into one statement ([`Gather`]): while a key's statement is in flight,
//! the requests that come for that key wait, and the next statement takes them all. A
//! request alone goes at once; after a statement for several, the next lets the runtime
//! turn [`LINGER_TURNS`] times for as many to join (the PostgreSQL queues' batch
//! completers wait a fixed delay instead).

use crate::store::{Refused, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// The most requests one statement takes; the rest wait for the next.
const MOST: usize = 512;

/// How long a statement that followed one of several requests waits for as many again:
/// under load, fewer and larger statements for a millisecond more (a lone client never
/// waits).
const LINGER_TURNS: usize = 4;

/// A statement's run over a batch: one answer per request, in order.
pub(crate) type Run<S, K, R, O> = fn(Arc<S>, K, Vec<R>) -> Answers<O>;

/// The answers of a batch, to come.
pub(crate) type Answers<O> = Pin<Box<dyn Future<Output = Vec<O>> + Send>>;

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
            let sent = requests.len();
            let outcomes = run(Arc::clone(&shared), self.key.clone(), requests).await;
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                let _ = answer.send(outcome);
            }
            let mut lingered = sent < 2;
            batch = loop {
                {
                    let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(queue) = waiting.get_mut(&self.key) else { return };
                    if lingered || queue.len() >= sent {
                        if queue.is_empty() {
                            waiting.remove(&self.key);
                            self.ended = true;
                            return;
                        }
                        let take = queue.len().min(MOST);
                        break queue.drain(..take).collect();
                    }
                }
                for _ in 0..LINGER_TURNS {
                    tokio::task::yield_now().await;
                }
                lingered = true;
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// What the statements saw: how many ran, and the largest batch.
    #[derive(Default)]
    struct Seen {
        runs: AtomicUsize,
        largest: AtomicUsize,
    }

    fn double(seen: Arc<Seen>, key: u8, batch: Vec<u32>) -> Answers<(u8, u32)> {
        Box::pin(async move {
            seen.runs.fetch_add(1, Ordering::Relaxed);
            seen.largest.fetch_max(batch.len(), Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            batch.into_iter().map(|n| (key, n * 2)).collect()
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn concurrent_requests_share_statements_and_each_gets_its_own_answer() {
        runtime().block_on(async {
            let (gather, seen) = (Arc::new(Gather::new(double)), Arc::new(Seen::default()));
            let asks: Vec<_> = (0..200u32)
                .map(|n| {
                    let (gather, seen) = (Arc::clone(&gather), Arc::clone(&seen));
                    tokio::spawn(async move { (n, gather.submit(&seen, (n % 2) as u8, n).await) })
                })
                .collect();
            for ask in asks {
                let (n, answer) = ask.await.unwrap();
                assert_eq!(answer.unwrap(), ((n % 2) as u8, n * 2));
            }
            let runs = seen.runs.load(Ordering::Relaxed);
            assert!(runs < 20, "{runs} statements for 200 requests on 2 keys");
            assert!(seen.largest.load(Ordering::Relaxed) > 10);
            // After the last answer a drain lingers once, finds nothing, and ends.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            assert!(gather.waiting.lock().unwrap().is_empty(), "a key left behind");
        });
    }

    #[test]
    fn a_request_alone_goes_at_once_each_time() {
        runtime().block_on(async {
            let (gather, seen) = (Gather::new(double), Arc::new(Seen::default()));
            for n in 0..3 {
                let began = tokio::time::Instant::now();
                assert_eq!(gather.submit(&seen, 7, n).await.unwrap(), (7, n * 2));
                assert!(began.elapsed() < std::time::Duration::from_millis(50));
            }
            assert_eq!(seen.runs.load(Ordering::Relaxed), 3);
            assert_eq!(seen.largest.load(Ordering::Relaxed), 1);
        });
    }

    fn explode(_: Arc<Seen>, _: u8, _: Vec<u32>) -> Answers<(u8, u32)> {
        Box::pin(async { panic!("the statement failed badly") })
    }

    #[test]
    fn a_statement_that_panics_answers_that_the_store_failed_and_the_key_is_free_again() {
        runtime().block_on(async {
            let (gather, seen) = (Gather::new(explode), Arc::new(Seen::default()));
            for _ in 0..2 {
                let answer = gather.submit(&seen, 1, 1).await;
                assert!(matches!(answer, Err(Refused::Store(StoreError::Stopped))), "{answer:?}");
            }
            assert!(gather.waiting.lock().unwrap().is_empty());
        });
    }
}
