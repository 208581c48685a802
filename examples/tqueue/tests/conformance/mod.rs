//! The conformance suite: what every store must do, over real sockets. `suite!` makes a
//! `#[test]` of each function for one store.

use crate::support::{Client, RunningServer, Store, Tokens, Value, json};
use std::time::{Duration, Instant};
use tqueue::Settings;

/// A `#[test]` per conformance test, each on the store `$store` makes (or skipped when it
/// gives `None`, saying why).
macro_rules! suite {
    ($store:expr) => {
        conformance::suite!(@tests $store;
            v1_speaks_the_original_protocol_byte_for_byte,
            v1_get_and_done_answer_the_ids_put_answered,
            v1_refuses_a_put_past_the_bound_with_an_empty_task_id,
            v2_batches_put_all_or_none_and_finish_each_lease,
            concurrent_requests_each_get_their_own_answer,
            priorities_hand_out_higher_first_and_in_order_within_one,
            a_put_with_an_idempotency_key_is_made_once,
            a_paused_queue_takes_puts_and_leases_nothing_until_resumed,
            metrics_count_each_queues_tasks_by_state_and_what_happened,
            a_task_whose_lease_ended_backs_off_doubling_up_to_the_most,
            a_backup_copies_the_embedded_store_while_it_serves,
            leases_run_out_come_back_with_their_attempt_and_end_dead,
            a_dead_task_is_listed_with_its_last_error,
            release_delays_and_order_is_first_in_first_out,
            bad_requests_get_clear_errors,
            tokens_and_roles_guard_every_route,
            reads_make_no_queue_and_empty_queues_do_not_count,
        );
    };
    (@tests $store:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                let Some(store) = $store else { return };
                conformance::$name(&store);
            }
        )*
    };
}
pub(crate) use suite;

fn open(store: &Store) -> RunningServer {
    store.start(Settings::default(), Tokens::new())
}

/// The status line and head of a HEAD request on a new connection.
fn head(server: &RunningServer, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "HEAD {path} HTTP/1.1\r\nHost: tqueue\r\nConnection: close\r\n\r\n").unwrap();
    let mut head = String::new();
    let _ = stream.read_to_string(&mut head);
    head
}

pub(crate) fn v1_speaks_the_original_protocol_byte_for_byte(store: &Store) {
    let server = open(store);
    let mut c = Client::new(server.addr());
    let reply = c.post_form("/printer/put/", "worker=printer&document=report.pdf&copies=2");
    assert_eq!((reply.status, reply.body.as_str()), (200, r#"{"worker":"printer","task_id":"1"}"#));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(c.get("/printer/qsize/").body, r#"{"worker":"printer","qsize":1}"#);
    // GET or POST, as in the original.
    // get and done answer the id put answered.
    let reply = c.post("/printer/get/");
    assert_eq!(reply.body, r#"{"worker":"printer","task_id":"1","task":{"document":"report.pdf","copies":"2"}}"#);
    assert_eq!(c.get("/printer/qsize/").body, r#"{"worker":"printer","qsize":0}"#);
    // Nothing to get, nothing to finish: an empty task_id.
    assert_eq!(c.get("/printer/get/").body, r#"{"worker":"printer","task_id":"","task":{}}"#);
    let reply = c.get("/printer/done/1");
    assert_eq!(reply.body, r#"{"worker":"printer","task_id":"1","task":{"document":"report.pdf","copies":"2"}}"#);
    assert_eq!(c.get("/printer/done/1").body, r#"{"worker":"printer","task_id":"","task":{}}"#);
    assert_eq!(c.get("/printer/done/nonsense").body, r#"{"worker":"printer","task_id":"","task":{}}"#);
    // With the trailing slash the original's clients send.
    c.post_form("/printer/put/", "n=1");
    c.get("/printer/get/");
    assert_eq!(c.get("/printer/done/2/").body, r#"{"worker":"printer","task_id":"2","task":{"n":"1"}}"#);
    // Queue names are checked by the route: anything else is a 404.
    assert_eq!(c.get("/bad%20name/qsize/").status, 404);
    assert_eq!(c.get(&format!("/{}/qsize/", "q".repeat(65))).status, 404);
}

pub(crate) fn v1_get_and_done_answer_the_ids_put_answered(store: &Store) {
    let server = open(store);
    let mut c = Client::new(server.addr());
    let put: Vec<String> = (0..3)
        .map(|n| c.post_form("/jobs/put/", &format!("n={n}")).json()["task_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(put, ["1", "2", "3"]);
    // A task put but not handed out cannot be finished.
    assert_eq!(c.get("/jobs/done/3").body, r#"{"worker":"jobs","task_id":"","task":{}}"#);
    for (n, id) in put.iter().enumerate() {
        let got = c.get("/jobs/get/").json();
        assert_eq!((got["task_id"].as_str(), &got["task"]), (Some(id.as_str()), &json!({"n": n.to_string()})));
        let done = c.get(&format!("/jobs/done/{id}")).json();
        assert_eq!(done["task_id"], id.as_str(), "done answers the same id");
        // Finished: no longer leased.
        assert_eq!(c.get(&format!("/jobs/done/{id}")).json()["task_id"], "");
    }
    assert_eq!(c.get("/jobs/qsize/").json()["qsize"], 0);
}

pub(crate) fn v2_batches_put_all_or_none_and_finish_each_lease(store: &Store) {
    let server = store.start(Settings { max_tasks: 5, ..Settings::default() }, Tokens::new());
    let mut c = Client::new(server.addr());
    let batch = json!({"tasks": [{"task": "a"}, {"task": {"b": 2}}, {"task": 3, "delay": 30}]});
    let reply = c.post_json("/v2/queues/b/tasks/batch", &batch);
    assert_eq!((reply.status, reply.json()), (201, json!({"queue": "b", "ids": ["1", "2", "3"]})), "{}", reply.body);
    let stats = c.get("/v2/queues/b").json();
    assert_eq!(
        (stats["ready"].as_u64(), stats["delayed"].as_u64(), stats["put"].as_u64()),
        (Some(2), Some(1), Some(3))
    );
    // Past the bound (3 + 3 > 5): none of them is put.
    let reply = c.post_json("/v2/queues/b/tasks/batch", &json!({"tasks": [{"task": 4}, {"task": 5}, {"task": 6}]}));
    assert_eq!(reply.status, 429, "{}", reply.body);
    // One task too large: none is put.
    let large = "x".repeat(70_000);
    let reply = c.post_json("/v2/queues/b/tasks/batch", &json!({"tasks": [{"task": 4}, {"task": large}]}));
    assert_eq!(reply.status, 422, "{}", reply.body);
    // A bad delay, an empty batch, one past 1000: refused whole.
    let reply = c.post_json("/v2/queues/b/tasks/batch", &json!({"tasks": [{"task": 4}, {"task": 5, "delay": -1}]}));
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(c.post_json("/v2/queues/b/tasks/batch", &json!({"tasks": []})).status, 422);
    let many: Vec<Value> = (0..1001).map(|n| json!({"task": n})).collect();
    assert_eq!(c.post_json("/v2/queues/b/tasks/batch", &json!({"tasks": many})).status, 422);
    assert_eq!(c.get("/v2/queues/b").json()["put"], 3, "nothing more was put");

    // Finish many leases at once: each reported done or stale.
    let leased = c.post("/v2/queues/b/lease?max=2").json();
    let leases: Vec<String> =
        leased["tasks"].as_array().unwrap().iter().map(|t| t["lease"].as_str().unwrap().to_owned()).collect();
    assert_eq!(leases, ["1.1", "2.1"]);
    let reply = c.post_json("/v2/queues/b/leases/done", &json!({"leases": ["1.1", "3.1", "2.1", "1.1", "99.1"]}));
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"queue": "b", "done": ["1.1", "2.1"], "stale": ["3.1", "1.1", "99.1"]})),
        "{}",
        reply.body
    );
    let stats = c.get("/v2/queues/b").json();
    assert_eq!(
        (stats["leased"].as_u64(), stats["delayed"].as_u64(), stats["done"].as_u64()),
        (Some(0), Some(1), Some(2))
    );
    assert_eq!(c.post_json("/v2/queues/b/leases/done", &json!({"leases": ["1.1"]})).json()["stale"], json!(["1.1"]));
    assert_eq!(
        c.post_json("/v2/queues/nowhere/leases/done", &json!({"leases": ["1.1"]})).json()["stale"],
        json!(["1.1"])
    );
    assert_eq!(c.post_json("/v2/queues/b/leases/done", &json!({"leases": ["x"]})).status, 404);
    assert_eq!(c.post_json("/v2/queues/b/leases/done", &json!({"leases": []})).status, 422);
}

/// 16 clients at once (a store may gather their requests into one statement): each put
/// answers the ids of its own tasks, the bound holds, and two dones of one lease, one of
/// them in a batch, finish it once.
pub(crate) fn concurrent_requests_each_get_their_own_answer(store: &Store) {
    let server = store.start(Settings { max_tasks: 100, ..Settings::default() }, Tokens::new());
    let addr = server.addr();
    let putters: Vec<_> = (0..16)
        .map(|client| {
            std::thread::spawn(move || {
                let (mut c, mut put, mut refused) = (Client::new(addr), Vec::new(), 0);
                for round in 0..4 {
                    let tasks: Vec<String> = (0..=round % 2).map(|k| format!("{client}-{round}-{k}")).collect();
                    let reply = match tasks.len() {
                        1 => c.post_json("/v2/queues/c/tasks", &json!({"task": tasks[0]})),
                        _ => c.post_json(
                            "/v2/queues/c/tasks/batch",
                            &json!({"tasks": tasks.iter().map(|t| json!({"task": t})).collect::<Vec<_>>()}),
                        ),
                    };
                    match reply.status {
                        201 if tasks.len() == 1 => {
                            put.push((reply.json()["id"].as_str().unwrap().to_owned(), tasks[0].clone()))
                        }
                        201 => {
                            let ids = reply.json()["ids"].as_array().unwrap().clone();
                            assert_eq!(ids.len(), tasks.len(), "{}", reply.body);
                            put.extend(ids.iter().map(|id| id.as_str().unwrap().to_owned()).zip(tasks));
                        }
                        429 => refused += tasks.len(),
                        status => panic!("a put answered {status}: {}", reply.body),
                    }
                }
                (put, refused)
            })
        })
        .collect();
    let mut put = std::collections::HashMap::new();
    let mut refused = 0;
    for putter in putters {
        let (ids, was_refused) = putter.join().unwrap();
        refused += was_refused;
        for (id, task) in ids {
            assert!(put.insert(id.clone(), task).is_none(), "id {id} answered twice");
        }
    }
    // 96 tasks asked for, 100 allowed: none refused.
    assert_eq!((put.len(), refused), (96, 0));
    let mut c = Client::new(addr);
    let leased = c.post("/v2/queues/c/lease?max=100").json();
    let leased = leased["tasks"].as_array().unwrap();
    assert_eq!(leased.len(), 96);
    for task in leased {
        let id = task["id"].as_str().unwrap();
        assert_eq!(put.get(id).map(String::as_str), task["task"].as_str(), "the task under id {id}");
    }
    // Past the bound: of 16 more at once, exactly 4 are put.
    let more: Vec<_> = (0..16)
        .map(|n| {
            std::thread::spawn(move || Client::new(addr).post_json("/v2/queues/c/tasks", &json!({"task": n})).status)
        })
        .collect();
    let statuses: Vec<u16> = more.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 12, "{statuses:?}");

    // Each lease finished by two clients at once: one single done, one in a batch.
    let dones: Vec<_> = leased
        .iter()
        .map(|task| {
            let lease = task["lease"].as_str().unwrap().to_owned();
            std::thread::spawn(move || {
                let single = std::thread::spawn({
                    let lease = lease.clone();
                    move || Client::new(addr).post(&format!("/v2/queues/c/leases/{lease}/done")).status
                });
                let batch = Client::new(addr).post_json("/v2/queues/c/leases/done", &json!({"leases": [lease]})).json();
                let single = single.join().unwrap();
                (single, batch["done"].as_array().unwrap().len())
            })
        })
        .collect();
    for done in dones {
        let (single, batch) = done.join().unwrap();
        // The one that comes second finds the task gone (404), or not yet gone but done (409).
        assert!(matches!((single, batch), (200, 0) | (404 | 409, 1)), "single done {single}, batch done {batch}");
    }
    let stats = c.get("/v2/queues/c").json();
    assert_eq!((stats["leased"].as_u64(), stats["done"].as_u64()), (Some(0), Some(96)), "{stats}");
}

pub(crate) fn priorities_hand_out_higher_first_and_in_order_within_one(store: &Store) {
    let server = open(store);
    let mut c = Client::new(server.addr());
    for (task, priority) in [("a", None), ("b", Some(5)), ("c", Some(-1))] {
        let body = match priority {
            Some(priority) => json!({"task": task, "priority": priority}),
            None => json!({"task": task}),
        };
        assert_eq!(c.post_json("/v2/queues/p/tasks", &body).status, 201);
    }
    let batch = json!({"tasks": [{"task": "d", "priority": 5}, {"task": "e", "priority": 0}, {"task": "f", "priority": 2147483647}]});
    assert_eq!(c.post_json("/v2/queues/p/tasks/batch", &batch).status, 201);
    // The original protocol's put is priority 0.
    assert_eq!(c.post_form("/p/put/", "n=g").status, 200);
    let order = |c: &mut Client, max: usize| -> Vec<Value> {
        let leased = c.post(&format!("/v2/queues/p/lease?max={max}")).json();
        leased["tasks"].as_array().unwrap().iter().map(|t| t["task"].clone()).collect()
    };
    assert_eq!(order(&mut c, 3), [json!("f"), json!("b"), json!("d")]);
    // A task released (with no wait) goes back in its place: priority 0, by its id.
    let first = c.post("/v2/queues/p/lease").json();
    assert_eq!(first["tasks"][0]["task"], "a");
    let lease = first["tasks"][0]["lease"].as_str().unwrap().to_owned();
    assert_eq!(c.post(&format!("/v2/queues/p/leases/{lease}/release?delay=0")).status, 200);
    assert_eq!(order(&mut c, 10), [json!("a"), json!("e"), json!({"n": "g"}), json!("c")]);
    // Not an integer of 32 bits: refused, nothing put.
    for bad in [json!("high"), json!(2147483648i64), json!(1.5)] {
        let reply = c.post_json("/v2/queues/p/tasks", &json!({"task": "x", "priority": bad}));
        assert_eq!(reply.status, 422, "{bad}: {}", reply.body);
    }
    assert_eq!(c.get("/v2/queues/p").json()["ready"], 0);
}

pub(crate) fn a_put_with_an_idempotency_key_is_made_once(store: &Store) {
    let server = store.start(Settings { idempotency_window: 1.0, ..Settings::default() }, Tokens::new());
    let addr = server.addr();
    let mut c = Client::new(addr);
    let put = |c: &mut Client, queue: &str, key: &str, task: Value| {
        c.post_json_with(&format!("/v2/queues/{queue}/tasks"), &[("Idempotency-Key", key)], &json!({"task": task}))
    };
    let first = put(&mut c, "i", "order-1", json!("a"));
    assert_eq!(first.status, 201, "{}", first.body);
    // Again, and as the draft's quoted string: the first put's answer, nothing put.
    for key in ["order-1", "\"order-1\""] {
        let again = put(&mut c, "i", key, json!("a"));
        assert_eq!((again.status, again.json()), (201, first.json()), "{key}");
    }
    assert_eq!(c.get("/v2/queues/i").json()["ready"], 1);
    // The same key for another task: refused, nothing put.
    let other = put(&mut c, "i", "order-1", json!("b"));
    assert_eq!(other.status, 409, "{}", other.body);
    assert!(other.error(409).contains("Idempotency-Key"), "{}", other.body);
    // A key is the queue's own.
    let elsewhere = put(&mut c, "j", "order-1", json!("a"));
    assert_eq!(elsewhere.status, 201);
    assert_ne!(elsewhere.json()["id"], first.json()["id"]);
    // A batch put: the same ids again.
    let batch = json!({"tasks": [{"task": 1}, {"task": 2, "priority": 3}]});
    let ids = c.post_json_with("/v2/queues/i/tasks/batch", &[("Idempotency-Key", "batch 7")], &batch);
    assert_eq!(ids.status, 201);
    let again = c.post_json_with("/v2/queues/i/tasks/batch", &[("Idempotency-Key", "batch 7")], &batch);
    assert_eq!((again.status, again.json()), (201, ids.json()));
    assert_eq!(c.get("/v2/queues/i").json()["ready"], 3);
    // Keys that are not 1 to 255 visible characters: 400.
    let long = "k".repeat(256);
    for bad in [" ", long.as_str(), "caf\u{e9}"] {
        let reply = put(&mut c, "i", bad, json!("c"));
        assert_eq!(reply.status, 400, "{bad:?}: {}", reply.body);
    }
    // Eight producers retrying one put at once: one task.
    let answers: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                c.post_json_with("/v2/queues/k/tasks", &[("Idempotency-Key", "retry")], &json!({"task": "once"})).json()
            })
        })
        .collect();
    let answers: Vec<Value> = answers.into_iter().map(|a| a.join().unwrap()).collect();
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(c.get("/v2/queues/k").json()["ready"], 1);
    // After the window (1 s here), the key is free again.
    std::thread::sleep(Duration::from_millis(1100));
    let later = put(&mut c, "i", "order-1", json!("b"));
    assert_eq!(later.status, 201, "{}", later.body);
    assert_ne!(later.json()["id"], first.json()["id"]);
}

pub(crate) fn a_paused_queue_takes_puts_and_leases_nothing_until_resumed(store: &Store) {
    let server = open(store);
    let addr = server.addr();
    let mut c = Client::new(addr);
    assert_eq!(c.post("/v2/queues/z/pause").json(), json!({"queue": "z", "paused": true}));
    // Paused before it had a task: listed, and said so.
    assert_eq!(c.get("/v2/queues").json()["queues"][0]["paused"], true);
    assert_eq!(c.post_json("/v2/queues/z/tasks", &json!({"task": "kept"})).status, 201);
    assert_eq!(c.post_form("/z/put/", "n=2").json()["task_id"], "2");
    assert_eq!(c.post("/v2/queues/z/lease?max=10").json()["tasks"], json!([]));
    assert_eq!(c.get("/z/get/").json()["task_id"], "", "v1 gets nothing either");
    let stats = c.get("/v2/queues/z").json();
    assert_eq!((stats["paused"].as_bool(), stats["ready"].as_u64()), (Some(true), Some(2)), "{stats}");
    // A long-poll waits through the pause, and wakes when the queue resumes.
    let waiter = std::thread::spawn(move || {
        let reply = Client::new(addr).post("/v2/queues/z/lease?wait=5");
        (reply.json(), Instant::now())
    });
    std::thread::sleep(Duration::from_millis(400));
    assert!(!waiter.is_finished(), "a long-poll on a paused queue answered");
    assert_eq!(c.post("/v2/queues/z/resume").json(), json!({"queue": "z", "paused": false}));
    let resumed = Instant::now();
    let (reply, woke) = waiter.join().unwrap();
    assert_eq!(reply["tasks"][0]["task"], "kept");
    assert!(woke.duration_since(resumed) < Duration::from_millis(1500), "{:?}", woke.duration_since(resumed));
    assert_eq!(c.get("/v2/queues/z").json()["paused"], false);
    // Resuming a queue that is not paused, or pausing twice: no harm.
    assert_eq!(c.post("/v2/queues/z/resume").status, 200);
    assert_eq!(c.post("/v2/queues/z/pause").status, 200);
    assert_eq!(c.post("/v2/queues/z/pause").status, 200);
    assert_eq!(c.post("/v2/queues/z/lease").json()["tasks"], json!([]));
}

/// The value of the series `series` (name and labels, as written) on the metrics page.
fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The tqueue binary on `store` (the embedded one in `dir`), with `env`: a process of its
/// own (the metrics are the process's).
fn process(dir: &std::path::Path, store: &Store, env: &[(&str, &str)]) -> crate::support::Process {
    let mut all = env.to_vec();
    if let Store::Postgres(db) = store {
        all.extend([("TQUEUE_STORE", "postgres"), ("TQUEUE_DATABASE_URL", db.url.as_str())]);
    }
    crate::support::Process::start(dir, &all).unwrap_or_else(|log| panic!("{log}"))
}

pub(crate) fn metrics_count_each_queues_tasks_by_state_and_what_happened(store: &Store) {
    let env = [("APPSERVER_METRICS_PATH", "/metrics"), ("TQUEUE_MAX_ATTEMPTS", "1"), ("TQUEUE_MAX_QUEUES", "2")];
    let dir = crate::support::scratch_dir();
    let server = process(&dir, store, &env);
    let mut c = Client::new(server.addr);
    let queue = "metered";
    for n in 0..4 {
        assert_eq!(c.post_json(&format!("/v2/queues/{queue}/tasks"), &json!({"task": n})).status, 201);
    }
    let delayed = json!({"task": "later", "delay": 60});
    assert_eq!(c.post_json(&format!("/v2/queues/{queue}/tasks"), &delayed).status, 201);
    let leased = c.post(&format!("/v2/queues/{queue}/lease?max=3&lease=0.2")).json();
    let leases: Vec<&str> = leased["tasks"].as_array().unwrap().iter().map(|t| t["lease"].as_str().unwrap()).collect();
    assert_eq!(c.post(&format!("/v2/queues/{queue}/leases/{}/done", leases[0])).status, 200);
    // The second lease is released on its last attempt (dead); the third runs out (dead).
    assert_eq!(c.post(&format!("/v2/queues/{queue}/leases/{}/release", leases[1])).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.get(&format!("/v2/queues/{queue}")).json()["dead"], 2);
    // Read-only requests on other names record nothing, nor do puts past `max_queues`.
    assert_eq!(c.get("/v2/queues/never-used").status, 200);
    assert_eq!(c.post_json("/v2/queues/second/tasks", &json!({"task": 1})).status, 201);
    assert_eq!(c.post_json("/v2/queues/third/tasks", &json!({"task": 1})).status, 507);
    // The gauges are refreshed every second.
    std::thread::sleep(Duration::from_millis(1300));
    let page = c.get("/metrics").body;
    let series = |name: &str, labels: &str| metric(&page, &format!("{name}{{queue=\"metered\"{labels}}}"));
    assert_eq!(series("tqueue_tasks", ",state=\"ready\""), Some(1.0), "{page}");
    assert_eq!(series("tqueue_tasks", ",state=\"delayed\""), Some(1.0));
    assert_eq!(series("tqueue_tasks", ",state=\"leased\""), Some(0.0));
    assert_eq!(series("tqueue_tasks", ",state=\"dead\""), Some(2.0));
    assert!(series("tqueue_oldest_ready_age_seconds", "").is_some_and(|age| age >= 0.5), "{page}");
    assert_eq!(series("tqueue_puts_total", ""), Some(5.0));
    assert_eq!(series("tqueue_leases_total", ""), Some(3.0));
    assert_eq!(series("tqueue_dones_total", ""), Some(1.0));
    assert_eq!(series("tqueue_releases_total", ""), Some(1.0));
    assert_eq!(series("tqueue_expired_total", ""), Some(1.0));
    assert_eq!(series("tqueue_dead_total", ""), Some(2.0));
    assert!(page.contains("# HELP tqueue_tasks "), "{page}");
    assert!(!page.contains("never-used"), "a read made a series");
    assert_eq!(metric(&page, "tqueue_tasks{queue=\"second\",state=\"ready\"}"), Some(1.0), "{page}");
    assert!(!page.contains("third"), "a refused put made a series");

    // A new process on the same store publishes the gauges before any request.
    server.kill();
    let server = process(&dir, store, &env);
    let mut c = Client::new(server.addr);
    let ready = |page: &str, queue: &str| metric(page, &format!("tqueue_tasks{{queue=\"{queue}\",state=\"ready\"}}"));
    let mut page = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while ready(&page, "second").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        page = c.get("/metrics").body;
    }
    assert_eq!(ready(&page, "second"), Some(1.0), "{page}");
    assert_eq!(ready(&page, queue), Some(1.0), "{page}");
    assert_eq!(metric(&page, "tqueue_tasks{queue=\"metered\",state=\"dead\"}"), Some(2.0), "{page}");
}

pub(crate) fn a_task_whose_lease_ended_backs_off_doubling_up_to_the_most(store: &Store) {
    let mut settings = Settings::default();
    let own = tqueue::QueueSettings { backoff_base: Some(0.4), backoff_max: Some(0.6), ..Default::default() };
    settings.queues.insert("b".into(), own);
    let server = store.start(settings, Tokens::new());
    let mut c = Client::new(server.addr());
    assert_eq!(c.post_json("/v2/queues/b/tasks", &json!({"task": "flaky"})).status, 201);
    // Attempt 1's lease (0.2 s) runs out: the task waits 0.2 to 0.4 s (0.4 s with jitter).
    assert_eq!(c.post("/v2/queues/b/lease?lease=0.2").json()["tasks"][0]["attempt"], 1);
    std::thread::sleep(Duration::from_millis(250));
    let stats = c.get("/v2/queues/b").json();
    assert_eq!((stats["ready"].as_u64(), stats["delayed"].as_u64()), (Some(0), Some(1)), "{stats}");
    let started = Instant::now();
    let second = c.post("/v2/queues/b/lease?wait=3").json();
    let waited = started.elapsed();
    assert_eq!(second["tasks"][0]["attempt"], 2);
    assert!(waited < Duration::from_millis(450), "backed off for {waited:?} after the expiry was seen");
    // Released without a delay on attempt 2: 0.8 s doubled, at most 0.6 s: 0.3 to 0.6 s.
    let lease = second["tasks"][0]["lease"].as_str().unwrap().to_owned();
    let released = Instant::now();
    assert_eq!(c.post(&format!("/v2/queues/b/leases/{lease}/release")).status, 200);
    assert_eq!(c.get("/v2/queues/b").json()["delayed"], 1);
    let third = c.post("/v2/queues/b/lease?wait=3").json();
    let waited = released.elapsed();
    assert_eq!(third["tasks"][0]["attempt"], 3);
    assert!((Duration::from_millis(280)..Duration::from_millis(900)).contains(&waited), "{waited:?}");
    // An explicit delay wins: 0 is ready at once.
    let lease = third["tasks"][0]["lease"].as_str().unwrap().to_owned();
    assert_eq!(c.post(&format!("/v2/queues/b/leases/{lease}/release?delay=0")).status, 200);
    assert_eq!(c.post("/v2/queues/b/lease").json()["tasks"][0]["attempt"], 4);
}

pub(crate) fn a_backup_copies_the_embedded_store_while_it_serves(store: &Store) {
    let server = open(store);
    let mut c = Client::new(server.addr());
    for n in 0..3 {
        assert_eq!(c.post_json("/v2/queues/kept/tasks", &json!({"task": n, "priority": n})).status, 201);
    }
    let reply = c.post("/v2/backup");
    if let Store::Postgres(_) = store {
        assert!(reply.error(501).contains("pg_dump"), "{}", reply.body);
        return;
    }
    assert_eq!(reply.status, 200, "{}", reply.body);
    let path = reply.json()["path"].as_str().unwrap().to_owned();
    assert!(reply.json()["bytes"].as_u64().unwrap() > 0);
    // A database of its own, whole: the three tasks, with their priorities.
    let copy = rusqlite::Connection::open(&path).unwrap();
    let priorities: Vec<i64> = copy
        .prepare("SELECT priority FROM tasks ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(priorities, [0, 1, 2]);
    // The server goes on; a second backup is another file.
    assert_eq!(c.post_json("/v2/queues/kept/tasks", &json!({"task": 3})).status, 201);
    let again = c.post("/v2/backup").json()["path"].as_str().unwrap().to_owned();
    assert_ne!(again, path);
}

pub(crate) fn v1_refuses_a_put_past_the_bound_with_an_empty_task_id(store: &Store) {
    let server = store.start(Settings { max_tasks: 2, ..Settings::default() }, Tokens::new());
    let mut c = Client::new(server.addr());
    assert_eq!(c.post_form("/q/put/", "a=1").body, r#"{"worker":"q","task_id":"1"}"#);
    assert_eq!(c.post_form("/q/put/", "a=2").body, r#"{"worker":"q","task_id":"2"}"#);
    assert_eq!(c.post_form("/q/put/", "a=3").body, r#"{"worker":"q","task_id":""}"#);
    // v2 says why, and when to try again.
    let reply = c.post_json("/v2/queues/q/tasks", &json!({"task": 3}));
    assert_eq!(reply.error(429), "the queue is full (2 tasks); try again later");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(c.get("/v2/queues/q").json()["ready"], 2, "nothing was dropped");
}

pub(crate) fn leases_run_out_come_back_with_their_attempt_and_end_dead(store: &Store) {
    let mut settings = Settings { max_attempts: 2, ..Settings::default() };
    settings.queues.insert("short".into(), tqueue::QueueSettings { lease: Some(0.3), ..Default::default() });
    let server = store.start(settings, Tokens::new());
    let mut c = Client::new(server.addr());
    let reply = c.post_json("/v2/queues/short/tasks", &json!({"task": {"job": "resize", "size": [640, 480]}}));
    assert_eq!((reply.status, reply.json()), (201, json!({"queue": "short", "id": "1"})));

    let first = c.post("/v2/queues/short/lease").json();
    let task = &first["tasks"][0];
    assert_eq!((task["lease"].as_str(), task["attempt"].as_u64()), (Some("1.1"), Some(1)));
    assert_eq!(task["task"], json!({"job": "resize", "size": [640, 480]}));
    assert_eq!(c.post("/v2/queues/short/lease").json()["tasks"], json!([]), "leased: not handed out twice");
    let stats = c.get("/v2/queues/short").json();
    assert_eq!((stats["ready"].as_u64(), stats["leased"].as_u64()), (Some(0), Some(1)));

    // The lease (0.3 s, the queue's own) runs out: the task comes back with attempt 2.
    std::thread::sleep(Duration::from_millis(400));
    let second = c.post("/v2/queues/short/lease?wait=2").json();
    assert_eq!(second["tasks"][0]["lease"], "1.2");
    // The first lease can no longer finish it.
    let reply = c.post("/v2/queues/short/leases/1.1/done");
    assert_eq!(reply.error(409), "this lease is over: the task was leased again, released or done");
    assert_eq!(c.get("/short/done/1.1").body, r#"{"worker":"short","task_id":"","task":{}}"#);
    // A heartbeat keeps it.
    let reply = c.post("/v2/queues/short/leases/1.2/extend?lease=0.6");
    assert_eq!(reply.status, 200, "{}", reply.body);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(c.get("/v2/queues/short").json()["leased"], 1);
    // max_attempts = 2: when the second lease runs out, the task is dead.
    std::thread::sleep(Duration::from_millis(300));
    let stats = c.get("/v2/queues/short").json();
    assert_eq!(
        (stats["ready"].as_u64(), stats["dead"].as_u64(), stats["expired"].as_u64()),
        (Some(0), Some(1), Some(2))
    );
    assert_eq!(c.post("/v2/queues/short/lease").json()["tasks"], json!([]));
    let dead = c.get("/v2/queues/short/dead").json();
    let lost =
        json!({"id": 1, "attempts": 2, "data": {"job": "resize", "size": [640, 480]}, "error": "the lease ran out"});
    assert_eq!(dead["tasks"], json!([lost]));
    // Requeued: ready again, attempts from 0.
    assert_eq!(c.post("/v2/queues/short/dead/1/requeue").json()["requeued"], 1);
    let again = c.post("/v2/queues/short/lease").json();
    assert_eq!(again["tasks"][0]["lease"], "1.1");
    let reply = c.post("/v2/queues/short/leases/1.1/done");
    assert_eq!(reply.json(), json!({"queue": "short", "id": "1", "done": true}));
    assert_eq!(c.post("/v2/queues/short/leases/1.1/done").error(404), "no such task in this queue");
}

pub(crate) fn a_dead_task_is_listed_with_its_last_error(store: &Store) {
    let server = store.start(Settings { max_attempts: 2, ..Settings::default() }, Tokens::new());
    let mut c = Client::new(server.addr());
    let lease = |c: &mut Client| c.post("/v2/queues/e/lease").json()["tasks"][0]["lease"].as_str().unwrap().to_owned();
    for task in ["a", "b"] {
        assert_eq!(c.post_json("/v2/queues/e/tasks", &json!({"task": task})).status, 201);
    }
    // Task 1: released with an error, then with another on its last attempt: dead, with
    // the last one (URL-encoded in the query).
    let first = lease(&mut c);
    let reply = c.post(&format!("/v2/queues/e/leases/{first}/release?delay=0&error=disk%20full"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let first = lease(&mut c);
    assert_eq!(first, "1.2");
    let reply = c.post(&format!("/v2/queues/e/leases/{first}/release?error=KeyError%3A%20%27size%27%0Aline%202"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Task 2: released with an error, then without one: dead, with no error.
    let second = lease(&mut c);
    assert_eq!(c.post(&format!("/v2/queues/e/leases/{second}/release?delay=0&error=timeout")).status, 200);
    let second = lease(&mut c);
    assert_eq!(c.post(&format!("/v2/queues/e/leases/{second}/release")).status, 200);
    let dead = c.get("/v2/queues/e/dead").json();
    assert_eq!(
        dead["tasks"],
        json!([
            {"id": 1, "attempts": 2, "data": "a", "error": "KeyError: 'size'\nline 2"},
            {"id": 2, "attempts": 2, "data": "b", "error": null},
        ])
    );
    // An error of more than 1000 characters is refused, and the lease stays.
    assert_eq!(c.post("/v2/queues/e/dead/requeue").json()["requeued"], 2);
    let lease = lease(&mut c);
    let long = "x".repeat(1001);
    let reply = c.post(&format!("/v2/queues/e/leases/{lease}/release?error={long}"));
    assert_eq!(reply.error(422), "`error` must be at most 1000 characters");
    assert_eq!(c.get("/v2/queues/e").json()["leased"], 1);
}

pub(crate) fn release_delays_and_order_is_first_in_first_out(store: &Store) {
    let server = open(store);
    let mut c = Client::new(server.addr());
    for n in 1..=3 {
        assert_eq!(c.post_json("/v2/queues/fifo/tasks", &json!({"task": n})).status, 201);
    }
    let delayed = c.post_json("/v2/queues/fifo/tasks", &json!({"task": "later", "delay": 0.3}));
    assert_eq!(delayed.status, 201);
    let leased = c.post("/v2/queues/fifo/lease?max=10").json();
    let tasks: Vec<&Value> = leased["tasks"].as_array().unwrap().iter().map(|t| &t["task"]).collect();
    assert_eq!(tasks, [&json!(1), &json!(2), &json!(3)], "the delayed task is not ready yet");
    assert_eq!(c.get("/v2/queues/fifo").json()["delayed"], 1);
    // Task 1 released with no wait: ready again, before the others put later.
    assert_eq!(c.post("/v2/queues/fifo/leases/1.1/release?delay=0").status, 200);
    c.post_json("/v2/queues/fifo/tasks", &json!({"task": 5}));
    assert_eq!(c.post("/v2/queues/fifo/lease").json()["tasks"][0]["task"], 1);
    assert_eq!(c.post("/v2/queues/fifo/lease").json()["tasks"][0]["task"], 5);
    // The delayed one: a long-poll gets it when it is due.
    let started = Instant::now();
    let reply = c.post("/v2/queues/fifo/lease?wait=3").json();
    assert_eq!(reply["tasks"][0]["task"], "later");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    let all = c.get("/v2/queues").json();
    assert_eq!(all["queues"][0]["queue"], "fifo");
    assert_eq!(all["queues"][0]["leased"], 5);
}

pub(crate) fn bad_requests_get_clear_errors(store: &Store) {
    let server = store.start(Settings { max_task_bytes: 100, max_queues: 2, ..Settings::default() }, Tokens::new());
    let mut c = Client::new(server.addr());
    // Two queues, the most there may be: a third is refused.
    assert_eq!(c.post_json("/v2/queues/q/tasks", &json!({"task": 1})).status, 201);
    assert_eq!(c.post_json("/v2/queues/r/tasks", &json!({"task": 1})).status, 201);
    assert_eq!(c.post_json("/v2/queues/s/tasks", &json!({"task": 1})).error(507), "there are 2 queues already");
    let big = json!({"task": "x".repeat(200)});
    assert_eq!(c.post_json("/v2/queues/q/tasks", &big).error(422), "the task is larger than 100 bytes");
    assert_eq!(c.send("POST", "/v2/queues/q/tasks", "application/json", "{\"task\": ").status, 400);
    assert_eq!(c.post_json("/v2/queues/q/tasks", &json!({"tusk": 1})).status, 422);
    assert_eq!(c.post_json("/v2/queues/q/tasks", &json!({"task": 1, "delay": -1})).status, 422);
    assert_eq!(c.post("/v2/queues/q/lease?max=0").error(422), "`max` must be from 1 to 100");
    assert_eq!(c.post("/v2/queues/q/lease?wait=soon").status, 400);
    assert_eq!(c.post("/v2/queues/q/leases/7/done").error(404), "`7` is not a lease token (<id>.<attempt>)");
    assert_eq!(c.post("/v2/queues/q/leases/7.1/done").error(404), "no such task in this queue");
    assert_eq!(
        c.post("/v2/queues/q/leases/1.1/done").error(409),
        "this lease is over: the task was leased again, released or done"
    );
    assert_eq!(c.get("/v2/queues/q/lease").status, 405);
}

const PRODUCER: &str = "producer-secret-0123456789";
const CONSUMER: &str = "consumer-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789abc";

pub(crate) fn tokens_and_roles_guard_every_route(store: &Store) {
    let tokens = Tokens::new().token("producer", PRODUCER, ["produce"]).token("consumer", CONSUMER, ["consume"]).token(
        "ops",
        ADMIN,
        ["produce", "consume", "admin"],
    );
    let server = store.start(Settings::default(), tokens);
    let mut anonymous = Client::new(server.addr());
    let reply = anonymous.post_form("/q/put/", "a=1");
    assert_eq!(reply.error(401), "this route needs a bearer token: send `Authorization: Bearer <token>`");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="appserver""#));
    // The token is checked before the body is read or parsed.
    let reply = Client::new(server.addr()).send("POST", "/v2/queues/q/tasks", "application/json", "{bad");
    assert_eq!(reply.status, 401);
    let reply = Client::new(server.addr()).send("POST", "/v2/queues/q/tasks", "application/json", "{}");
    assert_eq!(reply.status, 401);
    let reply = Client::with_token(server.addr(), "wrong-secret-0123456789").get("/q/qsize/");
    assert_eq!(reply.error(401), "the bearer token is not valid");

    let (mut producer, mut consumer, mut admin) = (
        Client::with_token(server.addr(), PRODUCER),
        Client::with_token(server.addr(), CONSUMER),
        Client::with_token(server.addr(), ADMIN),
    );
    assert_eq!(producer.post_form("/q/put/", "a=1").body, r#"{"worker":"q","task_id":"1"}"#);
    let reply = producer.get("/q/get/");
    assert_eq!(reply.error(403), "this route needs a token with the role `consume`");
    assert!(reply.header("www-authenticate").unwrap().contains("insufficient_scope"));
    assert_eq!(consumer.post_json("/v2/queues/q/tasks", &json!({"task": 1})).status, 403);
    assert_eq!(consumer.get("/q/qsize/").body, r#"{"worker":"q","qsize":1}"#, "any token reads sizes");
    assert_eq!(consumer.get("/q/get/").json()["task_id"], "1");
    assert_eq!(consumer.get("/v2/queues/q/dead").status, 403);
    assert_eq!(admin.get("/v2/queues/q/dead").json(), json!({"queue": "q", "tasks": []}));
    assert_eq!(consumer.post("/v2/queues/q/pause").status, 403);
    assert_eq!(admin.post("/v2/queues/q/pause").json(), json!({"queue": "q", "paused": true}));
    assert_eq!(anonymous.get("/v2/queues").status, 401);
}

pub(crate) fn reads_make_no_queue_and_empty_queues_do_not_count(store: &Store) {
    let server = store.start(Settings { max_queues: 2, ..Settings::default() }, Tokens::new());
    let mut c = Client::new(server.addr());
    // Reads of queues that do not exist: answered, and no queue is made.
    for i in 0..50 {
        assert_eq!(c.get(&format!("/r{i}/qsize/")).body, format!(r#"{{"worker":"r{i}","qsize":0}}"#));
        assert_eq!(c.get(&format!("/g{i}/get/")).body, format!(r#"{{"worker":"g{i}","task_id":"","task":{{}}}}"#));
        assert_eq!(c.get(&format!("/d{i}/done/1.1")).body, format!(r#"{{"worker":"d{i}","task_id":"","task":{{}}}}"#));
        assert_eq!(c.get(&format!("/v2/queues/s{i}")).json()["ready"], 0);
        assert_eq!(c.post(&format!("/v2/queues/l{i}/lease")).json()["tasks"], json!([]));
        assert_eq!(c.get(&format!("/v2/queues/x{i}/dead")).json()["tasks"], json!([]));
    }
    assert_eq!(c.get("/v2/queues").json(), json!({"queues": [], "next": null}));
    assert_eq!(c.post_json("/v2/queues/a/tasks", &json!({"task": 1})).status, 201);
    assert_eq!(c.post_json("/v2/queues/b/tasks", &json!({"task": 2})).status, 201);
    assert_eq!(c.post_json("/v2/queues/c/tasks", &json!({"task": 3})).error(507), "there are 2 queues already");
    // HEAD on v1 get and done is refused, and leases nothing.
    let answer = head(&server, "/a/get/");
    assert!(answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nallow: get, post\r\n"), "{answer}");
    assert!(head(&server, "/a/done/1.1").starts_with("HTTP/1.1 405 "));
    assert_eq!(c.get("/a/qsize/").body, r#"{"worker":"a","qsize":1}"#);
    // Once `b` is empty it does not count: `c` may be made.
    let lease = c.post("/v2/queues/b/lease").json()["tasks"][0]["lease"].as_str().unwrap().to_owned();
    assert_eq!(c.post(&format!("/v2/queues/b/leases/{lease}/done")).status, 200);
    assert_eq!(c.post_json("/v2/queues/c/tasks", &json!({"task": 3})).status, 201);
    assert_eq!(c.post_json("/v2/queues/d/tasks", &json!({"task": 4})).error(507), "there are 2 queues already");
    let listed = c.get("/v2/queues").json();
    let names: Vec<&str> = listed["queues"].as_array().unwrap().iter().map(|q| q["queue"].as_str().unwrap()).collect();
    assert!(names.contains(&"a") && names.contains(&"c") && names.len() <= 3, "{listed}");
    // The list comes a page at a time.
    let first = c.get("/v2/queues?limit=1").json();
    assert_eq!((first["queues"][0]["queue"].as_str(), first["next"].as_str()), (Some("a"), Some("a")), "{first}");
    let next = c.get("/v2/queues?limit=1&after=a").json();
    assert_eq!(next["queues"].as_array().unwrap().len(), 1, "{next}");
    let last = c.get("/v2/queues?after=c").json();
    assert_eq!(last, json!({"queues": [], "next": null}));
    assert_eq!(c.get("/v2/queues?limit=0").error(422), "`limit` must be from 1 to 1000");
}
