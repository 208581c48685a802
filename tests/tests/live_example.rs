//! The `live` example as it runs (`target/debug/examples/live`, which `cargo test` builds),
//! with real clients: its page, the clock with `curl -N`, uploads with `curl -F`, the chat
//! with two WebSocket clients (tokio-tungstenite), plain and over TLS, in both server types;
//! and its shutdown, timed, with a clock and a chat open.

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{Process, scratch_dir, signed_certificate};
use tokio_tungstenite::tungstenite::Message;

/// The example's binary, beside this test's.
fn program() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join("examples").join("live");
    assert!(path.exists(), "{} is missing: `cargo test` builds it (or `cargo build --example live`)", path.display());
    path
}

/// The example in a fresh folder (its uploads go to `uploads/` there), one worker.
fn live(server_type: &str, env: &[(&str, &str)]) -> (Process, PathBuf) {
    let dir = scratch_dir();
    let mut all = vec![("APPSERVER_SERVER_TYPE", server_type), ("APPSERVER_WORKERS", "1")];
    all.extend_from_slice(env);
    (Process::start_program(&program(), &dir, &all), dir)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A chat socket as `name`, over `tcp` (plain or TLS).
async fn join<S>(url: String, tcp: S) -> tokio_tungstenite::WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (socket, response) = tokio_tungstenite::client_async(url, tcp).await.expect("the handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// The next text a chat socket receives.
async fn heard<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.as_str().to_owned(),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a text, got {other:?}"),
        }
    }
}

/// `curl -sN` on `url`, its output line by line.
fn curl_stream(url: &str) -> (std::process::Child, impl Iterator<Item = String> + use<>) {
    let mut curl = Command::new("curl").args(["-sN", "--max-time", "20", url]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(curl.stdout.take().unwrap()).lines().map_while(Result::ok);
    (curl, lines)
}

#[test]
fn the_page_the_clock_uploads_and_the_chat_in_both_server_types() {
    for server_type in ["threaded", "forked"] {
        let (server, dir) = live(server_type, &[]);
        let addr = server.addr();

        // The page uses the chat and the clock.
        let page = Command::new("curl").args(["-si", &format!("http://{addr}/")]).output().unwrap();
        let page = String::from_utf8_lossy(&page.stdout);
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("content-type: text/html; charset=utf-8\r\n"), "{page}");
        assert!(page.contains("new WebSocket(`${scheme}//${location.host}/chat?name=${name}`)"), "{page}");
        assert!(page.contains("new EventSource(\"/clock\")"), "{page}");

        // The clock: an event a second, each with the time and an id.
        let (mut curl, lines) = curl_stream(&format!("http://{addr}/clock"));
        let started = Instant::now();
        let data: Vec<String> =
            lines.filter_map(|line| line.strip_prefix("data: ").map(str::to_owned)).take(2).collect();
        let took = started.elapsed();
        curl.kill().unwrap();
        let _ = curl.wait();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let unix: Vec<u64> = data
            .iter()
            .map(|d| d.strip_prefix("{\"unix\":").and_then(|d| d.strip_suffix('}')).unwrap().parse().unwrap())
            .collect();
        assert!(unix.iter().all(|&t| now.abs_diff(t) <= 5), "{data:?} at {now}");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");

        // Uploads: a 5 MiB file and a form value, each streamed to a file of its own.
        let file = dir.join("big.bin");
        let content: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &content).unwrap();
        let out = Command::new("curl")
            .args(["-s", "-F", &format!("photo=@{};type=image/png", file.display()), "-F", "note=hello"])
            .arg(format!("http://{addr}/upload/"))
            .output()
            .unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON answer");
        assert_eq!(stored[0]["field"], "photo");
        assert_eq!(stored[0]["file_name"], "big.bin");
        assert_eq!(stored[0]["content_type"], "image/png");
        assert_eq!(stored[0]["bytes"], 5 << 20);
        assert_eq!(stored[1]["field"], "note");
        assert_eq!(stored[1]["bytes"], 5);
        let saved = |i: usize| std::fs::read(dir.join("uploads").join(stored[i]["stored"].as_str().unwrap())).unwrap();
        assert!(saved(0) == content, "the stored file differs from the one sent");
        assert_eq!(saved(1), b"hello");
        // Not a multipart body: a JSON 415.
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-d", "x=1", &format!("http://{addr}/upload/")])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.ends_with("\n415") && out.starts_with("{\"error\":{\"status\":415,"), "{out}");

        // The chat: what one says, everyone hears.
        runtime().block_on(async {
            let tcp = || async { tokio::net::TcpStream::connect(addr).await.unwrap() };
            let mut ada = join(format!("ws://{addr}/chat?name=ada"), tcp().await).await;
            let mut bob = join(format!("ws://{addr}/chat?name=bob"), tcp().await).await;
            ada.send(Message::text("hello, bob")).await.unwrap();
            let said = r#"{"from":"ada","text":"hello, bob"}"#;
            assert_eq!(heard(&mut bob).await, said);
            assert_eq!(heard(&mut ada).await, said);
            bob.send(Message::text("hi")).await.unwrap();
            assert_eq!(heard(&mut ada).await, r#"{"from":"bob","text":"hi"}"#);
            // A name the room refuses: the handshake is answered 400, in JSON.
            let refused = tokio_tungstenite::client_async(format!("ws://{addr}/chat?name="), tcp().await).await;
            match refused {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 400);
                    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
                    assert!(body.contains("`name` takes 1 to 32 characters"), "{body}");
                }
                other => panic!("expected a 400, got {other:?}"),
            }
        });
    }
}

#[test]
fn the_chat_over_tls_in_both_server_types() {
    for server_type in ["threaded", "forked"] {
        let dir = scratch_dir();
        let (cert, key, ca) = signed_certificate(&dir);
        let (server, _) = live(
            server_type,
            &[("APPSERVER_TLS_CERT", cert.to_str().unwrap()), ("APPSERVER_TLS_KEY", key.to_str().unwrap())],
        );
        let port = server.addr().port();
        runtime().block_on(async {
            use tokio_rustls::rustls::pki_types::pem::PemObject as _;
            use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_file(&ca).unwrap()).unwrap();
            let config =
                tokio_rustls::rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let tls = || async {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.expect("a TLS session")
            };
            let mut ada = join(format!("wss://localhost:{port}/chat?name=ada"), tls().await).await;
            let mut bob = join(format!("wss://localhost:{port}/chat?name=bob"), tls().await).await;
            ada.send(Message::text("over TLS")).await.unwrap();
            assert_eq!(heard(&mut bob).await, r#"{"from":"ada","text":"over TLS"}"#, "{server_type}");
            ada.send(Message::Ping(appserver::Bytes::from_static(b"ping"))).await.unwrap();
            loop {
                match ada.next().await.unwrap().unwrap() {
                    Message::Pong(data) => break assert_eq!(&data[..], b"ping"),
                    Message::Text(_) => {}
                    other => panic!("{other:?}"),
                }
            }
        });
    }
}

#[test]
fn at_sigterm_the_clock_says_goodbye_and_the_chat_closes_with_1001_in_both_server_types() {
    for server_type in ["threaded", "forked"] {
        let (mut server, _) = live(server_type, &[("APPSERVER_GRACEFUL_TIMEOUT", "10")]);
        let addr = server.addr();
        let (curl, mut lines) = curl_stream(&format!("http://{addr}/clock"));
        assert!(lines.next().is_some_and(|line| line == "event: tick"));
        let (closed, chat_ended, exited, rest) = runtime().block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut ada = join(format!("ws://{addr}/chat?name=ada"), tcp).await;
            ada.send(Message::text("still here")).await.unwrap();
            assert_eq!(heard(&mut ada).await, r#"{"from":"ada","text":"still here"}"#);
            let started = Instant::now();
            Process::kill(server.pid(), "TERM");
            let closed = loop {
                match ada.next().await {
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    other => panic!("expected a close frame, got {other:?}"),
                }
            };
            let chat_ended = started.elapsed();
            let rest: Vec<String> = lines.by_ref().collect();
            let status = server.wait(Duration::from_secs(15)).expect("the server exits");
            assert_eq!(status.code(), Some(0), "{server_type}");
            (closed, chat_ended, started.elapsed(), rest)
        });
        let curl = curl.wait_with_output().unwrap();
        println!("{server_type}: the chat closed {chat_ended:?} after SIGTERM, the process exited after {exited:?}");
        assert_eq!(closed, Some(1001), "{server_type}");
        assert!(curl.status.success(), "curl ends cleanly: {:?}", curl.status);
        let tail = rest.join("\n");
        assert!(tail.trim_end().ends_with("event: bye\ndata: the server is stopping"), "{tail:?}");
        assert!(exited < Duration::from_millis(1500), "{server_type}: {exited:?} (graceful_timeout is 10 s)");
    }
}
