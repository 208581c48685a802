//! Shared application state: `Server::state(value)` in, `State<T>` out.

use crate::error::Error;
use crate::extract::FromRequest;
use crate::request::Request;
use crate::route::{Route, RouteError};
use std::any::{Any, TypeId};
use std::collections::HashMap;
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

/// Values by type.
#[derive(Default, Debug)]
pub(crate) struct StateMap(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0.get(&TypeId::of::<T>()).cloned().and_then(|v| v.downcast().ok())
    }

    /// One line per `State<T>` that a route takes and nobody registered.
    pub(crate) fn missing(&self, routes: impl Iterator<Item = &'static Route>) -> Vec<RouteError> {
        let mut missing = Vec::new();
        for route in routes {
            for (id, type_name) in route.extractors.iter().filter_map(|required| required()) {
                if !self.0.contains_key(&id) {
                    missing.push(RouteError::MissingState { route, type_name });
                }
            }
        }
        missing
    }
}
