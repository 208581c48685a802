//! What `#[route]` expansions name. Not a public API: anything here may change.
//!
//! Return values are dispatched by autoref specialization, because one blanket impl cannot
//! cover both "any `Serialize` value" and `Result<T, E>` (which is `Serialize` too): the
//! expansion calls `(&&Returned::of(&value)).__appserver_result()` and then
//! `__appserver_respond()`, and method resolution picks the first trait that applies.

use crate::handler::{Error, IntoResponse, Response, json_response};
use http::StatusCode;
use serde::Serialize;
use std::marker::PhantomData;

pub use crate::handler::{FromParam, Params, Request, optional_param, param};
pub use crate::routing::{
    Lookup, Parameter, Reply, RequiredState, Route, RouteError, Router, SchemaFn, SchemaNone, SchemaOf, SchemaOfValue,
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
    /// The success value, or the error converted.
    pub fn split<T, E: IntoError>(self, value: Result<T, E>) -> Result<T, Error> {
        value.map_err(IntoError::into_error)
    }
}

/// A handler returned a plain value.
pub struct ValueTag;
impl ValueTag {
    /// The value itself.
    pub fn split<T>(self, value: T) -> Result<T, Error> {
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
impl<T: IntoResponse> ViaIntoResponse for &Returned<T> {}

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
    note = "a handler returns a `serde::Serialize` type (sent as 200 JSON; derive it with `#[derive(serde::Serialize)]`), `(StatusCode, T)`, `Json<T>`, `appserver::Response`, or `Result<T, E>` of one of these with `E: Into<appserver::Error>`"
)]
pub trait ReturnValue: Serialize {}
#[diagnostic::do_not_recommend]
impl<T: Serialize> ReturnValue for T {}

/// A handler's error type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be converted into `appserver::Error`",
    label = "the error type of the handler's `Result`",
    note = "a handler's error type implements `std::error::Error` (answered as a logged 500) or `Into<appserver::Error>` (answered with its own status and message)"
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
