//! `Server::background`: the program's own work runs beside the connections, once per
//! serving process, from when the server serves until it begins to shut down.

mod support;

use appserver::{Server, route};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::{timed_get, wait_for};

/// How often the background task has run.
static TICKS: AtomicU64 = AtomicU64::new(0);
/// How many of its runs are going on at once (more than one: it was started twice).
static RUNNING: AtomicU64 = AtomicU64::new(0);

#[route(GET, r"/ticks")]
fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Counts down `RUNNING` and says it stopped when its task is dropped.
struct Stopped(Arc<AtomicBool>);

impl Drop for Stopped {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn the_task_runs_once_while_the_server_serves_and_is_dropped_at_shutdown() {
    // On the program's own runtime (`serve_on`), which goes on after the server: the task
    // must not outlive the server there.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped);
    let server = Server::new().background(move || {
        let guard = Stopped(Arc::clone(&flag));
        RUNNING.fetch_add(1, Ordering::Relaxed);
        async move {
            let _guard = guard;
            loop {
                TICKS.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let served = runtime.spawn(server.serve_on(listener, async move { stopping.await.unwrap_or(()) }));
    wait_for(|| TICKS.load(Ordering::Relaxed) >= 5, "the task runs");
    let (out, _) = timed_get(addr, "/ticks");
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    let seen: u64 = out.rsplit("\r\n").next().unwrap().parse().unwrap();
    assert!(seen >= 5, "{out}");
    assert_eq!(RUNNING.load(Ordering::Relaxed), 1, "one task for the process, whatever its worker threads");
    assert!(!stopped.load(Ordering::Relaxed));
    stop.send(()).unwrap();
    runtime.block_on(served).unwrap().unwrap();
    wait_for(|| stopped.load(Ordering::Relaxed), "the task is dropped when the server shuts down");
    assert_eq!(RUNNING.load(Ordering::Relaxed), 0);
    let after = TICKS.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(TICKS.load(Ordering::Relaxed), after, "and runs no more, while the runtime goes on");
    drop(runtime);
}

#[test]
fn a_program_serving_threaded_or_with_serve_async_runs_its_task() {
    for env in [&[("APPSERVER_SERVER_TYPE", "threaded")][..], &[("SERVE_ASYNC", "1")][..]] {
        let server = support::Process::start(env);
        let addr = server.addr();
        let beats = || {
            let (out, _) = timed_get(addr, "/beats");
            assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
            let body = out.rsplit("\r\n").next().unwrap().to_owned();
            let (pid, beats) = body.trim_matches(['[', ']']).split_once(',').unwrap();
            assert_eq!(pid, server.pid().to_string(), "{env:?}");
            beats.parse::<u64>().unwrap()
        };
        wait_for(|| beats() >= 3, "the background task beats");
    }
}
