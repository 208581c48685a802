//! Prometheus metrics over real sockets, from the `serve` binary: the text format, requests
//! by method, route pattern and status (unknown paths add no series), durations, the
//! server's own counters and gauges, `process_*`, the application's metrics through the
//! facade; a Forked server's sum over its workers, the counts of a killed worker kept.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use support::Process;

/// GET `path` on a connection of its own: status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let content_type = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or_default().to_owned();
    (status, content_type, body.to_owned())
}

/// The samples of a scrape, by series (`name{labels}`), and its text.
fn scrape(addr: SocketAddr) -> (HashMap<String, f64>, String) {
    let (status, content_type, text) = get(addr, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l:?}"));
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
        })
        .collect();
    (samples, text)
}

const PERSON: &str = r#"route="/(?P<object_type>\\w+)/get/(?P<object_id>\\d+)/""#;

#[test]
fn a_scrape_shows_requests_by_route_pattern_the_servers_counters_the_process_and_the_applications_metrics() {
    let server = Process::start(&[("APPSERVER_METRICS_PATH", "/metrics")]);
    let addr = server.addr();
    for id in 0..3 {
        assert_eq!(get(addr, &format!("/person/get/{id}/")).0, 200);
    }
    // 300 distinct unknown paths: one series.
    for n in 0..300 {
        assert_eq!(get(addr, &format!("/no/such/{n}")).0, 404);
    }
    assert_eq!(get(addr, "/panic/").0, 500);
    for name in ["ann", "bob", "ann"] {
        assert_eq!(get(addr, &format!("/count/{name}")).0, 200);
    }
    let (samples, text) = scrape(addr);
    let at = |series: &str| samples.get(series).copied().unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert_eq!(at(&format!(r#"appserver_http_requests_total{{method="GET",{PERSON},status="200"}}"#)), 3.0);
    assert_eq!(at(r#"appserver_http_requests_total{method="GET",route="none",status="404"}"#), 300.0);
    assert_eq!(samples.keys().filter(|s| s.contains("status=\"404\"")).count(), 1, "{text}");
    assert!(!text.contains("/no/such"), "no raw path: {text}");
    assert_eq!(at(r#"appserver_http_requests_total{method="GET",route="/panic/",status="500"}"#), 1.0);
    // Durations: a histogram per method and route, its buckets counted up to each bound.
    let person = |suffix: &str, le: &str| {
        at(&format!(r#"appserver_http_request_duration_seconds_{suffix}{{method="GET",{PERSON}{le}}}"#))
    };
    assert_eq!(person("count", ""), 3.0);
    assert_eq!(person("bucket", r#",le="+Inf""#), 3.0);
    assert!(person("bucket", r#",le="0.005""#) <= person("bucket", r#",le="10""#));
    assert!(person("sum", "") > 0.0 && person("sum", "") < 3.0, "{text}");
    assert!(text.contains("# TYPE appserver_http_request_duration_seconds histogram\n"), "{text}");
    // The server's own: the scrape itself in flight, its connection open, one panic.
    assert_eq!(at("appserver_http_requests_in_flight"), 1.0);
    assert!(at("appserver_connections_open") >= 1.0, "{text}");
    assert_eq!(at("appserver_handler_panics_total"), 1.0);
    assert_eq!(at("appserver_connections_evicted_total"), 0.0);
    assert_eq!(at("appserver_access_lines_dropped_total"), 0.0);
    // The process.
    assert!(at("process_cpu_seconds_total") > 0.0, "{text}");
    assert!(at("process_resident_memory_bytes") > 1e6, "{text}");
    assert!(at("process_open_fds") >= 4.0, "{text}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let started = at("process_start_time_seconds");
    assert!(started <= now + 1.0 && started > now - 120.0, "{started} against {now}");
    // The application's, through the facade: labels, a gauge, a histogram, its help.
    assert_eq!(at(r#"tests_hits_total{name="ann"}"#), 2.0);
    assert_eq!(at(r#"tests_hits_total{name="bob"}"#), 1.0);
    assert!(text.contains("# HELP tests_hits_total Hits, by name.\n# TYPE tests_hits_total counter\n"), "{text}");
    assert_eq!(at("tests_level"), 7.5);
    assert_eq!((at(r#"tests_size_bucket{le="0.25"}"#), at(r#"tests_size_bucket{le="0.5"}"#)), (0.0, 3.0));
    assert!((at("tests_size_sum") - 0.9).abs() < 1e-9 && at("tests_size_count") == 3.0, "{text}");
}

#[test]
fn off_by_default() {
    let server = Process::start(&[]);
    assert_eq!(get(server.addr(), "/metrics").0, 404);
}

#[test]
fn a_forked_servers_scrape_sums_its_workers_and_keeps_the_counts_of_one_killed() {
    let server = Process::start(&[
        ("APPSERVER_METRICS_PATH", "/metrics"),
        ("APPSERVER_SERVER_TYPE", "forked"),
        ("APPSERVER_WORKERS", "3"),
    ]);
    let addr = server.addr();
    let pids: std::collections::HashSet<String> = (0..60).map(|_| get(addr, "/pid").2).collect();
    assert!(pids.len() >= 2, "the requests went to several workers: {pids:?}");
    for name in ["ann", "bob", "ann", "ann"] {
        assert_eq!(get(addr, &format!("/count/{name}")).0, 200);
    }
    let pid_series = r#"appserver_http_requests_total{method="GET",route="/pid",status="200"}"#;
    // Whichever worker answers the scrape, the sums over all.
    for _ in 0..6 {
        let (samples, text) = scrape(addr);
        assert_eq!(samples.get(pid_series), Some(&60.0), "{text}");
        assert_eq!(samples.get(r#"tests_hits_total{name="ann"}"#), Some(&3.0), "{text}");
    }
    let (samples, _) = scrape(addr);
    let cpu_before = samples["process_cpu_seconds_total"];
    // A worker killed: its counts stay; its replacement counts on.
    let victim: u32 = pids.iter().next().unwrap().trim().parse().unwrap();
    Process::kill(victim, "KILL");
    support::wait_for(|| server.log().contains("worker died; replacing it"), "the replacement");
    for _ in 0..9 {
        assert_eq!(get(addr, "/pid").0, 200);
    }
    let (samples, text) = scrape(addr);
    assert_eq!(samples.get(pid_series), Some(&69.0), "{text}");
    assert_eq!(samples.get(r#"tests_hits_total{name="ann"}"#), Some(&3.0), "{text}");
    // The killed worker's CPU time is kept too.
    assert!(samples["process_cpu_seconds_total"] >= cpu_before, "{text}");
    assert_eq!(samples.get("appserver_http_requests_in_flight"), Some(&1.0), "{text}");
}
