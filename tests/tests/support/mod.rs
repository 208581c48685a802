//! Helpers shared by the end-to-end tests: a server on a free loopback port, a real HTTP
//! client, and raw sockets for what a client library will not send.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub use appserver::{RunningServer, Server};

/// A started server on 127.0.0.1 and a free port.
pub fn start(server: Server) -> RunningServer {
    server.bind(([127, 0, 0, 1], 0)).start().expect("server starts")
}

/// A response, read in full.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts the framework's error shape with `status`; returns the message.
    pub fn error_message(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let json = self.json();
        assert_eq!(json["error"]["status"], status, "{json}");
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
        json["error"]["message"].as_str().expect("message").to_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Sends `method` to `path` of `server` with `headers` and `body`.
pub fn send(server: &RunningServer, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = ureq::http::Request::builder().method(method).uri(format!("http://{}{path}", server.addr()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.to_vec()).expect("request");
    let mut response = agent().run(request).expect("response");
    let body = response.body_mut().read_to_string().expect("body");
    Reply { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

pub fn get(server: &RunningServer, path: &str) -> Reply {
    send(server, "GET", path, &[], b"")
}

pub fn post_json(server: &RunningServer, path: &str, json: &str) -> Reply {
    send(server, "POST", path, &[("content-type", "application/json")], json.as_bytes())
}

/// Writes `raw` to a new connection and reads until the server closes it.
pub fn raw(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(raw).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
