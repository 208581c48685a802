//! Forked mode's supervision, with real processes and signals.

mod support;

use std::thread;
use std::time::{Duration, Instant};
use support::{Process, alive, timed_get, wait_for};

fn forked(workers: &str, extra: &[(&str, &str)]) -> Process {
    let mut env = vec![("APPSERVER_SERVER_TYPE", "forked"), ("APPSERVER_WORKERS", workers)];
    env.extend_from_slice(extra);
    let server = Process::start(&env);
    wait_for(|| server.children().len() == workers.parse::<usize>().unwrap(), "the workers start");
    server
}

#[test]
fn a_killed_worker_is_replaced_and_requests_keep_succeeding() {
    let server = forked("2", &[]);
    let addr = server.addr();
    let before = server.children();
    let load = thread::spawn(move || {
        let (mut ok, mut failed) = (0, 0);
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            match timed_get(addr, "/pid").0.starts_with("HTTP/1.1 200 ") {
                true => ok += 1,
                false => failed += 1,
            }
        }
        (ok, failed)
    });
    thread::sleep(Duration::from_millis(400));
    let victim = before[0];
    Process::kill(victim, "KILL");
    let replaced = wait_for(
        || {
            let now = server.children();
            now.len() == 2 && !now.contains(&victim)
        },
        "a replacement worker runs",
    );
    println!("replacement running {replaced:?} after kill -9");
    assert!(replaced < Duration::from_secs(1), "{replaced:?}");
    let (ok, failed) = load.join().unwrap();
    println!("under load: {ok} requests succeeded, {failed} failed");
    assert!(ok > 100 && failed <= 2, "{ok} ok, {failed} failed");
    assert!(
        server.log().contains(&format!("worker died; replacing it pid={victim} status=killed by signal 9 (SIGKILL)"))
    );
    // The replacement serves too: each worker answers with its own pid.
    let pids: std::collections::HashSet<String> =
        (0..50).map(|_| timed_get(addr, "/pid").0.rsplit("\r\n").next().unwrap().to_owned()).collect();
    assert!(pids.iter().all(|pid| server.children().iter().any(|c| c.to_string() == *pid)), "{pids:?}");
}

#[test]
fn workers_that_keep_failing_to_boot_stop_the_master_without_a_loop() {
    let mut server =
        Process::start(&[("APPSERVER_SERVER_TYPE", "forked"), ("APPSERVER_WORKERS", "2"), ("SERVE_FAIL_BOOT", "1")]);
    let started = Instant::now();
    let status = server.wait(Duration::from_secs(10)).expect("the master must stop by itself");
    println!("master stopped {:?} after it started listening", started.elapsed());
    thread::sleep(Duration::from_millis(50));
    let log = server.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert_eq!(log.matches("worker failed to boot").count(), 3, "{log}");
    assert!(!log.contains("graceful_timeout"), "no shutdown took place, and no log line says so: {log}");
    assert!(log.contains("on_worker_start failed error=SERVE_FAIL_BOOT is set"), "{log}");
    assert!(
        log.contains(
            "3 workers in a row died before they were ready (the last: exit code 3); \
             stopping instead of restarting them again"
        ),
        "{log}"
    );
}

#[test]
fn workers_exit_when_the_master_dies() {
    let server = forked("2", &[]);
    let workers = server.children();
    Process::kill(server.pid(), "KILL");
    let took = wait_for(|| workers.iter().all(|&pid| !alive(pid)), "the orphaned workers exit");
    println!("workers gone {took:?} after the master was killed");
}

#[test]
fn a_busy_worker_does_not_hold_up_the_others() {
    // A sync handler that sleeps occupies its worker; the other worker keeps answering.
    let server = forked("2", &[]);
    let addr = server.addr();
    let slow = thread::spawn(move || timed_get(addr, "/sleep/1000"));
    thread::sleep(Duration::from_millis(100));
    let fast: Vec<Duration> = (0..5).map(|_| timed_get(addr, "/library/x").1).collect();
    println!("fast requests beside a sleeping worker: {fast:?}");
    assert!(fast.iter().all(|took| *took < Duration::from_millis(100)), "{fast:?}");
    assert!(slow.join().unwrap().0.ends_with("1000"));
}

#[test]
fn start_refuses_forked_mode() {
    let err = appserver::Server::new()
        .bind(([127, 0, 0, 1], 0))
        .server_type(appserver::ServerType::Forked)
        .start()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("start a Forked server with serve() from main"), "{err}");
}

/// `[pid, beats]` of `/beats`: the pid of the process that answered, and how often its
/// background task has run.
fn beats(addr: std::net::SocketAddr) -> (u32, u64) {
    let (out, _) = timed_get(addr, "/beats");
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    let body = out.rsplit("\r\n").next().unwrap().to_owned();
    let (pid, beats) = body.trim_matches(['[', ']']).split_once(',').unwrap_or_else(|| panic!("{body}"));
    (pid.parse().unwrap(), beats.parse().unwrap())
}

#[test]
fn every_worker_runs_the_background_task_a_replacement_too() {
    let server = forked("2", &[]);
    let addr = server.addr();
    let seen = |server: &Process| {
        let mut seen = std::collections::HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.len() < 2 && Instant::now() < deadline {
            let (pid, beats) = beats(addr);
            seen.insert(pid, beats);
        }
        let children = server.children();
        assert!(seen.keys().all(|pid| children.contains(pid)), "{seen:?} against {children:?}");
        seen
    };
    thread::sleep(Duration::from_millis(300));
    let before = seen(&server);
    assert_eq!(before.len(), 2, "both workers answered: {before:?}");
    assert!(before.values().all(|&beats| beats > 0), "each worker's task ran: {before:?}");
    let victim = *before.keys().next().unwrap();
    Process::kill(victim, "KILL");
    wait_for(|| server.children().len() == 2 && !server.children().contains(&victim), "a replacement worker runs");
    thread::sleep(Duration::from_millis(300));
    let after = seen(&server);
    assert!(!after.contains_key(&victim));
    assert!(after.values().all(|&beats| beats > 0), "the replacement's task runs: {after:?}");
}
