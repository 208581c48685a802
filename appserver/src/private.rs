//! What `#[route]` expansions name. Not a public API: anything here may change.
//!
//! Return values are dispatched by autoref specialization, because one blanket impl cannot
//! cover both "any `Serialize` value" and `Result<T, E>` (which is `Serialize` too), nor
//! both "any `Serialize` value" and `Response`, a type of another crate. The expansion calls
//! `(&&Returned::of(&value)).__appserver_result()` to split off an error; then, for a
//! success, `(&&&Returned::of(&value)).__appserver_respond()` (its `IntoResponse`, else a
//! status and headers around a `Serialize` value, else the value as JSON), and for an error,
//! `(&&Returned::of(&error)).__appserver_error()` (its `IntoResponse`, else
//! `Into<appserver::Error>`). Method resolution picks the first trait that applies.

use crate::handler::{Error, FromRequest, FromRequestAsync, HeaderDoc, IntoResponse, Json, Response, json_response};
use http::header::HeaderName;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::any::TypeId;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;

pub use crate::handler::{FromParam, Params, Request, Takes, optional_param, param};
pub use crate::routing::{
    AnswerDoc, AnswerDocumented, AnswerFn, AnswerOf, AnswerPlain, AnswerWrapped, Fallback, Lookup, Parameter, Reply,
    RequiredState, Route, RouteError, Router, SchemaFn, SchemaNone, SchemaOf, SchemaOfNested, SchemaOfValue,
    SchemaOfWrapped,
};
pub use appserver_pattern::Methods;
pub use inventory;
pub use serde_json::Value as JsonValue;

/// The type a handler returned, for method-resolution-based dispatch.
pub struct Returned<T>(PhantomData<T>);

impl<T> Returned<T> {
    /// The type of `value`.
    pub fn of(_value: &T) -> Self {
        Returned(PhantomData)
    }
}

/// Picked for `Result<T, E>`.
pub trait ViaResult {
    /// Tag: split off the error.
    fn __appserver_result(&self) -> ResultTag {
        ResultTag
    }
}
impl<T, E> ViaResult for &Returned<Result<T, E>> {}

/// Picked for every other type.
pub trait ViaValue {
    /// Tag: the value is the success.
    fn __appserver_result(&self) -> ValueTag {
        ValueTag
    }
}
impl<T> ViaValue for Returned<T> {}

/// A handler returned a `Result`.
pub struct ResultTag;
impl ResultTag {
    /// The `Result` itself.
    pub fn split<T, E>(self, value: Result<T, E>) -> Result<T, E> {
        value
    }
}

/// A handler returned a plain value.
pub struct ValueTag;
impl ValueTag {
    /// The value, as a success.
    pub fn split<T>(self, value: T) -> Result<T, Infallible> {
        Ok(value)
    }
}

/// Picked for `IntoResponse` types.
pub trait ViaIntoResponse {
    /// Tag: convert with `IntoResponse`.
    fn __appserver_respond(&self) -> IntoResponseTag {
        IntoResponseTag
    }
}
impl<T: IntoResponse> ViaIntoResponse for &&Returned<T> {}

/// Picked for a status and headers around a `Serialize` value.
pub trait ViaParts {
    /// Tag: the value as JSON, with the status and headers.
    fn __appserver_respond(&self) -> PartsTag {
        PartsTag
    }
}
impl<P: PartsAroundJson> ViaParts for &Returned<P> {}

/// Picked for every other type, which must then be `Serialize`.
pub trait ViaSerialize {
    /// Tag: serialize as 200 JSON.
    fn __appserver_respond(&self) -> SerializeTag {
        SerializeTag
    }
}
impl<T> ViaSerialize for Returned<T> {}

/// Respond through `IntoResponse`.
pub struct IntoResponseTag;
impl IntoResponseTag {
    /// The response.
    pub fn respond<T: IntoResponse>(self, value: T) -> Response {
        value.into_response()
    }
}

/// Respond with the value as JSON, with the status and headers around it.
pub struct PartsTag;
impl PartsTag {
    /// The response.
    pub fn respond<P: PartsAroundJson>(self, value: P) -> Response {
        value.respond()
    }
}

/// A status and headers around a `Serialize` value: the value becomes [`Json`].
pub trait PartsAroundJson {
    /// The response.
    fn respond(self) -> Response;
}

impl<T: Serialize> PartsAroundJson for (StatusCode, T) {
    fn respond(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl<T: Serialize> PartsAroundJson for (StatusCode, HeaderMap, T) {
    fn respond(self) -> Response {
        (self.0, self.1, Json(self.2)).into_response()
    }
}

impl<T: Serialize> PartsAroundJson for (HeaderMap, T) {
    fn respond(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl<T: Serialize, V: AsRef<str>, const N: usize> PartsAroundJson for (StatusCode, [(HeaderName, V); N], T) {
    fn respond(self) -> Response {
        (self.0, self.1, Json(self.2)).into_response()
    }
}

impl<T: Serialize, V: AsRef<str>, const N: usize> PartsAroundJson for ([(HeaderName, V); N], T) {
    fn respond(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// Respond with the value as 200 JSON.
pub struct SerializeTag;
impl SerializeTag {
    /// The response.
    pub fn respond<T: ReturnValue>(self, value: T) -> Response {
        json_response(StatusCode::OK, &value)
    }
}

/// A handler's return type when it is no `IntoResponse` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a route handler",
    label = "not `serde::Serialize` and no response type",
    note = "a handler returns a `serde::Serialize` type (sent as 200 JSON; derive it with `#[derive(serde::Serialize)]`), `Json<T>`, `Created<T>`, `Html<T>`, `Text<T>`, `Redirect`, `appserver::Response`, a status and headers around one of these such as `(StatusCode, T)`, or `Result<T, E>` of one of these"
)]
pub trait ReturnValue: Serialize {}
#[diagnostic::do_not_recommend]
impl<T: Serialize> ReturnValue for T {}

/// A handler's error type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of a handler: it is neither a response nor an `appserver::Error`",
    label = "the error type of the handler's `Result`",
    note = "a handler's error type implements `appserver::IntoResponse` (answered with that response), `std::error::Error` (answered as a logged 500 whose text the client never sees), or `Into<appserver::Error>` (answered with its own status and message)"
)]
pub trait IntoError {
    /// The converted error.
    fn into_error(self) -> Error;
}
#[diagnostic::do_not_recommend]
impl<E: Into<Error>> IntoError for E {
    fn into_error(self) -> Error {
        self.into()
    }
}

/// Picked for an error type that is a response of its own.
pub trait ViaErrorResponse {
    /// Tag: convert with `IntoResponse`.
    fn __appserver_error(&self) -> ErrorResponseTag {
        ErrorResponseTag
    }
}
impl<E: IntoResponse> ViaErrorResponse for &Returned<E> {}

/// Picked for every other error type, which must then convert into [`Error`].
pub trait ViaIntoError {
    /// Tag: convert into [`Error`].
    fn __appserver_error(&self) -> IntoErrorTag {
        IntoErrorTag
    }
}
impl<E> ViaIntoError for Returned<E> {}

/// An error answered with its own response.
pub struct ErrorResponseTag;
impl ErrorResponseTag {
    /// The response.
    pub fn respond<E: IntoResponse>(self, error: E) -> Response {
        error.into_response()
    }
}

/// An error answered as the [`Error`] it converts into (a `std::error::Error`: a 500).
pub struct IntoErrorTag;
impl IntoErrorTag {
    /// The response.
    pub fn respond<E: IntoError>(self, error: E) -> Response {
        error.into_error().into_response()
    }
}

/// An extractor's type, for dispatch in an `async fn` handler: `FromRequestAsync` if it
/// implements it, else `FromRequest` (whose diagnostic then says what fits).
pub struct Extract<T>(PhantomData<fn() -> T>);

impl<T> Extract<T> {
    /// The probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Extract(PhantomData)
    }
}

/// Picked for `FromRequestAsync` types.
pub trait ViaAsyncExtractor {
    /// Tag: extract with `FromRequestAsync`.
    fn __appserver_extractor(&self) -> AsyncExtractor {
        AsyncExtractor
    }
}
impl<T: FromRequestAsync> ViaAsyncExtractor for &Extract<T> {}

/// Picked for every other type, which must then be `FromRequest`.
pub trait ViaSyncExtractor {
    /// Tag: extract with `FromRequest`.
    fn __appserver_extractor(&self) -> SyncExtractor {
        SyncExtractor
    }
}
impl<T> ViaSyncExtractor for Extract<T> {}

/// The headers a route's extractors read, those that read one.
pub fn headers(read: &[Option<HeaderDoc>]) -> Vec<HeaderDoc> {
    read.iter().flatten().copied().collect()
}

/// Extracts with `FromRequestAsync`.
pub struct AsyncExtractor;
impl AsyncExtractor {
    /// The extraction, to await.
    pub fn extract<T: FromRequestAsync>(
        self,
        request: &Request,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        T::from_request(request)
    }

    /// The state `T` needs.
    pub fn required<T: FromRequestAsync>(self) -> Option<(TypeId, &'static str)> {
        T::__required_state()
    }

    /// The role of the bearer token `T` takes, for the OpenAPI document.
    pub fn bearer<T: FromRequestAsync>(self) -> Option<&'static str> {
        T::BEARER
    }

    /// The header `T` reads, for the OpenAPI document.
    pub fn header<T: FromRequestAsync>(self) -> Option<HeaderDoc> {
        T::HEADER
    }

    /// Nothing: an async extractor may need to wait, so it runs with the handler.
    pub fn precheck<T: FromRequestAsync>(self, _request: &Request) -> Result<(), Error> {
        Ok(())
    }

    /// The request: an async extractor reads a body the server has read.
    pub fn takes<T: FromRequestAsync>(self) -> Takes {
        Takes::Request
    }
}

/// Extracts with `FromRequest`, at once.
pub struct SyncExtractor;
impl SyncExtractor {
    /// The extraction, done, to await.
    pub fn extract<T: FromRequest>(self, request: &Request) -> Ready<Result<T, Error>> {
        ready(T::from_request(request))
    }

    /// The state `T` needs.
    pub fn required<T: FromRequest>(self) -> Option<(TypeId, &'static str)> {
        T::__required_state()
    }

    /// The role of the bearer token `T` takes, for the OpenAPI document.
    pub fn bearer<T: FromRequest>(self) -> Option<&'static str> {
        T::BEARER
    }

    /// The header `T` reads, for the OpenAPI document.
    pub fn header<T: FromRequest>(self) -> Option<HeaderDoc> {
        T::HEADER
    }

    /// `T`'s check before the body is read.
    pub fn precheck<T: FromRequest>(self, request: &Request) -> Result<(), Error> {
        T::__precheck(request)
    }

    /// What `T` takes beyond the request.
    pub fn takes<T: FromRequest>(self) -> Takes {
        T::__TAKES
    }
}
