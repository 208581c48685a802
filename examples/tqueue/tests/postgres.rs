//! TQueue on PostgreSQL: the conformance suite on a throwaway PostgreSQL per test (skipped,
//! saying so, where the machine has none).

mod conformance;
mod support;

use support::*;

conformance::suite!(Store::postgres());

#[test]
fn without_a_postgresql_server_the_script_says_so_with_the_code_that_skips_the_suite() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/throwaway-postgres.sh");
    let out = std::process::Command::new(script).arg("start").env("POSTGRES_BIN", "/nonexistent").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "the code Postgres::start takes for a skip");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "no PostgreSQL server: install Debian's postgresql package\n");
    assert!(out.stdout.is_empty());
}

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A tqueue node on `url`, in `mode` ("threaded", or "forked" with 2 workers).
fn node(url: &str, mode: &str, lease: &str) -> Process {
    let env = [
        ("TQUEUE_STORE", "postgres"),
        ("TQUEUE_DATABASE_URL", url),
        ("TQUEUE_LEASE", lease),
        ("APPSERVER_SERVER_TYPE", mode),
        ("APPSERVER_WORKERS", "2"),
    ];
    Process::start(&scratch_dir(), &env).unwrap_or_else(|log| panic!("the {mode} node did not start:\n{log}"))
}

#[test]
fn a_put_on_one_node_wakes_a_long_poll_on_another_within_milliseconds() {
    let Some(Store::Postgres(db)) = Store::postgres() else { return };
    let (a, b) = (node(&db.url, "threaded", "60"), node(&db.url, "forked", "60"));
    let b_addr = b.addr;
    let waiter = std::thread::spawn(move || {
        let reply = Client::new(b_addr).post("/v2/queues/wake/lease?wait=10");
        (reply.json(), Instant::now())
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut c = Client::new(a.addr);
    assert_eq!(c.post_json("/v2/queues/wake/tasks", &json!({"task": "across"})).status, 201);
    let put_at = Instant::now();
    let (reply, woke) = waiter.join().unwrap();
    assert_eq!(reply["tasks"][0]["task"], "across");
    let took = woke.saturating_duration_since(put_at);
    println!("a put on the threaded node woke a long-poll on the forked node after {took:?}");
    assert!(took < Duration::from_millis(200), "{took:?}");

    // kill -9 of the forked node's master: its workers stop too (they had run a long-poll,
    // so this process's tokio had handled signals before; the workers must still hear
    // their own stop).
    let workers = b.children();
    assert_eq!(workers.len(), 2, "{workers:?}");
    b.kill();
    let alive = |pid: &u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + Duration::from_secs(10);
    while workers.iter().any(alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!workers.iter().any(alive), "workers left running: {workers:?}");
}

#[test]
fn the_same_idempotency_key_on_two_nodes_at_once_puts_one_task() {
    let Some(Store::Postgres(db)) = Store::postgres() else { return };
    let (a, b) = (node(&db.url, "threaded", "60"), node(&db.url, "forked", "60"));
    // 20 keys, each sent by 8 producers at once, 4 on each node.
    const KEYS: usize = 20;
    let start = Arc::new(std::sync::Barrier::new(16));
    let producers: Vec<_> = (0..16)
        .map(|producer| {
            let addr = if producer % 2 == 0 { a.addr } else { b.addr };
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                start.wait();
                (0..KEYS)
                    .map(|k| {
                        let key = format!("order-{k}");
                        let task = json!({"task": {"order": k}});
                        let reply = c.post_json_with("/v2/queues/keyed/tasks", &[("Idempotency-Key", &key)], &task);
                        assert_eq!(reply.status, 201, "{}", reply.body);
                        reply.json()["id"].clone()
                    })
                    .collect::<Vec<Value>>()
            })
        })
        .collect();
    let answers: Vec<Vec<Value>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    for k in 0..KEYS {
        let ids: std::collections::HashSet<String> = answers.iter().map(|a| a[k].to_string()).collect();
        assert_eq!(ids.len(), 1, "key order-{k} answered {ids:?}");
    }
    let stats = Client::new(a.addr).get("/v2/queues/keyed").json();
    assert_eq!(stats["ready"], KEYS, "{stats}");
    // Each task once, the one its key answered.
    let leased = Client::new(b.addr).post("/v2/queues/keyed/lease?max=100").json();
    let mut orders: Vec<u64> =
        leased["tasks"].as_array().unwrap().iter().map(|t| t["task"]["order"].as_u64().unwrap()).collect();
    orders.sort();
    assert_eq!(orders, (0..KEYS as u64).collect::<Vec<_>>());
    for task in leased["tasks"].as_array().unwrap() {
        let order = task["task"]["order"].as_u64().unwrap() as usize;
        assert_eq!(task["id"], answers[0][order], "{task}");
    }
}

/// What the workers of the two-node test saw.
#[derive(Default)]
struct Seen {
    /// Task number → the workers that leased it, with the lease's attempt.
    leased: HashMap<u64, Vec<(usize, u64)>>,
    /// Task numbers whose done was acknowledged, with how often.
    done: HashMap<u64, usize>,
    /// Task numbers whose done got no answer (a node died).
    unanswered: Vec<u64>,
}

/// 16 workers, 8 on each node, leasing and finishing `queue` until `stop`, idle while
/// `pause`.
fn workers(
    addrs: [std::net::SocketAddr; 2],
    seen: &Arc<Mutex<Seen>>,
    stop: &Arc<AtomicBool>,
    pause: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..16)
        .map(|worker| {
            let (seen, stop, pause) = (Arc::clone(seen), Arc::clone(stop), Arc::clone(pause));
            std::thread::spawn(move || {
                let mut addr = addrs[worker % 2];
                let mut client = Client::new(addr);
                while !stop.load(Ordering::Relaxed) {
                    if pause.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    let Ok(reply) = client.try_send("POST", "/v2/queues/work/lease?wait=0.5", "", "") else {
                        // This node died: go on with the other.
                        addr = if addr == addrs[0] { addrs[1] } else { addrs[0] };
                        client = Client::new(addr);
                        continue;
                    };
                    for task in reply.json()["tasks"].as_array().cloned().unwrap_or_default() {
                        let (n, attempt) = (task["task"].as_u64().unwrap(), task["attempt"].as_u64().unwrap());
                        seen.lock().unwrap().leased.entry(n).or_default().push((worker, attempt));
                        let path = format!("/v2/queues/work/leases/{}/done", task["lease"].as_str().unwrap());
                        match client.try_send("POST", &path, "", "") {
                            Ok(reply) if reply.status == 200 => *seen.lock().unwrap().done.entry(n).or_default() += 1,
                            Ok(_) => {}
                            Err(_) => seen.lock().unwrap().unanswered.push(n),
                        }
                    }
                }
            })
        })
        .collect()
}

#[test]
fn two_nodes_one_database_every_task_finished_once_and_a_killed_nodes_leases_come_back() {
    let Some(Store::Postgres(db)) = Store::postgres() else { return };
    let a = node(&db.url, "threaded", "2");
    let b = node(&db.url, "forked", "2");
    let addrs = [a.addr, b.addr];
    let put = |from: std::net::SocketAddr, numbers: std::ops::Range<u64>| {
        let mut c = Client::new(from);
        for n in numbers {
            assert_eq!(c.post_json("/v2/queues/work/tasks", &json!({"task": n})).status, 201);
        }
    };

    // Both nodes serve 16 workers; no lease runs out: each task is finished exactly once,
    // by exactly one worker.
    put(a.addr, 0..500);
    put(b.addr, 500..1000);
    let (seen, stop) = (Arc::new(Mutex::new(Seen::default())), Arc::new(AtomicBool::new(false)));
    let pause = Arc::new(AtomicBool::new(false));
    let running = workers(addrs, &seen, &stop, &pause);
    let started = Instant::now();
    while seen.lock().unwrap().done.len() < 1000 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    {
        let seen = seen.lock().unwrap();
        println!("1000 tasks finished by 16 workers on two nodes in {:?}", started.elapsed());
        assert_eq!(seen.done.len(), 1000);
        assert!(seen.done.values().all(|&n| n == 1), "a task finished twice");
        let twice: Vec<_> = seen.leased.iter().filter(|(_, w)| w.len() > 1).collect();
        assert!(twice.is_empty(), "handed to two workers: {twice:?}");
    }

    // Kill the forked node in the middle of the next 1000, while two producers put batches
    // of 100 (tasks 2000 and up) to it, gathered with the workers' requests: its leases
    // come back after 2 s and the other node finishes them; a batch it answered is
    // finished whole, the one it did not answer whole or not at all.
    pause.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(700));
    put(a.addr, 1000..2000);
    // Five tasks leased on the forked node by a worker that will never finish them.
    let doomed = Client::new(b.addr).post("/v2/queues/work/lease?max=5").json();
    pause.store(false, Ordering::Relaxed);
    let doomed: Vec<u64> = doomed["tasks"].as_array().unwrap().iter().map(|t| t["task"].as_u64().unwrap()).collect();
    assert_eq!(doomed.len(), 5, "{doomed:?}");
    let producers: Vec<_> = (0..2u64)
        .map(|producer| {
            let b_addr = b.addr;
            std::thread::spawn(move || {
                let (mut client, mut answered, mut first) = (Client::new(b_addr), Vec::new(), 2000 + producer * 100);
                loop {
                    let tasks: Vec<Value> = (first..first + 100).map(|n| json!({"task": n})).collect();
                    let body = json!({"tasks": tasks}).to_string();
                    match client.try_send("POST", "/v2/queues/work/tasks/batch", "application/json", &body) {
                        Ok(reply) if reply.status == 201 => answered.push(first),
                        Ok(reply) => panic!("a batch put answered {}: {}", reply.status, reply.body),
                        Err(_) => return (answered, first),
                    }
                    first += 200;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    b.kill_all();
    let killed = Instant::now();
    let batches: Vec<(Vec<u64>, u64)> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    let expected = 2000 + 100 * batches.iter().map(|(answered, _)| answered.len()).sum::<usize>();
    assert!(expected > 2000, "no batch put was answered before the kill");
    let settled = |seen: &Seen| seen.done.len() + seen.unanswered.len();
    while settled(&seen.lock().unwrap()) < expected && killed.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for worker in running {
        worker.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let settled = |n: &u64| seen.done.contains_key(n) || seen.unanswered.contains(n);
    let lost: Vec<u64> = (0..2000).filter(|n| !settled(n)).collect();
    let again = seen.leased.values().filter(|leases| leases.iter().any(|&(_, attempt)| attempt > 1)).count();
    println!(
        "after kill -9 of the forked node and its workers: {} finished, {} dones unanswered, {again} tasks leased again after their lease ran out (the 5 held on it among them), lost {}; {} batch puts answered",
        seen.done.len(),
        seen.unanswered.len(),
        lost.len(),
        (expected - 2000) / 100
    );
    assert!(lost.is_empty(), "never finished: {lost:?}");
    for (answered, unanswered) in &batches {
        for first in answered {
            let missing: Vec<u64> = (*first..first + 100).filter(|n| !settled(n)).collect();
            assert!(missing.is_empty(), "of the answered batch from {first}, never finished: {missing:?}");
        }
        let found = (*unanswered..unanswered + 100).filter(settled).count();
        assert!(found == 0 || found == 100, "the unanswered batch from {unanswered} is in part: {found} of 100");
        // This producer's later batches were never sent.
        let producer = |n: u64| (n - 2000) / 100 % 2;
        let never = seen.leased.keys().filter(|&&n| n >= unanswered + 100 && producer(n) == producer(*unanswered));
        assert_eq!(never.count(), 0, "tasks of batches never sent");
    }
    for n in &doomed {
        let leases = &seen.leased[n];
        assert!(leases.iter().any(|&(_, attempt)| attempt == 2), "task {n} came back: {leases:?}");
    }
    assert!(seen.done.values().all(|&n| n == 1), "a task finished twice");
    let stats = Client::new(a.addr).get("/v2/queues/work").json();
    assert_eq!(stats["ready"].as_u64().unwrap() + stats["leased"].as_u64().unwrap(), 0, "{stats}");
}

#[test]
fn a_database_outage_is_a_503_and_the_node_recovers_by_itself_losing_nothing() {
    let Some(store) = Store::postgres() else { return };
    let server = store.start(tqueue::Settings::default(), Tokens::new());
    let Store::Postgres(db) = &store else { unreachable!() };
    let mut c = Client::new(server.addr());
    assert_eq!(c.post_json("/v2/queues/q/tasks", &json!({"task": "before"})).status, 201);
    let ready = c.get("/readyz");
    assert_eq!((ready.status, ready.json()), (200, json!({"status": "ready", "checks": {"store": "ok"}})));

    db.halt();
    // The readiness probe reads the store: not ready while it is down.
    let not_ready = c.get("/readyz");
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    let outcome = not_ready.json()["checks"]["store"].as_str().unwrap_or_default().to_owned();
    assert!(outcome.starts_with("the store failed: PostgreSQL: "), "{}", not_ready.body);
    let reply = c.post_json("/v2/queues/q/tasks", &json!({"task": "during"}));
    assert!(reply.error(503).starts_with("the store failed: PostgreSQL: "), "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(c.post("/v2/queues/q/lease").status, 503);
    assert_eq!(c.get("/q/qsize/").status, 503);

    db.resume();
    let back = Instant::now();
    // The pool makes new connections by itself: a few requests may still find old ones.
    let reply = loop {
        let reply = c.post("/v2/queues/q/lease");
        if reply.status == 200 || back.elapsed() > Duration::from_secs(15) {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("served again {:?} after the database came back", back.elapsed());
    assert_eq!(reply.json()["tasks"][0]["task"], "before", "{}", reply.body);
    assert_eq!(c.post_json("/v2/queues/q/tasks", &json!({"task": "after"})).status, 201);
    assert_eq!(c.get("/readyz").status, 200);
}
