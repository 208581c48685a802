//! A registered route, as the `#[route]` attribute submits it.

use crate::error::Error;
use crate::request::Request;
use crate::response::Response;
use http::Method;
use std::future::Future;
use std::pin::Pin;

/// Methods in the order of the bits of [`Route::methods`] (the macro uses the same order).
pub(crate) const METHODS: [Method; 7] =
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS];

/// The bit of `method` in a method set, if it is one routes can name.
pub(crate) fn method_bit(method: &Method) -> Option<usize> {
    METHODS.iter().position(|m| m == method)
}

/// Names the state an extractor needs, if any: its type id and type name.
pub type RequiredState = fn() -> Option<(std::any::TypeId, &'static str)>;

/// One `#[route]` handler. Built by the macro; not a public API.
#[derive(Debug)]
pub struct Route {
    /// `module::path::function`.
    pub name: &'static str,
    /// The pattern as written.
    pub pattern: &'static str,
    /// A bit per entry of `METHODS`.
    pub methods: u8,
    /// The names of the groups bound to parameters, in parameter order.
    pub params: &'static [&'static str],
    /// Where the route is defined.
    pub file: &'static str,
    /// Where the route is defined.
    pub line: u32,
    /// The state each extractor parameter needs (`FromRequest::__required_state`).
    pub extractors: &'static [RequiredState],
    /// Extracts the parameters and calls the user's function.
    pub handler: fn(&Request) -> Result<Reply, Error>,
}

inventory::collect!(Route);

impl Route {
    /// Every route linked into this program.
    pub(crate) fn all() -> impl Iterator<Item = &'static Route> {
        inventory::iter::<Route>.into_iter()
    }

    /// The methods this route answers, HEAD included for a GET route, e.g. `GET, HEAD`.
    pub(crate) fn method_names(&self) -> String {
        let bits = self.effective_methods();
        METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The method bits, with HEAD added for a GET route.
    pub(crate) fn effective_methods(&self) -> u8 {
        self.methods | ((self.methods & 1) << 1)
    }
}

/// What a handler gives back: a response now, a future of one (async handlers), or a call
/// to make on the blocking pool (`blocking` handlers).
pub enum Reply {
    /// A sync handler's response.
    Ready(Response),
    /// An async handler's response, to be awaited.
    Pending(Pin<Box<dyn Future<Output = Response> + Send>>),
    /// A blocking handler's call, with its parameters already extracted.
    Blocking(Box<dyn FnOnce() -> Response + Send>),
}
