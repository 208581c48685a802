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
    assert!(server.log().contains("server_type=Forked workers=1"));
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
    log
}

#[test]
fn config_errors_name_the_file_the_key_and_the_form() {
    let log = refused(Some("prot = 8080\n"), &[]);
    assert!(
        log.contains("invalid config file appserver.toml: unknown field `prot`, expected one of `host`, `port`"),
        "{log}"
    );
    let log = refused(Some("workers = \"many\"\n"), &[]);
    assert!(log.contains("invalid config file appserver.toml: invalid type: string \"many\", expected usize"), "{log}");
    assert!(log.contains("workers = 4 (at least 1)"), "{log}");
    let log = refused(Some("graceful_timeout = \"forever\"\n"), &[]);
    assert!(log.contains(r#"invalid value: string "forever", expected a duration"#), "{log}");
    let log = refused(None, &[("APPSERVER_SERVER_TYPE", "processes")]);
    assert!(
        log.contains(r#"invalid environment variable APPSERVER_SERVER_TYPE="processes": unknown variant `processes`, expected `threaded` or `forked`"#),
        "{log}"
    );
    let log = refused(None, &[("APPSERVER_CONFIG", "/nonexistent/app.toml")]);
    assert!(log.contains("cannot read the config file /nonexistent/app.toml: No such file or directory"), "{log}");
    let log = refused(None, &[("APPSERVER_LOG", "info,[")]);
    assert!(log.contains(r#"invalid log filter "info,[" from the `log` setting"#), "{log}");
}
