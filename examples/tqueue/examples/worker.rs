//! Run with: cargo run -p tqueue --example worker -- http://127.0.0.1:8080 emails
//!
//! A TQueue worker on the v2 API: leases tasks (long-polling while the queue is empty),
//! works on each, keeps its lease alive, and finishes it. `TQUEUE_TOKEN` is its bearer
//! token, if the server has tokens.

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

    /// POSTs to `path` of the queue; the answer's JSON, or the error's message.
    fn post(&self, path: &str) -> Result<Value, String> {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.send_empty().map_err(|e| e.to_string())?;
        let status = response.status();
        let json: Value = response.body_mut().read_json().map_err(|e| e.to_string())?;
        match status.is_success() {
            true => Ok(json),
            false => Err(format!("{status}: {}", json["error"]["message"])),
        }
    }

    /// The next task and its lease token, waiting up to 20 s for one.
    fn lease(&self) -> Result<Option<(String, Value)>, String> {
        let answer = self.post("/lease?wait=20")?;
        Ok(answer["tasks"].get(0).map(|task| (task["lease"].as_str().unwrap_or("").to_owned(), task["task"].clone())))
    }
}

/// The work: here, it tells what it got.
fn work(task: &Value) -> String {
    format!("worked on {task}")
}

/// Leases one task, works on it with a heartbeat every 10 s, and finishes it.
fn work_once(queue: &Queue) -> Result<Option<String>, String> {
    let Some((lease, task)) = queue.lease()? else { return Ok(None) };
    let result = std::thread::scope(|scope| {
        let (finished, heartbeat) = std::sync::mpsc::channel::<()>();
        let lease = &lease;
        scope.spawn(move || {
            // Every 10 s until the work is finished (the sender dropped).
            while heartbeat.recv_timeout(Duration::from_secs(10)) == Err(RecvTimeoutError::Timeout) {
                if let Err(error) = queue.post(&format!("/leases/{lease}/extend")) {
                    eprintln!("heartbeat: {error}");
                    return;
                }
            }
        });
        let result = work(&task);
        drop(finished);
        result
    });
    queue.post(&format!("/leases/{lease}/done"))?;
    Ok(Some(result))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(name)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: worker URL QUEUE");
        std::process::exit(2);
    };
    let queue = Queue::new(url, name, std::env::var("TQUEUE_TOKEN").ok());
    loop {
        match work_once(&queue) {
            Ok(Some(done)) => println!("{done}"),
            Ok(None) => {}
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
    fn the_worker_leases_works_and_finishes_a_task() {
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
        let queue = Queue::new(&url, "mail", None);
        assert_eq!(work_once(&queue), Ok(Some(r#"worked on {"to":"ann"}"#.to_owned())));
        let stats: Value = ureq::get(format!("{url}/v2/queues/mail")).call().unwrap().body_mut().read_json().unwrap();
        assert_eq!((stats["done"].as_u64(), stats["ready"].as_u64()), (Some(1), Some(0)));
        // Errors come back as messages.
        assert!(queue.post("/leases/9.1/done").unwrap_err().starts_with("404 Not Found: "));
    }
}
