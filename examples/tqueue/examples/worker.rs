//! Run with: cargo run -p tqueue --example worker -- http://127.0.0.1:8080 emails [BATCH]
//!
//! A TQueue worker on the v2 API: leases up to BATCH tasks at once (10 by default;
//! long-polling while the queue is empty), works on each, keeps their leases alive, and
//! finishes them all in one request. `TQUEUE_TOKEN` is its bearer token, if the server has
//! tokens.

use serde_json::Value;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// A queue of a TQueue server.
struct Queue {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Queue {
    fn new(url: &str, name: &str, token: Option<String>) -> Queue {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Queue { agent, base: format!("{}/v2/queues/{name}", url.trim_end_matches('/')), token }
    }

    /// POSTs to `path` of the queue, with `body` as JSON if any; the answer's JSON, or the
    /// error's message.
    fn post(&self, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        };
        let mut response = sent.map_err(|e| e.to_string())?;
        let status = response.status();
        let json: Value = response.body_mut().read_json().map_err(|e| e.to_string())?;
        match status.is_success() {
            true => Ok(json),
            false => Err(format!("{status}: {}", json["error"]["message"])),
        }
    }

    /// Up to `max` tasks with their lease tokens, waiting up to 20 s for one.
    fn lease(&self, max: usize) -> Result<Vec<(String, Value)>, String> {
        let answer = self.post(&format!("/lease?max={max}&wait=20"), None)?;
        let tasks = answer["tasks"].as_array().cloned().unwrap_or_default();
        Ok(tasks
            .into_iter()
            .map(|task| (task["lease"].as_str().unwrap_or("").to_owned(), task["task"].clone()))
            .collect())
    }
}

/// The work: here, it tells what it got.
fn work(task: &Value) -> String {
    format!("worked on {task}")
}

/// Leases up to `max` tasks, works on each with a heartbeat for the leases every 10 s,
/// and finishes them in one request; what the work gave, for each task finished.
fn work_batch(queue: &Queue, max: usize) -> Result<Vec<String>, String> {
    let leased = queue.lease(max)?;
    if leased.is_empty() {
        return Ok(Vec::new());
    }
    let leases: Vec<&str> = leased.iter().map(|(lease, _)| lease.as_str()).collect();
    let results: Vec<String> = std::thread::scope(|scope| {
        let (finished, heartbeat) = std::sync::mpsc::channel::<()>();
        let leases = &leases;
        scope.spawn(move || {
            // Every 10 s until the work is finished (the sender dropped).
            while heartbeat.recv_timeout(Duration::from_secs(10)) == Err(RecvTimeoutError::Timeout) {
                for lease in leases {
                    if let Err(error) = queue.post(&format!("/leases/{lease}/extend"), None) {
                        eprintln!("heartbeat of {lease}: {error}");
                    }
                }
            }
        });
        let results = leased.iter().map(|(_, task)| work(task)).collect();
        drop(finished);
        results
    });
    let answer = queue.post("/leases/done", Some(serde_json::json!({"leases": leases})))?;
    for stale in answer["stale"].as_array().into_iter().flatten() {
        eprintln!("{stale}: its lease ran out before it was finished; the task will be worked on again");
    }
    Ok(results)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(name)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: worker URL QUEUE");
        std::process::exit(2);
    };
    let batch = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10);
    let queue = Queue::new(url, name, std::env::var("TQUEUE_TOKEN").ok());
    loop {
        match work_batch(&queue, batch) {
            Ok(done) => done.iter().for_each(|done| println!("{done}")),
            Err(error) => {
                eprintln!("{error}; trying again in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_leases_a_batch_works_and_finishes_them() {
        let dir = std::env::temp_dir().join(format!("tqueue-worker-example-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = tqueue::Settings { data_dir: dir, ..Default::default() };
        let server = appserver::Server::new().bind(([127, 0, 0, 1], 0));
        let server = tqueue::app(server, settings).unwrap().start().unwrap();
        let url = format!("http://{}", server.addr());
        let mut put = ureq::post(format!("{url}/v2/queues/mail/tasks"))
            .send_json(serde_json::json!({"task": {"to": "ann"}}))
            .unwrap();
        assert_eq!(put.body_mut().read_to_string().unwrap(), r#"{"queue":"mail","id":"1"}"#);
        let more = serde_json::json!({"tasks": [{"task": {"to": "bob"}}, {"task": {"to": "cy"}}]});
        ureq::post(format!("{url}/v2/queues/mail/tasks/batch")).send_json(more).unwrap();
        let queue = Queue::new(&url, "mail", None);
        let worked = [r#"worked on {"to":"ann"}"#, r#"worked on {"to":"bob"}"#];
        assert_eq!(work_batch(&queue, 2), Ok(worked.map(str::to_owned).to_vec()));
        assert_eq!(work_batch(&queue, 2), Ok(vec![r#"worked on {"to":"cy"}"#.to_owned()]));
        let stats: Value = ureq::get(format!("{url}/v2/queues/mail")).call().unwrap().body_mut().read_json().unwrap();
        assert_eq!((stats["done"].as_u64(), stats["ready"].as_u64()), (Some(3), Some(0)));
        // Errors come back as messages.
        assert!(queue.post("/leases/9.1/done", None).unwrap_err().starts_with("404 Not Found: "));
    }
}
