//! Routes that live in a library crate, as an application's would. The `serve` binary and
//! the end-to-end tests name this crate (`use appserver_tests as _;`) so that they are
//! linked; the suites check that they are served, in both server types.

use appserver::{Bytes, Json, StatusCode, route};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The original server's example route.
#[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
pub fn get_object(object_type: String, object_id: u64) -> Value {
    json!({ "object_type": object_type, "object_id": object_id })
}

/// A route defined in a library crate.
#[route(GET, r"/library/(?P<name>[a-z]+)")]
pub fn library_route(name: String) -> Value {
    json!({ "from": "library", "name": name })
}

/// A person, as JSON.
#[derive(Deserialize, Serialize)]
pub struct Person {
    /// The name.
    pub name: String,
    /// The age.
    pub age: u32,
}

/// A JSON body in, a 201 out.
#[route(POST, r"/person/")]
pub fn create_person(person: Json<Person>) -> (StatusCode, Person) {
    (StatusCode::CREATED, person.0)
}

/// The length of the body.
#[route(POST, r"/upload/")]
pub fn upload(body: Bytes) -> usize {
    body.len()
}

/// The id of the process that answers: in Forked mode, which worker.
#[route(GET, r"/pid")]
pub fn pid() -> u32 {
    std::process::id()
}

/// A sync handler that sleeps on the server's own thread: the kind `blocking` is for.
#[route(GET, r"/sleep/(?P<millis>\d+)")]
pub fn sleep(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

/// The same, marked `blocking`: it runs on the blocking pool.
#[route(GET, r"/blocking/(?P<millis>\d+)", blocking)]
pub fn blocking_sleep(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

/// An async handler that waits without blocking.
#[route(GET, r"/async-sleep/(?P<millis>\d+)")]
pub async fn async_sleep(millis: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    millis
}

/// A handler that panics.
#[route(GET, r"/panic/")]
pub fn panics() -> u64 {
    panic!("panicking on purpose")
}

/// A handler error whose message is client text: logged (escaped), answered as a 500.
#[route(GET, r"/fail/(?P<text>.+)")]
pub fn fail(text: String) -> Result<u8, std::io::Error> {
    Err(std::io::Error::other(text))
}

/// A panic whose message is client text.
#[route(GET, r"/panic-with/(?P<text>.+)")]
pub fn panic_with(text: String) -> u8 {
    panic!("{text}")
}

/// Logs `times` warnings as a chatty dependency would.
#[route(GET, r"/warn/(?P<times>\d+)")]
pub fn warn(times: u32) -> u32 {
    for i in 0..times {
        tracing::warn!(target: "chatty_dependency", i, "a dependency warns");
    }
    times
}

/// `mib` MiB of `x`, held whole until sent: a large answer for a slow reader.
#[route(GET, r"/big/(?P<mib>\d+)")]
pub fn big(mib: usize) -> appserver::Response {
    appserver::Response::new(appserver::Body::from(vec![b'x'; mib.min(64) << 20]))
}

/// Counts the bytes of a body of up to 1 GiB, read as it arrives.
#[route(POST, r"/stream-upload/", max_body_bytes = 1_073_741_824)]
pub async fn stream_upload(mut body: appserver::BodyStream) -> Result<u64, appserver::Error> {
    let mut total = 0;
    while let Some(chunk) = body.chunk().await {
        total += chunk?.len() as u64;
    }
    Ok(total)
}

/// An event every 100 ms, for ever: a live stream for the shutdown tests.
#[route(GET, r"/ticks/")]
pub async fn ticks()
-> appserver::sse::Sse<impl futures_util::Stream<Item = Result<appserver::sse::Event, std::convert::Infallible>>> {
    let ticks = futures_util::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok(appserver::sse::Event::default().data(n.to_string())), n + 1))
    });
    appserver::sse::Sse::new(ticks)
}

/// The same, with a last event when the server shuts down.
#[route(GET, r"/ticks-farewell/")]
pub async fn ticks_farewell(
    shutdown: appserver::Shutdown,
) -> appserver::sse::Sse<impl futures_util::Stream<Item = Result<appserver::sse::Event, std::convert::Infallible>>> {
    use futures_util::StreamExt as _;
    let every = tokio::time::interval(Duration::from_millis(100));
    let ticks = futures_util::stream::unfold((every, 0u64), |(mut every, n)| async move {
        every.tick().await;
        Some((Ok(appserver::sse::Event::default().data(n.to_string())), (every, n + 1)))
    });
    let farewell =
        futures_util::stream::once(async { Ok(appserver::sse::Event::default().event("bye").data("shutting down")) });
    appserver::sse::Sse::new(ticks.take_until(shutdown.wait()).chain(farewell))
}

/// Echoes WebSocket messages; when the socket stops giving messages (the client closed it,
/// or the server shuts down), says goodbye.
#[route(GET, r"/ws/echo")]
pub fn ws_echo(ws: appserver::ws::WebSocketUpgrade) -> appserver::Response {
    use appserver::ws::Message;
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(_) | Message::Binary(_) = message {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
        }
        let _ = socket.send(Message::Text("goodbye".into())).await;
    })
}

/// Sends `tick` every 100 ms and reads nothing; at shutdown, says so and returns.
#[route(GET, r"/ws/ticks")]
pub fn ws_ticks(ws: appserver::ws::WebSocketUpgrade, shutdown: appserver::Shutdown) -> appserver::Response {
    use appserver::ws::Message;
    ws.on_upgrade(|mut socket| async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = every.tick() => {
                    if socket.send(Message::Text("tick".into())).await.is_err() {
                        return;
                    }
                }
                () = shutdown.wait() => {
                    let _ = socket.send(Message::Text("the server is shutting down".into())).await;
                    return;
                }
            }
        }
    })
}

/// The request's `x-request-id` as its handler sees it, and the `x-layer-saw` a layer may
/// have added.
#[route(GET, r"/request-id")]
pub fn request_id(headers: appserver::HeaderMap) -> Value {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    json!({"id": header("x-request-id"), "layer": header("x-layer-saw")})
}

/// Records the application's own metrics through the facade: a counter by `name`, a gauge
/// and a histogram.
#[route(GET, r"/count/(?P<name>[a-z]+)")]
pub fn count(name: String) -> u32 {
    appserver::metrics::describe_counter!("tests_hits_total", "Hits, by name.");
    appserver::metrics::counter!("tests_hits_total", "name" => name).increment(1);
    appserver::metrics::gauge!("tests_level").increment(2.5);
    appserver::metrics::histogram!("tests_size").record(0.3);
    1
}
