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
use std::time::Duration;

/// The page, which shows the list or a queue by its path.
const PAGE: &str = include_str!("../dashboard/index.html");

/// How often the event stream looks at the stats; it sends them when they changed.
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

/// Every queue's stats (up to 1000 queues), as a `stats` event each time they change, the
/// first at once: `{"queues": [...]}` as `GET /v2/queues` gives them.
#[route(GET, r"/v2/events")]
async fn events(
    queues: State<Queues>,
    shutdown: Shutdown,
    _caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let queues = Queues::clone(&queues);
    // The state: the counts last sent (ages left out: they change all the time), and when.
    let start = (queues, String::new(), None::<tokio::time::Instant>);
    let looks = futures_util::stream::unfold(start, |(queues, last, sent)| async move {
        if sent.is_some() {
            tokio::time::sleep(LOOK_EVERY).await;
        }
        let Ok(mut listed) = queues.list(None, MOST_QUEUES).await else {
            // The store is away: nothing new; look again.
            return Some((None, (queues, last, sent)));
        };
        let data = serde_json::json!({ "queues": &listed }).to_string();
        listed.iter_mut().for_each(|stats| stats.oldest_ready_seconds = 0.0);
        let counts = serde_json::to_string(&listed).unwrap_or_default();
        // Sent when the counts change, and every second for the ages.
        let due = sent.is_none_or(|sent| sent.elapsed() >= AGES_EVERY);
        if counts == last && !due {
            return Some((None, (queues, last, sent)));
        }
        let event = Event::default().event("stats").data(data);
        Some((Some(event), (queues, counts, Some(tokio::time::Instant::now()))))
    });
    let changes = looks.filter_map(|event| async move { event.map(Ok) });
    Sse::new(changes.take_until(shutdown.wait())).keep_alive(Duration::from_secs(15))
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
