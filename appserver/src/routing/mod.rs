//! Routes: what `#[route]` registers ([`Route`]), the [`Router`] that matches a request to
//! one, the overlaps between patterns, the route table, and the OpenAPI document with its
//! JSON Schemas.
//!
//! May import: `handler` (a route's handler takes a request and gives a response), and
//! nothing else of the crate.

mod answer;
mod openapi;
mod overlap;
mod route;
mod router;
mod schema;
mod table;

pub use answer::{AnswerDoc, AnswerDocumented, AnswerFn, AnswerOf, AnswerPlain, AnswerWrapped};
pub(crate) use openapi::document as openapi_document;
pub use route::{Fallback, Parameter, Reply, RequiredState, Route, RouteError};
pub use router::{Lookup, Router};
pub use schema::{SchemaFn, SchemaNone, SchemaOf, SchemaOfNested, SchemaOfValue, SchemaOfWrapped};
pub(crate) use table::FALLBACK;
pub use table::{Overlapping, RouteInfo, RouteTable};
