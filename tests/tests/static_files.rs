//! `Server::serve_dir` over real sockets: content types, ETag and Last-Modified with 304,
//! ranges, HEAD, precompressed siblings, and nothing outside the folder.

mod support;

use appserver::{Server, route};
use support::{raw, send, start};

#[route(GET, r"/")]
fn home() -> &'static str {
    "home"
}

/// A folder with files, a precompressed sibling, and a symlink leading out of it.
fn folder() -> std::path::PathBuf {
    let dir = support::scratch_dir();
    let public = dir.join("public");
    std::fs::create_dir_all(public.join("css")).unwrap();
    std::fs::write(public.join("hello.txt"), "hello, static world\n").unwrap();
    std::fs::write(public.join("css/site.css"), "body { margin: 0 }\n").unwrap();
    std::fs::write(public.join("app.js"), "console.log('plain');\n").unwrap();
    std::fs::write(public.join("app.js.gz"), b"\x1f\x8b pretend gzip").unwrap();
    std::fs::write(public.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(dir.join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), public.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(public.join("hello.txt"), public.join("inside.txt")).unwrap();
    public
}

#[test]
fn files_come_with_their_type_validators_ranges_and_precompressed_siblings() {
    let server = start(Server::new().serve_dir("/static", folder()));
    let reply = send(&server, "GET", "/static/hello.txt", &[], b"");
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello, static world\n"));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert!(reply.header("last-modified").is_some());
    let etag = reply.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(send(&server, "GET", "/static/css/site.css", &[], b"").header("content-type"), Some("text/css"));
    // Validators: 304 for a matching ETag or a date not before the file's.
    let reply = send(&server, "GET", "/static/hello.txt", &[("if-none-match", &etag)], b"");
    assert_eq!((reply.status, reply.body.as_str()), (304, ""));
    let modified = send(&server, "GET", "/static/hello.txt", &[], b"").header("last-modified").unwrap().to_owned();
    assert_eq!(send(&server, "GET", "/static/hello.txt", &[("if-modified-since", &modified)], b"").status, 304);
    // A range.
    let reply = send(&server, "GET", "/static/hello.txt", &[("range", "bytes=7-12")], b"");
    assert_eq!((reply.status, reply.body.as_str()), (206, "static"));
    assert_eq!(reply.header("content-range"), Some("bytes 7-12/20"));
    // HEAD: the headers, no body.
    let out = raw(server.addr(), b"HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("\r\ncontent-length: 20\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "{out}");
    // The gzip sibling for a client that takes gzip, the file itself for others.
    let reply = send(&server, "GET", "/static/app.js", &[("accept-encoding", "gzip")], b"");
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert_eq!(reply.header("content-type"), Some("text/javascript"));
    let reply = send(&server, "GET", "/static/app.js", &[("accept-encoding", "identity")], b"");
    assert_eq!((reply.header("content-encoding"), reply.body.as_str()), (None, "console.log('plain');\n"));
    // A folder's index, a symlink inside the folder.
    assert_eq!(send(&server, "GET", "/static/", &[], b"").body, "<h1>home</h1>");
    assert_eq!(send(&server, "GET", "/static/inside.txt", &[], b"").body, "hello, static world\n");
    // Only GET and HEAD.
    let reply = send(&server, "POST", "/static/hello.txt", &[], b"");
    assert_eq!((reply.status, reply.header("allow")), (405, Some("GET, HEAD")));
    // Routes come first.
    assert_eq!(send(&server, "GET", "/", &[], b"").body, r#""home""#);
}

#[test]
fn nothing_outside_the_folder_is_served() {
    let server = start(Server::new().serve_dir("/static", folder()));
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/css%2f..%2f..%2fsecret.txt",
        "/static/css/..%2f..%2fsecret.txt",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "/static/..%5csecret.txt",
        "/static/escape.txt",
        "/static/missing.txt",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let out = raw(server.addr(), request.as_bytes());
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n") || out.starts_with("HTTP/1.1 400 "), "{path}: {out}");
        assert!(!out.contains("TOP-SECRET-CONTENT") && !out.contains("root:"), "{path}: {out}");
    }
}

#[test]
fn a_missing_folder_stops_the_start_naming_it() {
    let err = Server::new().serve_dir("/static", "/no/such/folder").bind(([127, 0, 0, 1], 0)).start().unwrap_err();
    let err = err.to_string();
    assert!(err.starts_with(r#"serve_dir("/static", "/no/such/folder"): cannot serve the folder: "#), "{err}");
}
