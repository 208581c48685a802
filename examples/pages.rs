//! Run with: cargo run --example pages
//!
//! A small site beside the JSON: HTML pages, a form that logs in with a cookie and
//! redirects, a logout, an error type of its own, and a page for every path no route
//! matches.
//!
//! ```text
//! curl -si localhost:8080/
//! curl -si -X POST localhost:8080/login/ -d 'name=Ada'
//! curl -si localhost:8080/ -H 'cookie: name=Ada'
//! curl -si localhost:8080/notes/7
//! curl -si localhost:8080/no/such/page
//! ```

use appserver::cookie::{Cookie, SameSite};
use appserver::http::HeaderName;
use appserver::http::header::SET_COOKIE;
use appserver::{
    Cookies, Error, Form, Html, IntoResponse, Redirect, Response, Server, StatusCode, Uri, fallback, route,
};
use serde::Deserialize;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[route(GET, r"/")]
fn home(cookies: Cookies) -> Html<String> {
    let body = match cookies.get("name") {
        Some(name) => {
            format!("<p>Hello, {}.</p><form method=post action=/logout/><button>Log out</button></form>", escape(name))
        }
        None => "<form method=post action=/login/><input name=name><button>Log in</button></form>".to_owned(),
    };
    Html(format!("<!doctype html><title>Notes</title><h1>Notes</h1>{body}"))
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

/// Sets the `name` cookie and sends the browser back home (303: it GETs `/`).
#[route(POST, r"/login/")]
fn login(form: Form<Login>) -> ([(HeaderName, String); 1], Redirect) {
    let cookie = Cookie::build(("name", form.0.name)).path("/").http_only(true).same_site(SameSite::Lax);
    ([(SET_COOKIE, cookie.to_string())], Redirect::to("/"))
}

#[route(POST, r"/logout/")]
fn logout() -> ([(HeaderName, String); 1], Redirect) {
    ([(SET_COOKIE, Cookie::build(("name", "")).path("/").removal().to_string())], Redirect::to("/"))
}

/// The site's own error: a page, not JSON.
#[derive(Debug)]
enum NoteError {
    Missing(u32),
}

impl IntoResponse for NoteError {
    fn into_response(self) -> Response {
        match self {
            NoteError::Missing(id) => {
                let page = Html(format!("<!doctype html><h1>No note {id}</h1><a href=/>Home</a>"));
                (StatusCode::NOT_FOUND, page).into_response()
            }
        }
    }
}

#[route(GET, r"/notes/(?P<id>\d+)")]
fn note(id: u32) -> Result<Html<&'static str>, NoteError> {
    match id {
        1 => Ok(Html("<!doctype html><h1>The first note</h1>")),
        _ => Err(NoteError::Missing(id)),
    }
}

/// The JSON error of the framework stays available where an API wants it.
#[route(GET, r"/api/notes/(?P<id>\d+)")]
fn api_note(id: u32) -> Result<serde_json::Value, Error> {
    match id {
        1 => Ok(serde_json::json!({ "id": 1, "text": "The first note" })),
        _ => Err(Error::not_found(format!("no note {id}"))),
    }
}

/// Every other path: a page, not the JSON 404.
#[fallback]
fn not_found(uri: Uri) -> (StatusCode, Html<String>) {
    let page = format!("<!doctype html><h1>Nothing at {}</h1><a href=/>Home</a>", escape(uri.path()));
    (StatusCode::NOT_FOUND, Html(page))
}

fn main() -> Result<(), appserver::ServeError> {
    Server::new().serve()
}

#[cfg(test)]
mod tests {
    use super::*;
    use appserver::TestClient;

    #[test]
    fn log_in_see_a_page_and_log_out() {
        let client = TestClient::new(Server::new()).unwrap();
        let home = client.get("/").send();
        assert_eq!(home.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(home.text().contains("Log in"), "{}", home.text());

        let login = client.post("/login/").form(&[("name", "<Ada>")]).send();
        assert_eq!((login.status(), login.header("location")), (StatusCode::SEE_OTHER, Some("/")));
        let cookie = login.header("set-cookie").unwrap();
        assert!(cookie.starts_with("name=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));

        let home = client.get("/").header("cookie", "name=<Ada>").send();
        assert!(home.text().contains("Hello, &lt;Ada&gt;."), "escaped: {}", home.text());

        let logout = client.post("/logout/").send();
        assert!(logout.header("set-cookie").unwrap().contains("Max-Age=0"), "{:?}", logout.header("set-cookie"));

        let missing = client.get("/notes/7").send();
        assert_eq!(
            (missing.status(), missing.header("content-type")),
            (StatusCode::NOT_FOUND, Some("text/html; charset=utf-8"))
        );
        assert!(missing.text().contains("No note 7"));
        let api = client.get("/api/notes/7").send();
        assert_eq!(api.text(), r#"{"error":{"status":404,"message":"no note 7"}}"#);

        let nowhere = client.get("/no/such/page").send();
        assert_eq!(
            (nowhere.status(), nowhere.header("content-type")),
            (StatusCode::NOT_FOUND, Some("text/html; charset=utf-8"))
        );
        assert!(nowhere.text().contains("Nothing at /no/such/page"));
        // A path a route answers under another method stays a 405.
        assert_eq!(client.get("/login/").send().status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
