//! Bearer-token auth: the configured [`Tokens`], and the [`Bearer`] extractor a route
//! takes to require one.

use crate::error::Error;
use crate::extract::FromRequest;
use crate::request::Request;
use http::StatusCode;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The shortest secret a token may have.
pub(crate) const MIN_SECRET: usize = 16;

/// The bearer tokens a server accepts, each with a name (who holds it) and roles; set with
/// the `auth_tokens` setting (`APPSERVER_AUTH_TOKENS`), or `auth_tokens_file`, or in code:
///
/// ```
/// let tokens = appserver::Tokens::new()
///     .token("worker-1", "a-long-random-secret-1", ["worker"])
///     .token("ops", "a-long-random-secret-2", ["worker", "admin"]);
/// let server = appserver::Server::new().auth_tokens(tokens);
/// # drop(server);
/// ```
///
/// Secrets are never shown: not by `Debug`, not in logs, not in configuration errors.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens(Vec<Entry>);

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    name: Arc<str>,
    secret: Box<[u8]>,
    roles: Arc<[Box<str>]>,
}

impl Tokens {
    /// No tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the token `secret`, held by `name`, with `roles`.
    pub fn token<R: Into<Box<str>>>(mut self, name: &str, secret: &str, roles: impl IntoIterator<Item = R>) -> Self {
        self.0.push(Entry {
            name: name.into(),
            secret: secret.as_bytes().into(),
            roles: roles.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens of both.
    pub(crate) fn merge(mut self, other: Tokens) -> Tokens {
        self.0.extend(other.0);
        self
    }

    /// Whether every token can be used: a name, a secret of at least [`MIN_SECRET`] bytes
    /// without white space, names and secrets each used once.
    pub(crate) fn valid(&self) -> bool {
        let mut names: Vec<&str> = self.0.iter().map(|e| &*e.name).collect();
        let mut secrets: Vec<&[u8]> = self.0.iter().map(|e| &*e.secret).collect();
        names.sort_unstable();
        names.dedup();
        secrets.sort_unstable();
        secrets.dedup();
        names.len() == self.0.len()
            && secrets.len() == self.0.len()
            && self.0.iter().all(|e| {
                !e.name.is_empty()
                    && e.secret.len() >= MIN_SECRET
                    && !e.secret.iter().any(u8::is_ascii_whitespace)
                    && e.roles.iter().all(|r| !r.is_empty())
            })
    }

    /// Parses `name:secret:role+role, ...` (the form of an environment variable).
    pub(crate) fn parse(text: &str) -> Option<Tokens> {
        let mut tokens = Tokens::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (name, rest) = item.split_once(':')?;
            let (secret, roles) = rest.rsplit_once(':')?;
            tokens = tokens.token(name.trim(), secret, roles.split('+').map(str::trim).filter(|r| !r.is_empty()));
        }
        Some(tokens)
    }

    /// The entry whose secret is `presented`, compared in constant time with every one
    /// (only the length of a secret can show in the time taken).
    fn find(&self, presented: &[u8]) -> Option<&Entry> {
        let mut found = u32::MAX;
        for (i, entry) in self.0.iter().enumerate() {
            found.conditional_assign(&(i as u32), presented.ct_eq(&entry.secret));
        }
        self.0.get(found as usize)
    }
}

/// The tokens a running server checks: shared by its connections, replaced when the
/// configuration is read again (SIGHUP) without a restart.
#[derive(Clone, Default)]
pub(crate) struct LiveTokens(Arc<RwLock<Arc<Tokens>>>);

impl LiveTokens {
    pub(crate) fn new(tokens: Tokens) -> Self {
        LiveTokens(Arc::new(RwLock::new(Arc::new(tokens))))
    }

    /// From now on, `tokens`; requests being checked finish with the old ones.
    pub(crate) fn replace(&self, tokens: Tokens) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tokens);
    }

    fn current(&self) -> Arc<Tokens> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Names and roles; never the secrets.
impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|e| (&e.name, &e.roles))).finish()
    }
}

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
/// [`Tokens`], having the role `R` (any role for plain `Bearer`). It answers 401 with
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
    fn from_request(request: &Request) -> Result<Self, Error> {
        let unauthorized = |challenge, message: &str| refused(StatusCode::UNAUTHORIZED, challenge, message.to_owned());
        let presented = request
            .headers
            .get(AUTHORIZATION)
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
        let tokens = request.state.get::<LiveTokens>().map(|live| live.current()).unwrap_or_default();
        let Some(entry) = tokens.find(presented) else {
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
        Ok(Bearer { name: Arc::clone(&entry.name), roles: Arc::clone(&entry.roles), role: PhantomData })
    }

    fn __required_state() -> Option<(TypeId, &'static str)> {
        Some((TypeId::of::<Tokens>(), "bearer tokens"))
    }
}
