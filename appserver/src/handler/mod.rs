//! The request vocabulary: what a handler takes and gives. The [`Request`], the extractors
//! that read it ([`Json`], [`Form`], [`Query`], [`State`], [`Bearer`], [`Cookies`], route
//! parameters), [`Response`] and what converts into one ([`Html`], [`Text`], [`Redirect`], a
//! status and headers around a response), and the one [`Error`] type with its JSON body.
//!
//! A leaf: it imports none of the other folders. It does not log either: a response made
//! from an error with a cause carries that cause ([`Failure`]), and the server, which
//! called the handler, logs it.

mod bearer;
mod body;
mod body_stream;
mod cookies;
mod created;
mod ending;
mod error;
mod extract;
mod form;
mod json;
mod multipart;
mod object_only;
mod param;
mod parts;
mod query;
mod redirect;
mod request;
mod response;
mod shutdown;
mod sse;
mod state;
mod state_map;
mod text;
pub(crate) mod ws;

pub use bearer::{AnyRole, Bearer, Role};
pub(crate) use bearer::{Holder, Verifier, Verify};
pub use body::Body;
pub(crate) use body::BoxError;
pub use body_stream::BodyStream;
pub use cookies::Cookies;
pub use created::Created;
pub(crate) use ending::Ending;
pub use error::{Error, Result};
pub use extract::{FromRequest, FromRequestAsync, HeaderDoc, Takes};
pub use form::Form;
pub use json::Json;
pub(crate) use multipart::FieldLimit;
pub use multipart::{Field, Multipart};
pub use param::{FromParam, optional_param, param};
pub use query::Query;
pub use redirect::Redirect;
pub(crate) use request::Taken;
pub use request::{Params, Request};
pub(crate) use response::{ErrorMessage, Failure, error_body, json_response, problem_body, problem_response};
pub use response::{IntoResponse, Response};
pub use shutdown::Shutdown;
pub(crate) use sse::EndsAtShutdown;
pub use sse::{Event, Sse};
pub use state::State;
pub(crate) use state_map::StateMap;
pub use text::{Html, Text};
pub(crate) use ws::Limits as WsLimits;
