//! TQueue as a process of its own: long-polls measured from outside, restarts, and
//! `kill -9` under load with an audit of every task.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

#[test]
fn a_long_poll_costs_no_cpu_and_wakes_within_milliseconds_of_a_put() {
    let dir = scratch_dir();
    let server = Process::start(&dir, &[]).unwrap();
    let addr = server.addr;
    // 32 workers wait on an empty queue.
    let waiting: Vec<_> = (0..32)
        .map(|_| {
            std::thread::spawn(move || {
                let reply = Client::new(addr).post("/v2/queues/idle/lease?wait=10");
                (reply.json(), Instant::now())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = server.cpu();
    std::thread::sleep(Duration::from_secs(2));
    let spent = server.cpu() - before;
    println!("32 long-polls waiting 2 s: {spent:?} of the server's CPU");
    assert!(spent <= Duration::from_millis(30), "{spent:?}");
    // One put per waiter; each is woken by the put of its task.
    let mut c = Client::new(addr);
    let put_at = Instant::now();
    let mut put_done = Vec::new();
    for n in 0..32 {
        assert_eq!(c.post_json("/v2/queues/idle/tasks", &json!({"task": n})).status, 201);
        put_done.push(Instant::now());
    }
    let mut got: Vec<u64> = Vec::new();
    let mut worst = Duration::ZERO;
    for waiter in waiting {
        let (reply, at) = waiter.join().unwrap();
        let n = reply["tasks"][0]["task"].as_u64().unwrap();
        got.push(n);
        // Woken by the put of task n, answered at most this long after that put was.
        worst = worst.max(at.saturating_duration_since(put_done[n as usize]));
    }
    got.sort_unstable();
    assert_eq!(got, (0..32).collect::<Vec<_>>(), "each task to one waiter");
    println!("32 puts took {:?}; a waiter had its task at most {worst:?} after the put", put_at.elapsed());
    assert!(worst < Duration::from_millis(50), "{worst:?}");
}

#[test]
fn a_restart_keeps_tasks_and_leases() {
    let dir = scratch_dir();
    std::fs::write(dir.join("appserver.toml"), "[tqueue]\nlease = 1.5\nbackoff_base = 0\n").unwrap();
    let server = Process::start(&dir, &[]).unwrap();
    let mut c = Client::new(server.addr);
    for n in 0..3 {
        c.post_json("/v2/queues/q/tasks", &json!({"task": n}));
    }
    let leased = c.post("/v2/queues/q/lease").json();
    assert_eq!(leased["tasks"][0]["lease"], "1.1");
    assert_eq!(c.post("/v2/queues/q/leases/2.1/done").status, 409, "task 2 is not leased");
    let second = c.post("/v2/queues/q/lease").json();
    assert_eq!(
        c.post(&format!("/v2/queues/q/leases/{}/done", second["tasks"][0]["lease"].as_str().unwrap())).status,
        200
    );
    server.kill();

    let server = Process::start(&dir, &[]).unwrap();
    assert!(server.log().contains("the store is open dir=tqueue-data tasks=2 queues=1"), "{}", server.log());
    let mut c = Client::new(server.addr);
    let stats = c.get("/v2/queues/q").json();
    assert_eq!((stats["ready"].as_u64(), stats["leased"].as_u64()), (Some(1), Some(1)), "{stats}");
    // Task 1 is still leased: the next is task 3; after the lease, task 1 again.
    assert_eq!(c.post("/v2/queues/q/lease").json()["tasks"][0]["task"], 2);
    let again = c.post("/v2/queues/q/lease?wait=3").json();
    assert_eq!((again["tasks"][0]["task"].as_u64(), again["tasks"][0]["lease"].as_str()), (Some(0), Some("1.2")));
    // Ids are never handed out twice: they go on after the block reserved before.
    let id: u64 =
        c.post_json("/v2/queues/q/tasks", &json!({"task": 4})).json()["id"].as_str().unwrap().parse().unwrap();
    assert!(id > 3, "{id}");
    // A second server on the same store is refused (after SQLite's 5 s wait for the lock):
    // two could hand out the same task.
    let second = Process::start(&dir, &[]).map(|_| ()).unwrap_err();
    assert!(second.contains("cannot open the tqueue store in tqueue-data: database is locked"), "{second}");
}

/// What the clients of the crash test saw acknowledged.
#[derive(Default)]
struct Audit {
    /// Task id → the task's number, for every put answered 201.
    put: HashMap<u64, u64>,
    /// Task ids whose done was answered 200.
    done: HashSet<u64>,
    /// Task ids leased after their done was answered: must stay empty.
    after_done: Vec<u64>,
    /// Task numbers whose put got no answer (the server died): maybe stored, maybe not.
    unknown: HashSet<u64>,
    /// Task ids whose done got no answer (the server died): maybe done, maybe not.
    unanswered_done: HashSet<u64>,
}

#[test]
fn kill_9_at_full_speed_loses_no_acknowledged_put_and_repeats_no_acknowledged_done() {
    let dir = scratch_dir();
    // A short lease, so that tasks leased when the server dies come back soon.
    std::fs::write(dir.join("appserver.toml"), "[tqueue]\nlease = 1\nmax_attempts = 1000\n").unwrap();
    let mut current = Process::start(&dir, &[]).unwrap();
    // Where the server of the moment listens.
    let addr = Arc::new(Mutex::new(current.addr));
    let audit = Arc::new(Mutex::new(Audit::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next_number = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let client = |produce: bool| {
        let (addr, audit, stop, next_number) = (addr.clone(), audit.clone(), stop.clone(), next_number.clone());
        std::thread::spawn(move || {
            let mut client = Client::new(*addr.lock().unwrap());
            while !stop.load(Ordering::Relaxed) {
                let now = *addr.lock().unwrap();
                if client.addr() != now {
                    client = Client::new(now);
                }
                if produce {
                    let n = next_number.fetch_add(1, Ordering::Relaxed);
                    match client.try_send(
                        "POST",
                        "/v2/queues/audit/tasks",
                        "application/json",
                        &json!({"task": n}).to_string(),
                    ) {
                        Ok(reply) if reply.status == 201 => {
                            let id: u64 = reply.json()["id"].as_str().unwrap().parse().unwrap();
                            audit.lock().unwrap().put.insert(id, n);
                        }
                        _ => {
                            audit.lock().unwrap().unknown.insert(n);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                } else {
                    let Ok(reply) = client.try_send("POST", "/v2/queues/audit/lease?max=4&wait=0.2", "", "") else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let tasks = reply.json()["tasks"].as_array().cloned().unwrap_or_default();
                    for task in tasks {
                        let id: u64 = task["id"].as_str().unwrap().parse().unwrap();
                        if audit.lock().unwrap().done.contains(&id) {
                            audit.lock().unwrap().after_done.push(id);
                        }
                        let path = format!("/v2/queues/audit/leases/{}/done", task["lease"].as_str().unwrap());
                        match client.try_send("POST", &path, "", "") {
                            Ok(reply) if reply.status == 200 => drop(audit.lock().unwrap().done.insert(id)),
                            Ok(_) => {}
                            Err(_) => drop(audit.lock().unwrap().unanswered_done.insert(id)),
                        }
                    }
                }
            }
        })
    };
    let clients: Vec<_> = (0..8).map(|i| client(i % 2 == 0)).collect();
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(700));
        let (put, done) = {
            let a = audit.lock().unwrap();
            (a.put.len(), a.done.len())
        };
        println!("round {round}: {put} puts and {done} dones acknowledged; kill -9");
        current.kill();
        current = Process::start(&dir, &[]).unwrap();
        *addr.lock().unwrap() = current.addr;
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    // Drain: every acknowledged put not done yet comes out (leases of the dead servers end
    // within a second).
    let mut c = Client::new(current.addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = c.post("/v2/queues/audit/lease?max=100&wait=1.5").json();
        let tasks = reply["tasks"].as_array().cloned().unwrap_or_default();
        let mut a = audit.lock().unwrap();
        for task in &tasks {
            let id: u64 = task["id"].as_str().unwrap().parse().unwrap();
            if a.done.contains(&id) {
                a.after_done.push(id);
            }
            let path = format!("/v2/queues/audit/leases/{}/done", task["lease"].as_str().unwrap());
            assert_eq!(c.post(&path).status, 200);
            a.done.insert(id);
        }
        drop(a);
        let stats = c.get("/v2/queues/audit").json();
        let left = ["ready", "leased", "delayed"].iter().map(|k| stats[*k].as_u64().unwrap()).sum::<u64>();
        if tasks.is_empty() && left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not drained: {stats}");
    }
    let a = audit.lock().unwrap();
    // Finished for sure, or finished with the answer lost to a kill.
    let lost: Vec<&u64> = a.put.keys().filter(|id| !a.done.contains(id) && !a.unanswered_done.contains(id)).collect();
    println!(
        "{} puts and {} dones acknowledged over 4 kills; unanswered: {} puts, {} dones; lost {}, leased after done {}",
        a.put.len(),
        a.done.len(),
        a.unknown.len(),
        a.unanswered_done.len(),
        lost.len(),
        a.after_done.len()
    );
    assert!(a.put.len() > 200, "too little load: {}", a.put.len());
    assert!(lost.is_empty(), "acknowledged puts never finished: {lost:?}");
    assert!(a.after_done.is_empty(), "leased after an acknowledged done: {:?}", a.after_done);
    // Every task finished was put: acknowledged, or put just before a kill.
    let numbers: HashSet<u64> = a.put.values().copied().collect();
    assert_eq!(numbers.len(), a.put.len(), "one id per acknowledged put");
}

#[test]
fn kill_9_during_batch_puts_leaves_each_batch_whole_or_absent() {
    const SIZE: u64 = 50;
    let dir = scratch_dir();
    let server = Process::start(&dir, &[]).unwrap();
    let addr = server.addr;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4u64)
        .map(|client| {
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                for n in 0.. {
                    let batch = client * 1_000_000 + n;
                    let tasks: Vec<Value> = (0..SIZE).map(|i| json!({"task": {"batch": batch, "i": i}})).collect();
                    let body = json!({"tasks": tasks}).to_string();
                    match c.try_send("POST", "/v2/queues/q/tasks/batch", "application/json", &body) {
                        Ok(reply) if reply.status == 201 => acknowledged.lock().unwrap().push(batch),
                        Ok(reply) => panic!("{}: {}", reply.status, reply.body),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(600));
    server.kill();
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 10, "only {} batches before the kill", acknowledged.len());

    let server = Process::start(&dir, &[]).unwrap();
    let mut c = Client::new(server.addr);
    let mut found: HashMap<u64, u64> = HashMap::new();
    loop {
        let leased = c.post("/v2/queues/q/lease?max=100").json();
        let tasks = leased["tasks"].as_array().unwrap();
        if tasks.is_empty() {
            break;
        }
        for task in tasks {
            *found.entry(task["task"]["batch"].as_u64().unwrap()).or_default() += 1;
        }
    }
    // Each batch is there whole or not at all; every acknowledged one is there.
    assert!(found.values().all(|&count| count == SIZE), "a batch stored in part: {found:?}");
    for batch in &acknowledged {
        assert_eq!(found.get(batch), Some(&SIZE), "acknowledged batch {batch} lost");
    }
    println!("{} batches of {SIZE} acknowledged before kill -9; {} stored", acknowledged.len(), found.len());
}
