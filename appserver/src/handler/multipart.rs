//! [`Multipart`]: a `multipart/form-data` body (forms with files), read field by field as it
//! arrives, on the `multer` crate.

use super::body_stream::BodyStream;
use super::error::Error;
use super::extract::{FromRequest, Takes};
use super::request::Request;
use bytes::Bytes;
use futures_core::Stream;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A `multipart/form-data` body, read field by field as it arrives (an `async fn` takes
/// it). The body's limit is the route's (`max_body_bytes`), a field's the `max_field_bytes`
/// setting (by default, the body's): past either, a 413. A body that is no multipart form
/// is a 415, a malformed one a 400 saying what is wrong; a handler's `?` answers them all.
///
/// ```
/// use appserver::{route, Error, Multipart};
///
/// #[route(POST, r"/photos/", max_body_bytes = 50_000_000)]
/// async fn photos(mut form: Multipart) -> Result<Vec<String>, Error> {
///     let mut saved = Vec::new();
///     while let Some(mut field) = form.next_field().await? {
///         let name = field.file_name().unwrap_or("unnamed").to_owned();
///         let mut size = 0;
///         while let Some(chunk) = field.chunk().await? {
///             size += chunk.len(); // e.g. written to a file
///         }
///         saved.push(format!("{name}: {size} bytes"));
///     }
///     Ok(saved)
/// }
/// ```
pub struct Multipart {
    inner: multer::Multipart<'static>,
}

/// One field of a [`Multipart`] body: a form value, or a file.
pub struct Field {
    inner: multer::Field<'static>,
}

/// The largest field of a multipart body, from the `max_field_bytes` setting; the server
/// registers it as state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldLimit(pub(crate) Option<usize>);

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart").finish_non_exhaustive()
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field").field("name", &self.name()).field("file_name", &self.file_name()).finish()
    }
}

impl Multipart {
    /// The next field, `None` after the last.
    pub async fn next_field(&mut self) -> Result<Option<Field>, Error> {
        match self.inner.next_field().await {
            Ok(field) => Ok(field.map(|inner| Field { inner })),
            Err(err) => Err(failed(err)),
        }
    }
}

impl Field {
    /// The field's name in the form.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The name of the file the field carries, as the client gave it (never a path to trust).
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The field's content type, such as `image/png`.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(AsRef::as_ref)
    }

    /// The next chunk of the field, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.inner.chunk().await.map_err(failed)
    }

    /// The whole field, held in memory: for form values and small files.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        self.inner.bytes().await.map_err(failed)
    }

    /// The whole field as text.
    pub async fn text(self) -> Result<String, Error> {
        self.inner.text().await.map_err(failed)
    }
}

/// A multer error as the client's: 413 past a limit, the body's own error (408, 413) as it
/// was, 400 for the rest, saying what is wrong.
fn failed(err: multer::Error) -> Error {
    match err {
        multer::Error::FieldSizeExceeded { limit, field_name } => Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the field `{}` is larger than the limit of {limit} bytes", field_name.as_deref().unwrap_or("")),
        ),
        multer::Error::StreamSizeExceeded { limit } => Error::body_too_large(limit),
        multer::Error::StreamReadFailed(cause) => match cause.downcast::<Carried>() {
            Ok(carried) => carried.0,
            Err(cause) => Error::bad_request(format!("cannot read the request body: {cause}")),
        },
        err => Error::bad_request(format!("malformed multipart body: {err}")),
    }
}

/// The body's error, carried through multer.
#[derive(Debug)]
struct Carried(Error);

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Carried {}

/// The body's chunks, their errors carried.
struct Chunks(BodyStream);

impl Stream for Chunks {
    type Item = Result<Bytes, Carried>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|item| item.map(|chunk| chunk.map_err(Carried)))
    }
}

impl FromRequest for Multipart {
    fn from_request(request: &Request) -> Result<Self, Error> {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let boundary = multer::parse_boundary(content_type).map_err(|err| match err {
            multer::Error::NoBoundary => {
                Error::bad_request("the multipart/form-data Content-Type has no boundary parameter")
            }
            _ => Error::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a multipart/form-data body (Content-Type: multipart/form-data; boundary=...)",
            ),
        })?;
        let mut limits = multer::SizeLimit::new();
        if let Some(limit) = request.state::<FieldLimit>().and_then(|limit| limit.0) {
            limits = limits.per_field(limit as u64);
        }
        let body = Chunks(BodyStream::from_request(request)?);
        let constraints = multer::Constraints::new().size_limit(limits);
        Ok(Multipart { inner: multer::Multipart::with_constraints(body, boundary, constraints) })
    }

    const __TAKES: Takes = Takes::Stream;
}
