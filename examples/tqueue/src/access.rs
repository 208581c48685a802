//! Who may do what: with tokens configured, a bearer token with the route's role; with
//! none, anyone who can reach the server (loopback only, unless `allow_anonymous`).

use appserver::{AnyRole, Bearer, Error, FromRequest, Request, Role};
use std::marker::PhantomData;

/// Puts tasks.
#[derive(Debug)]
pub struct Produce;

impl Role for Produce {
    const NAME: &'static str = "produce";
}

/// Leases tasks and finishes them.
#[derive(Debug)]
pub struct Consume;

impl Role for Consume {
    const NAME: &'static str = "consume";
}

/// Lists and requeues dead tasks.
#[derive(Debug)]
pub struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

/// Whether the server runs without tokens: its state.
#[derive(Clone, Copy, Debug)]
pub struct Anonymous(pub bool);

/// The caller of a route, allowed to do what role `R` may: a bearer token with that role
/// (401 or 403 otherwise, from [`Bearer`]), or anyone when the server has no tokens.
#[derive(Debug)]
pub struct Caller<R: Role = AnyRole>(PhantomData<fn() -> R>);

impl<R: Role> FromRequest for Caller<R> {
    /// The token is checked before a body is read.
    const BEFORE_BODY: bool = true;
    /// With tokens, the document says the route needs one.
    const BEARER: Option<&'static str> = Some(R::NAME);

    fn from_request(request: &Request) -> Result<Self, Error> {
        if !request.state::<Anonymous>().is_some_and(|anonymous| anonymous.0) {
            Bearer::<R>::from_request(request)?;
        }
        Ok(Caller(PhantomData))
    }
}
