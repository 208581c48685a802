//! The request as handlers and extractors see it.

use super::body_stream::BodyStream;
use super::state_map::StateMap;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use std::sync::Arc;

/// An HTTP request whose route matched, with its body read in full.
///
/// Custom extractors read it through [`FromRequest`](crate::FromRequest).
#[derive(Debug)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Byte ranges of the route's parameters in the path, in the route's parameter order.
    pub(crate) params: Params,
    pub(crate) state: Arc<StateMap>,
    /// The body as it arrives, for a route that takes a [`BodyStream`] (its `body` is then
    /// empty).
    pub(crate) stream: std::sync::Mutex<Option<BodyStream>>,
    /// The connection's upgrade, for a request that asks for one (a WebSocket handshake).
    pub(crate) upgrade: std::sync::Mutex<Option<hyper::upgrade::OnUpgrade>>,
}

impl Request {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The path, as sent (percent-encoded).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The state of type `T` registered with [`Server::state`](crate::Server::state).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.state.get::<T>()
    }

    /// The body as a stream, once, if the route takes it so.
    pub(crate) fn take_stream(&self) -> Option<BodyStream> {
        self.stream.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// The connection's upgrade, once, if the request asked for one.
    pub(crate) fn take_upgrade(&self) -> Option<hyper::upgrade::OnUpgrade> {
        self.upgrade.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// The raw (still percent-encoded) text of the route parameter at `slot`.
    pub(crate) fn param(&self, slot: usize) -> Option<&str> {
        let (start, end) = self.params.get(slot).copied().flatten()?;
        self.uri.path().get(start..end)
    }
}

/// The byte range of each parameter of a route in the path, in the route's order.
pub type Params = smallvec::SmallVec<[Option<(usize, usize)>; 4]>;
