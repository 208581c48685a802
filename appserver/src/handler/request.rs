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
    /// What one extractor takes from the request, if the route takes it (boxed: most
    /// requests have none, and pay one word for it).
    pub(crate) taken: Option<Box<std::sync::Mutex<Option<Taken>>>>,
}

/// What one extractor takes from a request beyond its parts.
pub(crate) enum Taken {
    /// The body as it arrives, for a route that takes a [`BodyStream`] (the request's
    /// `body` is then empty).
    Stream(BodyStream),
    /// The connection's upgrade, for a request that asks for one (a WebSocket handshake).
    Upgrade(hyper::upgrade::OnUpgrade),
}

impl Taken {
    /// As a request holds it.
    pub(crate) fn boxed(self) -> Box<std::sync::Mutex<Option<Taken>>> {
        Box::new(std::sync::Mutex::new(Some(self)))
    }
}

impl std::fmt::Debug for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Taken::Stream(_) => "Stream",
            Taken::Upgrade(_) => "Upgrade",
        })
    }
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
        match self.take()? {
            Taken::Stream(stream) => Some(stream),
            Taken::Upgrade(_) => None,
        }
    }

    /// The connection's upgrade, once, if the request asked for one.
    pub(crate) fn take_upgrade(&self) -> Option<hyper::upgrade::OnUpgrade> {
        match self.take()? {
            Taken::Upgrade(upgrade) => Some(upgrade),
            Taken::Stream(_) => None,
        }
    }

    fn take(&self) -> Option<Taken> {
        self.taken.as_ref()?.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// The raw (still percent-encoded) text of the route parameter at `slot`.
    pub(crate) fn param(&self, slot: usize) -> Option<&str> {
        let (start, end) = self.params.get(slot).copied().flatten()?;
        self.uri.path().get(start..end)
    }
}

/// The byte range of each parameter of a route in the path, in the route's order.
pub type Params = smallvec::SmallVec<[Option<(usize, usize)>; 4]>;
