//! Run with: cargo run --example notes
//!
//! A notes API that uses every kind of parameter and answer its OpenAPI document
//! describes: path groups, a query, JSON and form bodies, bearer tokens with roles, and
//! JSON, `201 Created`, a status picked at run time, HTML, plain text, a redirect, an
//! event stream and a WebSocket. `.ci/run` checks the document against the server with
//! schemathesis.
//!
//! ```text
//! curl -s localhost:8080/openapi.json
//! curl -s -X POST localhost:8080/notes/ -H 'authorization: Bearer writer-0123456789' \
//!      -H 'content-type: application/json' -d '{"text":"milk","tags":["shop"]}'
//! curl -s 'localhost:8080/notes/?tag=shop&limit=10'
//! curl -s localhost:8080/notes/1.txt
//! curl -sN localhost:8080/notes/1/history
//! ```
//!
//! Without `auth_tokens` configured it makes two for the demo: `writer-0123456789` (role
//! `writer`) and `admin-0123456789` (roles `writer` and `admin`).

use appserver::sse::{Event, Sse};
use appserver::ws::{Message, WebSocketUpgrade};
use appserver::{
    Bearer, Created, Error, Form, Html, Json, Query, Redirect, Response, Role, Server, State, StatusCode, Text, Tokens,
    route,
};
use futures_util::stream::{self, Stream};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Mutex;

/// May write notes.
struct Writer;

impl Role for Writer {
    const NAME: &'static str = "writer";
}

/// May delete notes.
struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

/// A stored note, with each text it had.
#[derive(Serialize, JsonSchema, Clone)]
struct Note {
    id: u64,
    text: String,
    tags: Vec<String>,
    /// Its earlier texts, oldest first.
    history: Vec<String>,
}

/// What a client sends to write a note.
#[derive(Deserialize, JsonSchema)]
struct NewNote {
    /// 1 to 1,000 characters.
    #[schemars(length(min = 1, max = 1000))]
    text: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// The notes, in memory.
#[derive(Default)]
struct Notes {
    notes: Mutex<BTreeMap<u64, Note>>,
}

impl Notes {
    fn add(&self, new: NewNote) -> Result<Note, Error> {
        valid(&new)?;
        let mut notes = self.notes.lock().unwrap();
        let id = match notes.last_key_value() {
            None => 1,
            Some((last, _)) => last.checked_add(1).ok_or_else(|| Error::new(StatusCode::CONFLICT, "no ids left"))?,
        };
        let note = Note { id, text: new.text, tags: new.tags, history: Vec::new() };
        notes.insert(id, note.clone());
        Ok(note)
    }

    fn get(&self, id: u64) -> Result<Note, Error> {
        self.notes.lock().unwrap().get(&id).cloned().ok_or_else(|| no_note(id))
    }
}

fn valid(new: &NewNote) -> Result<(), Error> {
    match new.text.chars().count() {
        1..=1000 => Ok(()),
        _ => Err(Error::new(StatusCode::UNPROCESSABLE_ENTITY, "`text` must have 1 to 1,000 characters")),
    }
}

fn no_note(id: u64) -> Error {
    Error::new(StatusCode::NOT_FOUND, format!("no note {id}"))
}

/// The notes' filter, from the query string.
#[derive(Deserialize, JsonSchema)]
struct Filter {
    /// Only notes with this tag.
    tag: Option<String>,
    /// At most this many (default 100).
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<u16>,
}

/// A page for people.
#[route(GET, r"/")]
fn home(notes: State<Notes>) -> Html<String> {
    let count = notes.notes.lock().unwrap().len();
    Html(format!("<!doctype html><title>Notes</title><h1>Notes</h1><p>{count} notes.</p>"))
}

#[route(GET, r"/notes/")]
fn list(notes: State<Notes>, filter: Query<Filter>) -> appserver::Result<Vec<Note>> {
    let filter = filter.0;
    let limit = match filter.limit.unwrap_or(100) {
        limit @ 1..=1000 => limit.into(),
        _ => return Err(Error::bad_request("`limit` must be 1 to 1,000")),
    };
    let notes = notes.notes.lock().unwrap();
    let tagged = |note: &&Note| filter.tag.as_ref().is_none_or(|tag| note.tags.contains(tag));
    Ok(notes.values().filter(tagged).take(limit).cloned().collect())
}

#[route(POST, r"/notes/")]
fn create(_writer: Bearer<Writer>, notes: State<Notes>, new: Json<NewNote>) -> appserver::Result<Created<Note>> {
    Ok(Created(notes.add(new.0)?))
}

/// What an HTML form sends to write a note.
#[derive(Deserialize, JsonSchema)]
struct FormNote {
    /// 1 to 1,000 characters.
    #[schemars(length(min = 1, max = 1000))]
    text: String,
    /// One tag, or none.
    tag: Option<String>,
}

/// An HTML form's way to write a note: to the note after.
#[route(POST, r"/notes/form")]
fn create_from_form(_writer: Bearer<Writer>, notes: State<Notes>, form: Form<FormNote>) -> appserver::Result<Redirect> {
    let FormNote { text, tag } = form.0;
    let note = notes.add(NewNote { text, tags: tag.into_iter().collect() })?;
    Ok(Redirect::to(&format!("/notes/{}", note.id)))
}

#[route(GET, r"/notes/(?P<id>\d+)")]
fn note(notes: State<Notes>, id: u64) -> appserver::Result<Note> {
    notes.get(id)
}

/// Writes note `id`: a 201 if it is new, a 200 if it was there.
#[route(PUT, r"/notes/(?P<id>\d+)")]
fn put(
    _writer: Bearer<Writer>,
    notes: State<Notes>,
    id: u64,
    new: Json<NewNote>,
) -> appserver::Result<(StatusCode, Note)> {
    let new = new.0;
    valid(&new)?;
    let mut notes = notes.notes.lock().unwrap();
    let (status, note) = match notes.get_mut(&id) {
        Some(note) => {
            note.history.push(std::mem::replace(&mut note.text, new.text));
            note.tags = new.tags;
            (StatusCode::OK, note.clone())
        }
        None => {
            let note = Note { id, text: new.text, tags: new.tags, history: Vec::new() };
            notes.insert(id, note.clone());
            (StatusCode::CREATED, note)
        }
    };
    Ok((status, note))
}

#[route(DELETE, r"/notes/(?P<id>\d+)")]
fn delete(_admin: Bearer<Admin>, notes: State<Notes>, id: u64) -> appserver::Result<Note> {
    notes.notes.lock().unwrap().remove(&id).ok_or_else(|| no_note(id))
}

/// The note's text alone.
#[route(GET, r"/notes/(?P<id>\d+)\.txt")]
fn text(notes: State<Notes>, id: u64) -> appserver::Result<Text<String>> {
    Ok(Text(notes.get(id)?.text))
}

/// The note's texts, oldest first, as events; the stream ends with the current one.
#[route(GET, r"/notes/(?P<id>\d+)/history")]
fn history(notes: State<Notes>, id: u64) -> appserver::Result<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let note = notes.get(id)?;
    let texts = note.history.into_iter().chain([note.text]).enumerate();
    Ok(Sse::new(stream::iter(texts.map(|(n, text)| Ok(Event::default().id(n.to_string()).data(text))))))
}

/// Echoes each text message, upper-cased.
#[route(GET, r"/shout")]
fn shout(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(text) = message
                && socket.send(Message::Text(text.to_uppercase())).await.is_err()
            {
                break;
            }
        }
    })
}

fn main() -> Result<(), appserver::ServeError> {
    let mut server = Server::new().state(Notes::default()).openapi_info("notes", "1.0.0");
    let config = server.config()?;
    if config.auth_tokens().is_empty() {
        let tokens = Tokens::new().token("writer", "writer-0123456789", ["writer"]).token(
            "admin",
            "admin-0123456789",
            ["writer", "admin"],
        );
        server = server.auth_tokens(tokens);
    }
    if config.openapi_path().is_none() {
        server = server.openapi_path(Some("/openapi.json".into()));
    }
    server.serve()
}
