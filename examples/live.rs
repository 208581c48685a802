//! Run with: cargo run --example live
//!
//! Live answers: a chat over WebSocket with a page that uses it, a clock over Server-Sent
//! Events, and an upload endpoint that streams files to disk. Open http://127.0.0.1:8080/
//! in two browser tabs, or:
//!
//! ```text
//! curl -N localhost:8080/clock
//! curl -F 'photo=@cat.jpg' -F 'note=hello' localhost:8080/upload/
//! ```
//!
//! The chat's room lives in the process: in Forked mode each worker has a room of its own
//! (`APPSERVER_WORKERS=1` makes one), as a chat across processes needs a shared engine. At
//! shutdown the clock sends a last event and ends, and each chat socket closes with 1001.

use appserver::sse::{Event, Sse};
use appserver::ws::{Message, WebSocketUpgrade};
use appserver::{Error, Html, Multipart, Query, Response, Server, Shutdown, State, route};
use futures_util::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::broadcast;

/// The page: the chat, the clock and the upload form, in plain JavaScript.
#[route(GET, r"/")]
fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Live</title>
<h1>Live</h1>
<p>Server time: <output id="clock">…</output></p>
<h2>Chat</h2>
<ul id="said"></ul>
<form id="say"><input id="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
<h2>Upload</h2>
<form id="upload"><input type="file" name="file" multiple><button>Upload</button></form>
<pre id="uploaded"></pre>
<script>
const clock = new EventSource("/clock");
clock.addEventListener("tick", (e) => {
  document.getElementById("clock").textContent = new Date(JSON.parse(e.data).unix * 1000).toLocaleTimeString();
});
const name = "guest-" + Math.floor(Math.random() * 1000);
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const chat = new WebSocket(`${scheme}//${location.host}/chat?name=${name}`);
chat.onmessage = (e) => {
  const said = JSON.parse(e.data);
  const item = document.createElement("li");
  item.textContent = `${said.from}: ${said.text}`;
  document.getElementById("said").append(item);
};
chat.onclose = (e) => {
  const item = document.createElement("li");
  item.textContent = `(the chat closed: ${e.code})`;
  document.getElementById("said").append(item);
};
document.getElementById("say").onsubmit = (e) => {
  e.preventDefault();
  const text = document.getElementById("text");
  chat.send(text.value);
  text.value = "";
};
document.getElementById("upload").onsubmit = async (e) => {
  e.preventDefault();
  const answer = await fetch("/upload/", { method: "POST", body: new FormData(e.target) });
  document.getElementById("uploaded").textContent = JSON.stringify(await answer.json(), null, 2);
};
</script>
"#;

/// The chat room: everything said goes to everyone in it.
struct Room {
    said: broadcast::Sender<String>,
}

/// What someone said, as the sockets send it.
#[derive(Serialize)]
struct Said<'a> {
    from: &'a str,
    text: &'a str,
}

#[derive(Deserialize)]
struct Who {
    name: String,
}

/// Joins the room as `?name=`: what the socket says goes to everyone, what anyone says comes
/// back. A name of 1 to 32 characters.
#[route(GET, r"/chat")]
fn chat(ws: WebSocketUpgrade, who: Query<Who>, room: State<Room>) -> Result<Response, Error> {
    let name = who.0.name;
    if name.is_empty() || name.chars().count() > 32 {
        return Err(Error::bad_request("`name` takes 1 to 32 characters"));
    }
    Ok(ws.on_upgrade(move |mut socket| async move {
        let mut heard = room.said.subscribe();
        loop {
            tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let said = serde_json::to_string(&Said { from: &name, text: &text }).unwrap_or_default();
                        // Nobody listening is no error.
                        let _ = room.said.send(said);
                    }
                    Some(Ok(_)) => {}
                    // Closed by the client, broken, or the server shuts down.
                    Some(Err(_)) | None => return,
                },
                said = heard.recv() => match said {
                    Ok(said) => {
                        if socket.send(Message::Text(said)).await.is_err() {
                            return;
                        }
                    }
                    // A socket too slow to keep up misses what it could not take.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }))
}

/// The time, every second (`event: tick`, `data: {"unix": …}`); at shutdown, a last event
/// `bye`.
#[route(GET, r"/clock")]
fn clock(shutdown: Shutdown) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let every = tokio::time::interval(Duration::from_secs(1));
    let ticks = futures_util::stream::unfold(every, |mut every| async move {
        every.tick().await;
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let event = Event::default().event("tick").id(unix.to_string()).data(format!("{{\"unix\":{unix}}}"));
        Some((Ok(event), every))
    });
    let bye = futures_util::stream::once(async { Ok(Event::default().event("bye").data("the server is stopping")) });
    Sse::new(ticks.take_until(shutdown.wait()).chain(bye)).keep_alive(Duration::from_secs(15))
}

/// Where uploads go, and how many this process stored.
struct Uploads {
    folder: PathBuf,
    stored: AtomicU64,
}

/// A field of an upload, as stored.
#[derive(Serialize)]
struct Stored {
    field: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: u64,
    /// The file's name in the uploads folder (never the client's name: that is no path).
    stored: String,
}

/// Streams every field of a `multipart/form-data` body of up to 1 GiB into a file of its
/// own in the uploads folder, holding one chunk at a time; a failed upload leaves no file.
#[route(POST, r"/upload/", max_body_bytes = 1_073_741_824)]
async fn upload(mut form: Multipart, uploads: State<Uploads>) -> Result<Vec<Stored>, Error> {
    let mut stored = Vec::new();
    while let Some(mut field) = form.next_field().await? {
        let n = uploads.stored.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n}", std::process::id());
        let path = uploads.folder.join(&name);
        let mut file = tokio::fs::File::create(&path).await?;
        let mut bytes = 0;
        let written = async {
            while let Some(chunk) = field.chunk().await? {
                bytes += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            Ok::<_, Error>(())
        };
        if let Err(error) = written.await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(error);
        }
        stored.push(Stored {
            field: field.name().map(str::to_owned),
            file_name: field.file_name().map(str::to_owned),
            content_type: field.content_type().map(str::to_owned),
            bytes,
            stored: name,
        });
    }
    Ok(stored)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = PathBuf::from(std::env::var_os("UPLOADS").unwrap_or_else(|| "uploads".into()));
    std::fs::create_dir_all(&folder)?;
    let (said, _) = broadcast::channel(256);
    Server::new().state(Room { said }).state(Uploads { folder, stored: AtomicU64::new(0) }).serve()?;
    Ok(())
}
