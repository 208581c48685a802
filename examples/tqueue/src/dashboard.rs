//! The dashboard: one page of plain HTML, CSS and JavaScript compiled into the binary
//! (`dashboard/index.html`; no build step, nothing from another host), at `/` and at each
//! queue's `/queues/{queue}`, and what it reads: whether the server wants a token, every
//! queue's stats live over Server-Sent Events, and a queue's settings.

use crate::access::{Anonymous, Caller};
use crate::queues::Queues;
use crate::refusal::Failure;
use appserver::sse::{Event, Sse};
use appserver::{Html, Shutdown, State, route};
use futures_util::{Stream, StreamExt as _};
use schemars::JsonSchema;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// The page, which shows the list or a queue by its path.
const PAGE: &str = include_str!("../dashboard/index.html");

/// How often the event streams look at the stats, at most; each sends them when they
/// changed. A look that takes long (a count of many rows in PostgreSQL) waits four times
/// as long before the next, so that the dashboards take at most a fifth of the store.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// How often the stream sends the stats when only the ages changed.
const AGES_EVERY: Duration = Duration::from_secs(1);

/// The most queues the stream carries, as a page of `/v2/queues` at most.
const MOST_QUEUES: usize = 1000;

/// The dashboard: every queue, live.
#[route(GET, r"/")]
fn overview() -> Html<&'static str> {
    Html(PAGE)
}

/// The dashboard's page of one queue: its settings, stats, dead tasks, pause and resume.
#[route(GET, r"/queues/(?P<queue>[A-Za-z0-9_.-]{1,64})")]
fn queue_page(queue: String) -> Html<&'static str> {
    let _ = queue;
    Html(PAGE)
}

/// Whether this server wants a bearer token (the page asks for one only then).
#[derive(Serialize, JsonSchema)]
struct Auth {
    tokens: bool,
}

/// Whether the server has tokens: open to all, so that a page can tell before it asks.
#[route(GET, r"/v2/auth")]
fn auth(anonymous: State<Anonymous>) -> Auth {
    Auth { tokens: !anonymous.0.0 }
}

/// One look at every queue's stats: `{"queues": [...]}` as `GET /v2/queues` gives them,
/// and the counts alone (ages left out: they change all the time).
struct Look {
    data: String,
    counts: String,
}

/// The last look, once there is one.
type Latest = watch::Sender<Option<Arc<Look>>>;

/// The looks the event streams of this server share: one look at the store for all the
/// dashboards open, taken while any is.
#[derive(Default)]
pub(crate) struct Looks(Arc<Mutex<Option<Latest>>>);

impl Looks {
    /// The looks to come, the last one first if there is one; starts looking if none does.
    fn follow(&self, queues: &Queues) -> watch::Receiver<Option<Arc<Look>>> {
        let mut looking = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = looking.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        *looking = Some(sender.clone());
        let (queues, slot) = (queues.clone(), Arc::clone(&self.0));
        tokio::spawn(async move {
            loop {
                let started = tokio::time::Instant::now();
                // The store away: nothing new, look again.
                if let Ok(mut listed) = queues.list(None, MOST_QUEUES).await {
                    let data = serde_json::json!({ "queues": &listed }).to_string();
                    listed.iter_mut().for_each(|stats| stats.oldest_ready_seconds = 0.0);
                    let counts = serde_json::to_string(&listed).unwrap_or_default();
                    sender.send_replace(Some(Arc::new(Look { data, counts })));
                }
                tokio::time::sleep(LOOK_EVERY.max(started.elapsed() * 4)).await;
                let mut looking = slot.lock().unwrap_or_else(PoisonError::into_inner);
                // Only this task's clone is left: every stream ended.
                if sender.receiver_count() == 0 {
                    *looking = None;
                    return;
                }
            }
        });
        receiver
    }
}

/// Every queue's stats (up to 1000 queues), as a `stats` event each time they change, the
/// first at once: `{"queues": [...]}` as `GET /v2/queues` gives them.
#[route(GET, r"/v2/events")]
async fn events(
    queues: State<Queues>,
    looks: State<Looks>,
    shutdown: Shutdown,
    _caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let mut receiver = looks.follow(&queues);
    receiver.mark_changed();
    // The state: the counts last sent, and when.
    let start = (receiver, String::new(), None::<tokio::time::Instant>);
    let sent = futures_util::stream::unfold(start, |(mut receiver, last, sent)| async move {
        loop {
            receiver.changed().await.ok()?;
            let Some(look) = receiver.borrow_and_update().clone() else { continue };
            // Sent when the counts change, and every second for the ages.
            if look.counts != last || sent.is_none_or(|sent: tokio::time::Instant| sent.elapsed() >= AGES_EVERY) {
                let event = Event::default().event("stats").data(look.data.clone());
                return Some((Ok(event), (receiver, look.counts.clone(), Some(tokio::time::Instant::now()))));
            }
        }
    });
    Sse::new(sent.take_until(shutdown.wait())).keep_alive(Duration::from_secs(15))
}

/// A queue's settings, in seconds where they are times.
#[derive(Serialize, JsonSchema)]
struct QueueSettings {
    queue: String,
    lease: f64,
    max_attempts: u32,
    max_tasks: usize,
    backoff_base: f64,
    backoff_max: f64,
}

/// A queue's settings (its own, or the server's).
#[route(GET, r"/v2/queues/(?P<queue>[A-Za-z0-9_.-]{1,64})/settings")]
fn settings(queue: String, queues: State<Queues>, _caller: Caller) -> Result<QueueSettings, Failure> {
    let limits = queues.settings().limits(&queue);
    Ok(QueueSettings {
        lease: limits.lease.as_secs_f64(),
        max_attempts: limits.max_attempts,
        max_tasks: limits.max_tasks,
        backoff_base: limits.backoff_base.as_secs_f64(),
        backoff_max: limits.backoff_max.as_secs_f64(),
        queue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn the_streams_share_one_look_at_the_store_while_any_is_open() {
        let dir = std::env::temp_dir().join(format!("tqueue-looks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let queues = Queues::open(Settings { data_dir: dir.clone(), ..Settings::default() }).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let looks = Looks::default();
            let looking = || looks.0.lock().unwrap().as_ref().map(Latest::receiver_count);
            let mut first = looks.follow(&queues);
            let second = looks.follow(&queues);
            assert_eq!(looking(), Some(2), "one sender for both");
            first.changed().await.unwrap();
            assert!(first.borrow().as_ref().is_some_and(|look| look.data == r#"{"queues":[]}"#));
            drop((first, second));
            tokio::time::sleep(LOOK_EVERY * 2).await;
            assert_eq!(looking(), None, "no stream open: no look");
            // A stream after that starts looking again.
            let mut third = looks.follow(&queues);
            third.changed().await.unwrap();
            assert_eq!(looking(), Some(1));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
