//! What a route's answer is, for the OpenAPI document: its status (exact, or a class such
//! as "2XX" when the handler picks it at run time) and its media type.
//!
//! A route records an [`AnswerFn`] picked by autoref specialization on its return type:
//! `(&&&&AnswerOf::<T>::new()).__appserver_answer()` finds the most specific of: `T`
//! [`Documented`] (which `(StatusCode, T)` and `Result<T, E>` are when their `T` is); any
//! `(StatusCode, T)`, alone or in a `Result`, a JSON 2xx; else a JSON `200`.

use crate::handler::{Created, Html, Redirect, Text};
use http::StatusCode;
use std::marker::PhantomData;

/// The status of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerStatus {
    /// This one.
    Exact(u16),
    /// One of a class, such as `2` for "2XX": the handler picks it at run time.
    Class(u8),
}

/// A route's answer, as the OpenAPI document shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerDoc {
    /// Its status.
    pub status: AnswerStatus,
    /// Its media type; `None`: no body (a redirect), or one of any type (a `Response`).
    pub media: Option<&'static str>,
    /// Whether its body has the schema of the handler's value (JSON).
    pub json: bool,
}

impl AnswerDoc {
    /// A JSON `200`: what a `Serialize` value answers.
    pub const JSON: AnswerDoc =
        AnswerDoc { status: AnswerStatus::Exact(200), media: Some("application/json"), json: true };
    /// Server-Sent Events.
    pub const EVENT_STREAM: AnswerDoc =
        AnswerDoc { status: AnswerStatus::Exact(200), media: Some("text/event-stream"), json: false };
    /// An answer whose status and media type only run time knows (a `Response`, an
    /// `impl IntoResponse`).
    pub const ANY: AnswerDoc = AnswerDoc { status: AnswerStatus::Class(2), media: None, json: false };
}

/// A route's answer document; a function so that a route stays a constant.
pub type AnswerFn = fn() -> AnswerDoc;

/// A type whose answer the OpenAPI document can say exactly.
pub trait Documented {
    /// What it answers.
    const DOC: AnswerDoc;
}

impl<T> Documented for Html<T> {
    const DOC: AnswerDoc = AnswerDoc { status: AnswerStatus::Exact(200), media: Some("text/html"), json: false };
}

impl<T> Documented for Text<T> {
    const DOC: AnswerDoc = AnswerDoc { status: AnswerStatus::Exact(200), media: Some("text/plain"), json: false };
}

impl<T> Documented for Created<T> {
    const DOC: AnswerDoc = AnswerDoc { status: AnswerStatus::Exact(201), media: Some("application/json"), json: true };
}

impl Documented for Redirect {
    const DOC: AnswerDoc = AnswerDoc { status: AnswerStatus::Class(3), media: None, json: false };
}

impl Documented for crate::handler::Response {
    const DOC: AnswerDoc = AnswerDoc::ANY;
}

impl<S> Documented for crate::handler::Sse<S> {
    const DOC: AnswerDoc = AnswerDoc::EVENT_STREAM;
}

/// Its `T`'s answer with the status the handler picks.
impl<T: Documented> Documented for (StatusCode, T) {
    const DOC: AnswerDoc = AnswerDoc { status: AnswerStatus::Class(2), ..T::DOC };
}

/// Its `T`'s answer; the error's is the document's shared one.
impl<T: Documented, E> Documented for Result<T, E> {
    const DOC: AnswerDoc = T::DOC;
}

/// The return type whose answer is wanted.
pub struct AnswerOf<T: ?Sized>(PhantomData<fn() -> T>);

impl<T: ?Sized> AnswerOf<T> {
    /// The probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        AnswerOf(PhantomData)
    }
}

/// A JSON `200`: a `Serialize` value, or anything not documented.
pub trait AnswerPlain {
    /// The answer function.
    fn __appserver_answer(&self) -> AnswerFn {
        || AnswerDoc::JSON
    }
}

impl<T: ?Sized> AnswerPlain for AnswerOf<T> {}

/// A documented type.
pub trait AnswerDocumented {
    /// The answer function.
    fn __appserver_answer(&self) -> AnswerFn;
}

impl<T: Documented> AnswerDocumented for &&&AnswerOf<T> {
    fn __appserver_answer(&self) -> AnswerFn {
        || T::DOC
    }
}

/// A status the handler picks, with a JSON body: `(StatusCode, T)`, alone or in a
/// `Result`.
pub trait AnswerWrapped {
    /// The answer function.
    fn __appserver_answer(&self) -> AnswerFn;
}

impl<T> AnswerWrapped for &&AnswerOf<(StatusCode, T)> {
    fn __appserver_answer(&self) -> AnswerFn {
        || AnswerDoc { status: AnswerStatus::Class(2), ..AnswerDoc::JSON }
    }
}

impl<T, E> AnswerWrapped for &&AnswerOf<Result<(StatusCode, T), E>> {
    fn __appserver_answer(&self) -> AnswerFn {
        || AnswerDoc { status: AnswerStatus::Class(2), ..AnswerDoc::JSON }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Response;

    #[test]
    #[allow(clippy::needless_borrow)] // The borrows pick the impl: autoref specialization.
    fn each_answer_is_documented_as_what_it_is() {
        #[allow(unused_imports)]
        use super::{AnswerDocumented as _, AnswerPlain as _, AnswerWrapped as _};
        assert_eq!((&&&&AnswerOf::<u64>::new()).__appserver_answer()(), AnswerDoc::JSON);
        assert_eq!((&&&&AnswerOf::<Created<u64>>::new()).__appserver_answer()().status, AnswerStatus::Exact(201));
        let html = (&&&&AnswerOf::<Result<Html<String>, crate::Error>>::new()).__appserver_answer()();
        assert_eq!(html.media, Some("text/html"));
        let status = (&&&&AnswerOf::<(StatusCode, u64)>::new()).__appserver_answer()();
        assert_eq!((status.status, status.media), (AnswerStatus::Class(2), Some("application/json")));
        let page = (&&&&AnswerOf::<(StatusCode, Html<String>)>::new()).__appserver_answer()();
        assert_eq!((page.status, page.media), (AnswerStatus::Class(2), Some("text/html")));
        assert_eq!((&&&&AnswerOf::<Redirect>::new()).__appserver_answer()().status, AnswerStatus::Class(3));
        assert_eq!((&&&&AnswerOf::<Response>::new()).__appserver_answer()(), AnswerDoc::ANY);
        let picked = (&&&&AnswerOf::<Result<(StatusCode, u64), crate::Error>>::new()).__appserver_answer()();
        assert_eq!((picked.status, picked.json), (AnswerStatus::Class(2), true));
        let page = (&&&&AnswerOf::<Result<(StatusCode, Html<String>), crate::Error>>::new()).__appserver_answer()();
        assert_eq!((page.status, page.media), (AnswerStatus::Class(2), Some("text/html")));
        assert_eq!((&&&&AnswerOf::<Result<u64, crate::Error>>::new()).__appserver_answer()(), AnswerDoc::JSON);
    }
}
