//! [`Tokens`]: the bearer tokens of the `auth_tokens` and `auth_tokens_file` settings,
//! parsed and checked; never shown.

use std::fmt;
use std::sync::Arc;
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

/// A token's roles.
type Roles = Arc<[Box<str>]>;

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    name: Arc<str>,
    secret: Box<[u8]>,
    roles: Roles,
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

    /// The name and roles of the token whose secret is `presented`, compared in constant
    /// time with every one (only the length of a secret can show in the time taken).
    pub(crate) fn find(&self, presented: &[u8]) -> Option<(&Arc<str>, &Roles)> {
        let mut found = u32::MAX;
        for (i, entry) in self.0.iter().enumerate() {
            found.conditional_assign(&(i as u32), presented.ct_eq(&entry.secret));
        }
        self.0.get(found as usize).map(|entry| (&entry.name, &entry.roles))
    }
}

/// Names and roles; never the secrets.
impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|e| (&e.name, &e.roles))).finish()
    }
}
