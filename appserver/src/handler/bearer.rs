//! The [`Bearer`] extractor a route takes to require one of the server's tokens, with a
//! [`Role`].

use super::error::Error;
use super::extract::FromRequest;
use super::request::Request;
use http::StatusCode;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Who holds a token the server accepts: its name and roles.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    pub(crate) name: Arc<str>,
    pub(crate) roles: Arc<[Box<str>]>,
}

/// Finds the holder of a presented secret; the server registers one as state
/// ([`Verifier`]), so that this layer never needs to know where tokens come from.
pub(crate) trait Verify: Send + Sync + 'static {
    /// The holder of `secret`, if it is one of the server's tokens.
    fn holder(&self, secret: &[u8]) -> Option<Holder>;
}

/// The state [`Bearer`] reads, and requires at startup.
pub(crate) struct Verifier(pub(crate) Arc<dyn Verify>);

/// A role a [`Bearer`] token must have:
///
/// ```
/// struct Admin;
///
/// impl appserver::Role for Admin {
///     const NAME: &'static str = "admin";
/// }
///
/// #[appserver::route(DELETE, r"/queues/(?P<name>\w+)")]
/// fn drop_queue(name: String, _admin: appserver::Bearer<Admin>) -> String {
///     name
/// }
/// ```
pub trait Role {
    /// The role's name, as the tokens list it.
    const NAME: &'static str;
    /// Whether any valid token will do ([`AnyRole`]).
    #[doc(hidden)]
    const ANY: bool = false;
}

/// Any valid token, whatever its roles: `Bearer` alone.
#[derive(Debug)]
pub struct AnyRole;

impl Role for AnyRole {
    const NAME: &'static str = "";
    const ANY: bool = true;
}

/// An extractor that requires `Authorization: Bearer <token>` with one of the server's
/// [`Tokens`](crate::Tokens), having the role `R` (any role for plain `Bearer`). It answers 401 with
/// `WWW-Authenticate: Bearer` when the token is missing or unknown, 403 when it lacks the
/// role. A route that takes it on a server without tokens is a startup error.
///
/// ```
/// #[appserver::route(GET, r"/whoami")]
/// fn whoami(token: appserver::Bearer) -> String {
///     token.name().to_owned()
/// }
/// ```
pub struct Bearer<R: Role = AnyRole> {
    name: Arc<str>,
    roles: Arc<[Box<str>]>,
    role: PhantomData<fn() -> R>,
}

impl<R: Role> Bearer<R> {
    /// Who holds the token: its name in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token's roles.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|r| &**r)
    }

    /// Whether the token has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }
}

impl<R: Role> fmt::Debug for Bearer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer").field("name", &self.name).field("roles", &self.roles).finish()
    }
}

/// The 401 or 403 of a request without a fitting token.
fn refused(status: StatusCode, challenge: &'static str, message: String) -> Error {
    Error::new(status, message).with_header(WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
}

impl<R: Role> FromRequest for Bearer<R> {
    const BEFORE_BODY: bool = true;

    fn from_request(request: &Request) -> Result<Self, Error> {
        let unauthorized = |challenge, message: &str| refused(StatusCode::UNAUTHORIZED, challenge, message.to_owned());
        let mut values = request.headers.get_all(AUTHORIZATION).iter();
        let (first, second) = (values.next(), values.next());
        if second.is_some() {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                r#"Bearer realm="appserver", error="invalid_request""#,
                "send one `Authorization` header, not several".to_owned(),
            ));
        }
        let presented = first
            .map(HeaderValue::as_bytes)
            .and_then(|value| value.get(..7).filter(|s| s.eq_ignore_ascii_case(b"bearer ")).map(|_| &value[7..]))
            .map(<[u8]>::trim_ascii)
            .filter(|token| !token.is_empty());
        let Some(presented) = presented else {
            return Err(unauthorized(
                r#"Bearer realm="appserver""#,
                "this route needs a bearer token: send `Authorization: Bearer <token>`",
            ));
        };
        let holder = request.state.get::<Verifier>().and_then(|verifier| verifier.0.holder(presented));
        let Some(entry) = holder else {
            return Err(unauthorized(
                r#"Bearer realm="appserver", error="invalid_token""#,
                "the bearer token is not valid",
            ));
        };
        if !R::ANY && !entry.roles.iter().any(|r| &**r == R::NAME) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                r#"Bearer realm="appserver", error="insufficient_scope""#,
                format!("this route needs a token with the role `{}`", R::NAME),
            ));
        }
        Ok(Bearer { name: entry.name, roles: entry.roles, role: PhantomData })
    }

    const BEARER: Option<&'static str> = Some(R::NAME);

    fn __required_state() -> Option<(TypeId, &'static str)> {
        Some((TypeId::of::<Verifier>(), "bearer tokens"))
    }
}
