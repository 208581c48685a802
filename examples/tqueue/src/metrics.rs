//! TQueue's metrics, on the server's metrics page (`metrics_path`): per queue, the tasks by
//! state (`tqueue_tasks{queue,state}`), the age of the oldest ready task, and counters of
//! puts, leases, dones, releases, expiries and dead tasks. Queue labels name queues that
//! exist (at most `max_queues`): nothing is recorded for a name that only was read.

use crate::store::Stats;
use appserver::metrics::{counter, describe_counter, describe_gauge, gauge};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the metrics are published: counting costs nothing until then.
static ON: AtomicBool = AtomicBool::new(false);

/// What happened to tasks of a queue, counted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Put,
    Leased,
    Done,
    Released,
    /// A lease ran out.
    Expired,
    /// A task's last lease ended: it is dead.
    Dead,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Put => "tqueue_puts_total",
            Event::Leased => "tqueue_leases_total",
            Event::Done => "tqueue_dones_total",
            Event::Released => "tqueue_releases_total",
            Event::Expired => "tqueue_expired_total",
            Event::Dead => "tqueue_dead_total",
        }
    }
}

/// From now on, the events are counted.
pub(crate) fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Counts `n` `event`s of `queue` (none recorded for 0), once the metrics are published.
pub(crate) fn count(queue: &str, event: Event, n: u64) {
    if n > 0 && ON.load(Ordering::Relaxed) {
        counter!(event.name(), "queue" => queue.to_owned()).increment(n);
    }
}

/// The gauges of one queue, from its stats.
pub(crate) fn publish(stats: &Stats) {
    let queue = || stats.queue.clone();
    for (state, n) in
        [("ready", stats.ready), ("leased", stats.leased), ("delayed", stats.delayed), ("dead", stats.dead)]
    {
        gauge!("tqueue_tasks", "queue" => queue(), "state" => state).set(n as f64);
    }
    gauge!("tqueue_oldest_ready_age_seconds", "queue" => queue()).set(stats.oldest_ready_seconds);
    gauge!("tqueue_paused", "queue" => queue()).set(if stats.paused { 1.0 } else { 0.0 });
}

/// The help lines, once.
pub(crate) fn describe() {
    describe_gauge!("tqueue_tasks", "Tasks of a queue, by state: ready, leased, delayed, dead");
    describe_gauge!("tqueue_oldest_ready_age_seconds", "How long the oldest ready task of a queue has waited");
    describe_gauge!("tqueue_paused", "1 if the queue is paused");
    for (event, help) in [
        (Event::Put, "Tasks put"),
        (Event::Leased, "Tasks leased"),
        (Event::Done, "Tasks done"),
        (Event::Released, "Leases released"),
        (Event::Expired, "Leases that ran out"),
        (Event::Dead, "Tasks that became dead"),
    ] {
        describe_counter!(event.name(), help);
    }
}
