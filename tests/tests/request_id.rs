//! The request id over real sockets: a client's `x-request-id` is echoed, a missing or
//! unusable one replaced by a new one that the handler sees too; the access line ends with
//! it, in both writers; layers see it. Off (the default), the headers are left alone.

mod support;

use appserver::Server;
// The library's routes.
use appserver_tests as _;
use support::{Process, send, start};

/// The id a response carries, the one its handler saw and the one a layer saw.
fn ids(reply: &support::Reply) -> (String, String, String) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let echoed = reply.header("x-request-id").unwrap_or_else(|| panic!("no x-request-id: {:?}", reply.headers));
    let seen = |key: &str| reply.json()[key].as_str().unwrap_or_default().to_owned();
    (echoed.to_owned(), seen("id"), seen("layer"))
}

fn is_new(id: &str) -> bool {
    id.len() == 20 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn a_clients_id_is_echoed_and_logged_and_a_missing_one_is_made() {
    let server = Process::start(&[("APPSERVER_REQUEST_ID", "true")]);
    let addr = server.addr();
    let with = |headers: &[(&str, &str)]| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let mut request = String::from("GET /request-id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };
    let header = |answer: &str| {
        answer.lines().find_map(|l| l.strip_prefix("x-request-id: ")).map(str::to_owned).unwrap_or_default()
    };
    // The client's id: echoed, seen by the handler, logged.
    let answer = with(&[("X-Request-Id", "report-2026/11.30:a")]);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert_eq!(header(&answer), "report-2026/11.30:a", "{answer}");
    assert!(answer.contains(r#"{"id":"report-2026/11.30:a""#), "the handler saw it: {answer}");
    // None: a new one, the same in the response, the handler's request and the log.
    let answer = with(&[]);
    let made = header(&answer);
    assert!(is_new(&made), "{answer}");
    assert!(answer.contains(&format!(r#"{{"id":"{made}""#)), "{answer}");
    // Unusable (a quote, too long): replaced.
    for sent in ["has\"quote", &"x".repeat(129)] {
        let answer = with(&[("x-request-id", sent)]);
        assert!(is_new(&header(&answer)), "{sent}: {answer}");
    }
    support::wait_for(|| server.log().contains(&format!("request_id={made}")), "the made id's line");
    let log = server.log();
    let line = log.lines().find(|l| l.contains("request_id=report-2026/11.30:a")).expect("the client's id's line");
    assert!(line.contains("path=\"/request-id\" status=200 micros="), "{line}");
    assert!(line.ends_with(" request_id=report-2026/11.30:a"), "the line ends with it: {line}");
}

#[test]
fn layers_see_the_id_the_tracing_line_has_it_and_off_nothing_is_added() {
    let _ = support::logged();
    // A layer that copies the request's id into a header of its own: it runs after the id
    // is given.
    let copy = tower::util::MapRequestLayer::new(|mut request: appserver::http::Request<appserver::LayerBody>| {
        if let Some(id) = request.headers().get("x-request-id").cloned() {
            request.headers_mut().insert("x-layer-saw", id);
        }
        request
    });
    let server = start(Server::new().request_id(true).layer(copy));
    let reply = send(&server, "GET", "/request-id", &[("x-request-id", "through-layers")], b"");
    let mine = "through-layers".to_owned();
    assert_eq!(ids(&reply), (mine.clone(), mine.clone(), mine));
    let reply = send(&server, "GET", "/request-id", &[], b"");
    let (echoed, seen, layer) = ids(&reply);
    assert!(is_new(&echoed) && echoed == seen && echoed == layer, "{echoed} {seen} {layer}");
    support::wait_for(|| support::logged().contains(&format!("request_id={echoed}")), "the tracing line");

    // Off by default.
    let server = start(Server::new());
    let reply = send(&server, "GET", "/request-id", &[], b"");
    assert!(reply.header("x-request-id").is_none(), "{:?}", reply.headers);
    assert!(reply.json()["id"].is_null(), "the handler saw none: {}", reply.body);
    let reply = send(&server, "GET", "/request-id", &[("x-request-id", "mine")], b"");
    assert!(reply.header("x-request-id").is_none(), "not echoed: {:?}", reply.headers);
}
