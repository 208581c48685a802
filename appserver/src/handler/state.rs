//! Shared application state: `Server::state(value)` in, `State<T>` out.

use super::error::Error;
use super::extract::FromRequest;
use super::request::Request;
use std::any::TypeId;
use std::ops::Deref;
use std::sync::Arc;

/// Application state of type `T`, registered with [`Server::state`](crate::Server::state)
/// and shared by every request.
///
/// ```
/// use appserver::{route, State};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// struct Hits {
///     count: AtomicU64,
/// }
///
/// #[route(GET, r"/hits/")]
/// fn hits(hits: State<Hits>) -> u64 {
///     hits.count.fetch_add(1, Ordering::Relaxed) + 1
/// }
///
/// let server = appserver::Server::new().state(Hits { count: AtomicU64::new(0) });
/// # drop(server);
/// ```
#[derive(Debug)]
pub struct State<T>(pub Arc<T>);

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T: Send + Sync + 'static> FromRequest for State<T> {
    fn from_request(request: &Request) -> Result<Self, Error> {
        // Unreachable through `#[route]`: the server checks at startup that the state exists.
        request.state.get::<T>().map(State).ok_or_else(|| Error::from(MissingState(std::any::type_name::<T>())))
    }

    fn __required_state() -> Option<(TypeId, &'static str)> {
        Some((TypeId::of::<T>(), std::any::type_name::<T>()))
    }
}

#[derive(Debug)]
struct MissingState(&'static str);

impl std::fmt::Display for MissingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no state of type `{}` was registered: call `Server::state` with one", self.0)
    }
}

impl std::error::Error for MissingState {}
