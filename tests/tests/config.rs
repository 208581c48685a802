//! Configuration of a real process: `appserver.toml` < `APPSERVER_*` < code, and errors
//! that name the file or variable, the key and the expected form.

mod support;

use support::{Process, raw, scratch_dir, timed_get};

#[test]
fn file_then_environment_then_code() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("appserver.toml"),
        "port = 1\nmax_body_bytes = 100\nrequest_timeout = \"300ms\"\nserver_type = \"forked\"\nworkers = 1\n",
    )
    .unwrap();
    // The file sets the port, the environment another, the code (`--port 0`) wins.
    let server =
        Process::start_in(&dir, &[("APPSERVER_PORT", "2"), ("APPSERVER_MAX_BODY_BYTES", "200")], &["--port", "0"]);
    assert!(![1, 2].contains(&server.addr().port()));
    // The environment wins over the file...
    let out = raw(server.addr(), b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 201\r\n\r\n");
    assert!(out.contains("limit of 200 bytes"), "{out}");
    // ...and the file's other keys hold.
    let (out, _) = timed_get(server.addr(), "/async-sleep/2000");
    assert!(out.contains("did not answer within 300 ms"), "{out}");
    assert_eq!(server.children().len(), 1, "server_type and workers from the file");
    assert!(server.log().contains("server_type=\"forked\" workers=1"), "{}", server.log());
}

#[test]
fn code_wins_over_the_environment() {
    let server = Process::start_in(&scratch_dir(), &[("APPSERVER_MAX_BODY_BYTES", "200")], &["--max-body-bytes", "50"]);
    let out = raw(server.addr(), b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 51\r\n\r\n");
    assert!(out.contains("limit of 50 bytes"), "{out}");
}

#[test]
fn app_config_names_another_file() {
    let dir = scratch_dir();
    let file = dir.join("other.toml");
    std::fs::write(&file, "max_body_bytes = 7\n").unwrap();
    let server = Process::start_in(&scratch_dir(), &[("APPSERVER_CONFIG", file.to_str().unwrap())], &[]);
    let out = raw(server.addr(), b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n");
    assert!(out.contains("limit of 7 bytes"), "{out}");
}

/// Starts `serve` expecting it to refuse; returns what it printed.
fn refused(file: Option<&str>, env: &[(&str, &str)]) -> String {
    let dir = scratch_dir();
    if let Some(text) = file {
        std::fs::write(dir.join("appserver.toml"), text).unwrap();
    }
    let (log, status) = Process::try_start_in(&dir, env, &[]).map(|_| ()).expect_err("the server must not start");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(!log.contains("Custom {") && !log.contains("kind:"), "the error is printed as written: {log}");
    log
}

/// The lines a refused start printed, without the `Error: ` prefix of `main`.
fn error_lines(log: &str) -> Vec<&str> {
    log.lines().map(|line| line.strip_prefix("Error: ").unwrap_or(line)).collect()
}

#[test]
fn file_errors_are_one_line_each_naming_file_line_key_value_and_form() {
    let log = refused(Some("port = 8080\nprot = 8080\nworkers = \"many\"\n\ngraceful_timeout = \"forever\"\n"), &[]);
    assert_eq!(
        error_lines(&log),
        [
            "appserver.toml:2: unknown key `prot`; the keys are host, port, server_type, workers, log, max_body_bytes, \
             max_field_bytes, ws_max_message_bytes, ws_idle_timeout, max_header_bytes, header_timeout, request_timeout, body_timeout, keep_alive_timeout, max_connections, \
             max_connections_per_client, backlog, tls_cert, tls_key, http2, http2_max_streams, auth_tokens, auth_tokens_file, \
             graceful_timeout, openapi_path, health_path, ready_path, metrics_path, log_probes, request_id, strict_routes, print_routes, error_format",
            "appserver.toml:3: invalid value \"many\" for `workers`: expected a number from 1 to 1024",
            "appserver.toml:5: invalid value \"forever\" for `graceful_timeout`: expected a duration up to 1 day: \
             seconds (10, 0.5) or a string such as \"250ms\", \"10s\", \"2m\"",
        ]
    );
    let log = refused(Some("port = 8080\nworkers = [1,\n"), &[]);
    let lines = error_lines(&log);
    assert!(
        lines.len() == 1 && lines[0].starts_with("appserver.toml:2: invalid TOML in the value of `workers`: "),
        "{log}"
    );
    let log = refused(Some("header_timeout = 0\nrequest_timeout = \"0s\"\n"), &[]);
    assert_eq!(error_lines(&log).len(), 2, "{log}");
    assert!(log.contains("appserver.toml:1: invalid value 0 for `header_timeout`: expected a duration"), "{log}");
    assert!(log.contains("appserver.toml:2: invalid value \"0s\" for `request_timeout`: expected a duration"), "{log}");
    let log = refused(None, &[("APPSERVER_CONFIG", "/nonexistent/app.toml")]);
    assert_eq!(
        error_lines(&log),
        ["cannot read the config file /nonexistent/app.toml: No such file or directory (os error 2)"]
    );
}

#[test]
fn environment_errors_name_the_variable_and_the_real_problem() {
    let log = refused(None, &[("APPSERVER_WORKERS", "0"), ("APPSERVER_SERVER_TYPE", "processes")]);
    let mut lines = error_lines(&log);
    lines.sort();
    assert_eq!(
        lines,
        [
            r#"environment variable APPSERVER_SERVER_TYPE: invalid value "processes" for `server_type`: expected "threaded" or "forked""#,
            r#"environment variable APPSERVER_WORKERS: invalid value "0" for `workers`: expected a number from 1 to 1024"#,
        ]
    );
    let log = refused(None, &[("APPSERVER_PORT", "99999")]);
    assert_eq!(
        error_lines(&log),
        [
            r#"environment variable APPSERVER_PORT: invalid value "99999" for `port`: expected a port number from 0 to 65535"#
        ]
    );
    // A value is a value, never configuration text: a newline cannot set another key.
    let log = refused(None, &[("APPSERVER_PORT", "0\nworkers = 7")]);
    assert_eq!(
        error_lines(&log),
        [
            r#"environment variable APPSERVER_PORT: invalid value "0\nworkers = 7" for `port`: expected a port number from 0 to 65535"#
        ]
    );
    let log = refused(None, &[("APPSERVER_LOG", "info,[")]);
    assert!(log.contains(r#"environment variable APPSERVER_LOG: invalid value "info,[" for `log`"#), "{log}");
}

#[test]
fn too_many_workers_is_refused_before_listening() {
    let log = refused(Some("workers = 100000\n"), &[]);
    assert_eq!(
        error_lines(&log),
        ["appserver.toml:1: invalid value 100000 for `workers`: expected a number from 1 to 1024"]
    );
    assert!(!log.contains("listening"), "{log}");
}

#[test]
fn a_port_in_use_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let log = refused(None, &[("APPSERVER_PORT", &port)]);
    assert_eq!(error_lines(&log), [format!("cannot listen on 127.0.0.1:{port}: Address already in use (os error 98)")]);
}

#[test]
fn rust_log_is_read_only_when_appserver_installs_the_subscriber() {
    let log = refused(None, &[("RUST_LOG", "info,[")]);
    assert!(
        log.contains(r#"environment variable RUST_LOG: invalid value "info,[" for `log`: expected a log filter"#),
        "{log}"
    );
    // A program with its own subscriber: RUST_LOG is its business, not a reason to refuse.
    let server = Process::start_in(&scratch_dir(), &[("RUST_LOG", "info,["), ("SERVE_OWN_SUBSCRIBER", "1")], &[]);
    assert!(timed_get(server.addr(), "/library/x").0.starts_with("HTTP/1.1 200 "));
}
