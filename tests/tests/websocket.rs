//! WebSocket over real sockets, with a tokio-tungstenite client: echo, ping and pong, the
//! message limit (close 1009), a plain request to a WebSocket route (426), the idle limit
//! (close 1001), `request_timeout` not applying, and a socket holding its connection's slot.

mod support;

use appserver::ws::{Message, WebSocketUpgrade};
use appserver::{Response, Server, route};
use futures_util::{SinkExt as _, StreamExt as _};
use support::{raw, start};
use tokio_tungstenite::tungstenite::{self, protocol::frame::coding::CloseCode};

#[route(GET, r"/echo")]
fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(_) | Message::Binary(_) = message {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
        }
    })
}

#[route(GET, r"/plain")]
fn plain() -> &'static str {
    "plain"
}

type Client = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(addr: std::net::SocketAddr) -> Client {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, response) = tokio_tungstenite::client_async(format!("ws://{addr}/echo"), tcp).await.unwrap();
    assert_eq!(response.status(), 101);
    client
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn messages_echo_and_pings_are_answered() {
    let server = start(Server::new());
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        client.send(tungstenite::Message::text("hello")).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), tungstenite::Message::text("hello"));
        client.send(tungstenite::Message::binary(vec![1, 2, 3])).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), tungstenite::Message::binary(vec![1, 2, 3]));
        client.send(tungstenite::Message::Ping(appserver::Bytes::from_static(b"are you there"))).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            tungstenite::Message::Pong(appserver::Bytes::from_static(b"are you there"))
        );
        client.close(None).await.unwrap();
    });
}

#[test]
fn a_message_over_the_limit_closes_with_1009() {
    let server = start(Server::new().ws_max_message_bytes(1000));
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        client.send(tungstenite::Message::text("small")).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), tungstenite::Message::text("small"));
        client.send(tungstenite::Message::binary(vec![0u8; 5000])).await.unwrap();
        match client.next().await {
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Size);
                assert_eq!(frame.reason.as_str(), "message too big");
            }
            other => panic!("expected a close 1009, got {other:?}"),
        }
    });
}

#[test]
fn a_plain_request_to_a_websocket_route_is_a_426() {
    let server = start(Server::new());
    let out = raw(server.addr(), b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{out}");
    assert!(out.contains("\r\nupgrade: websocket\r\n"), "{out}");
    assert!(out.contains(r#""message":"this route speaks WebSocket: send a GET with `Upgrade: websocket`"#), "{out}");
}

#[test]
fn request_timeout_does_not_cut_a_websocket_but_its_idle_limit_closes_it_with_1001() {
    let server = start(
        Server::new()
            .request_timeout(std::time::Duration::from_millis(200))
            .ws_idle_timeout(std::time::Duration::from_millis(700)),
    );
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        for _ in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            client.send(tungstenite::Message::text("still here")).await.unwrap();
            assert_eq!(client.next().await.unwrap().unwrap(), tungstenite::Message::text("still here"));
        }
        let quiet = std::time::Instant::now();
        match client.next().await {
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::Away);
                assert_eq!(frame.reason.as_str(), "idle");
            }
            other => panic!("expected a close 1001, got {other:?}"),
        }
        let idle = quiet.elapsed();
        assert!(idle >= std::time::Duration::from_millis(600) && idle < std::time::Duration::from_secs(2), "{idle:?}");
    });
}

#[test]
fn websockets_hold_their_connection_slots_and_are_never_evicted() {
    let server = start(Server::new().max_connections(2).workers(1));
    let addr = server.addr();
    runtime().block_on(async {
        let mut first = connect(addr).await;
        let mut second = connect(addr).await;
        // Every slot is held by a busy socket: a newcomer waits for one, and nobody is cut.
        let newcomer = std::thread::spawn(move || {
            let asked = std::time::Instant::now();
            let out = raw(addr, b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            (out, asked.elapsed())
        });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(!newcomer.is_finished(), "the newcomer was served while both slots were held");
        for client in [&mut first, &mut second] {
            client.send(tungstenite::Message::text("ok")).await.unwrap();
            assert_eq!(client.next().await.unwrap().unwrap(), tungstenite::Message::text("ok"));
        }
        first.close(None).await.unwrap();
        while first.next().await.is_some() {}
        let (out, waited) = newcomer.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\"plain\""), "{out}");
        assert!(waited >= std::time::Duration::from_millis(500), "{waited:?}");
        second.send(tungstenite::Message::text("still")).await.unwrap();
        assert_eq!(second.next().await.unwrap().unwrap(), tungstenite::Message::text("still"));
    });
}
