//! [`Cookies`]: the cookies a request sends.

use super::error::Error;
use super::extract::FromRequest;
use super::request::Request;
use cookie::Cookie;
use http::header::COOKIE;

/// The cookies of the request's `Cookie` headers, parsed with the `cookie` crate; a pair
/// that does not parse is left out.
///
/// ```
/// use appserver::{route, Cookies};
///
/// #[route(GET, r"/me/")]
/// fn me(cookies: Cookies) -> serde_json::Value {
///     serde_json::json!({ "theme": cookies.get("theme") })
/// }
/// ```
///
/// Setting one is a `Set-Cookie` header, built with the same crate (re-exported as
/// [`appserver::cookie`](crate::cookie)):
///
/// ```
/// use appserver::cookie::{Cookie, SameSite};
/// use appserver::http::header::SET_COOKIE;
/// use appserver::{route, Redirect};
///
/// #[route(POST, r"/login/")]
/// fn login() -> ([(appserver::http::HeaderName, String); 1], Redirect) {
///     let session = Cookie::build(("session", "opaque-id"))
///         .http_only(true)
///         .secure(true)
///         .same_site(SameSite::Lax)
///         .path("/");
///     ([(SET_COOKIE, session.to_string())], Redirect::to("/"))
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cookies(Vec<Cookie<'static>>);

impl Cookies {
    /// The value of the cookie `name`, if the request sent it (the first, if it sent it
    /// twice).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|cookie| cookie.name() == name).map(Cookie::value)
    }

    /// Every cookie, as `(name, value)`, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|cookie| (cookie.name(), cookie.value()))
    }
}

impl FromRequest for Cookies {
    fn from_request(request: &Request) -> Result<Self, Error> {
        let headers = request.headers.get_all(COOKIE).iter().filter_map(|value| value.to_str().ok());
        let cookies = headers.flat_map(|value| Cookie::split_parse(value.to_owned()).filter_map(Result::ok)).collect();
        Ok(Cookies(cookies))
    }
}
