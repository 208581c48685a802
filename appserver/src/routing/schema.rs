//! The JSON Schemas of body types for the OpenAPI document, with the `schemars` feature.
//!
//! A route records, per parameter and for its answer, a [`SchemaFn`] picked by autoref
//! specialization: `(&&&&SchemaOf::<T>::new()).__appserver_schema()` finds the most
//! specific of `Result<(StatusCode, T), E>` ([`SchemaOfNested`]), `Json<T>`, `Form<T>`,
//! `Created<T>`, `(StatusCode, T)` or `Result<T, E>` with `T: JsonSchema`
//! ([`SchemaOfWrapped`]), then `T: JsonSchema` itself ([`SchemaOfValue`]), else none
//! ([`SchemaNone`]). Without the feature only the last applies, and the document's bodies
//! take any JSON.

use serde_json::Value;
use std::any::Any;
use std::marker::PhantomData;

/// Given the document's schema generator (as `Any`), a type's schema, if it has one.
pub type SchemaFn = fn(&mut dyn Any) -> Option<Value>;

/// The type whose schema is wanted.
pub struct SchemaOf<T: ?Sized>(PhantomData<fn() -> T>);

impl<T: ?Sized> SchemaOf<T> {
    /// The probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SchemaOf(PhantomData)
    }
}

/// No schema: the body is any JSON.
pub trait SchemaNone {
    /// The schema function.
    fn __appserver_schema(&self) -> SchemaFn {
        |_| None
    }
}

impl<T: ?Sized> SchemaNone for SchemaOf<T> {}

/// The schema of a type that has one.
pub trait SchemaOfValue {
    /// The schema function.
    fn __appserver_schema(&self) -> SchemaFn;
}

/// The schema of the body inside two wrappers: `Result<(StatusCode, T), E>`.
pub trait SchemaOfNested {
    /// The schema function.
    fn __appserver_schema(&self) -> SchemaFn;
}

/// The schema of the body inside a wrapper: `Json<T>`, `Form<T>`, `(StatusCode, T)`,
/// `Result<T, E>`.
pub trait SchemaOfWrapped {
    /// The schema function.
    fn __appserver_schema(&self) -> SchemaFn;
}

#[cfg(feature = "schemars")]
mod with_schemars {
    use super::{SchemaFn, SchemaOf, SchemaOfNested, SchemaOfValue, SchemaOfWrapped};
    use crate::handler::{Created, Form, Json, Query};
    use http::StatusCode;
    use schemars::transform::{RecursiveTransform, Transform};
    use schemars::{JsonSchema, SchemaGenerator};

    /// `T`'s schema as the document has it: a reference to its definition, or inline with
    /// the generator's transforms applied (schemars applies them to definitions only).
    fn schema<T: JsonSchema>(generator: &mut dyn std::any::Any) -> Option<serde_json::Value> {
        let mut schema = generator.downcast_mut::<SchemaGenerator>()?.subschema_for::<T>();
        RecursiveTransform(integer_bounds).transform(&mut schema);
        Some(schema.to_value())
    }

    impl<T: JsonSchema> SchemaOfValue for &SchemaOf<T> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema> SchemaOfWrapped for &&SchemaOf<Json<T>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema> SchemaOfWrapped for &&SchemaOf<Form<T>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema> SchemaOfWrapped for &&SchemaOf<Query<T>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema> SchemaOfWrapped for &&SchemaOf<Created<T>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema, E> SchemaOfWrapped for &&SchemaOf<Result<Created<T>, E>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema> SchemaOfWrapped for &&SchemaOf<(StatusCode, T)> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema, E> SchemaOfNested for &&&SchemaOf<Result<(StatusCode, T), E>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    impl<T: JsonSchema, E> SchemaOfWrapped for &&SchemaOf<Result<T, E>> {
        fn __appserver_schema(&self) -> SchemaFn {
            schema::<T>
        }
    }

    /// `found`, or the named schema it refers to.
    pub(crate) fn followed(generator: &SchemaGenerator, found: serde_json::Value) -> Option<serde_json::Value> {
        let name = found.get("$ref").and_then(|r| r.as_str()?.strip_prefix("#/components/schemas/"));
        match name {
            Some(name) => {
                let mut schema = schemars::Schema::try_from(generator.definitions().get(name)?.clone()).ok()?;
                RecursiveTransform(integer_bounds).transform(&mut schema);
                Some(schema.to_value())
            }
            None => Some(found),
        }
    }

    /// The bounds of an integer's width, which schemars gives only as a `format` (`uint32`)
    /// that JSON Schema validators and clients do not read: `minimum` and `maximum` say
    /// them.
    fn integer_bounds(schema: &mut schemars::Schema) {
        let bounds: (i128, i128) = match schema.get("format").and_then(serde_json::Value::as_str) {
            Some("uint8") => (0, u8::MAX.into()),
            Some("uint16") => (0, u16::MAX.into()),
            Some("uint32") => (0, u32::MAX.into()),
            Some("uint64" | "uint") => (0, u64::MAX.into()),
            Some("int8") => (i8::MIN.into(), i8::MAX.into()),
            Some("int16") => (i16::MIN.into(), i16::MAX.into()),
            Some("int32") => (i32::MIN.into(), i32::MAX.into()),
            Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
            _ => return,
        };
        let number = |n: i128| serde_json::Value::Number(serde_json::Number::from_i128(n).expect("within 64 bits"));
        if let Some(object) = schema.as_object_mut() {
            object.entry("minimum").or_insert_with(|| number(bounds.0));
            object.entry("maximum").or_insert_with(|| number(bounds.1));
        }
    }

    /// A generator for the document: definitions under `#/components/schemas`, schemas of
    /// request bodies as they are read (`deserialize`) or answers as they are written.
    pub(crate) fn generator(serialize: bool) -> SchemaGenerator {
        let settings = schemars::generate::SchemaSettings::draft2020_12()
            .with(|settings| {
                settings.definitions_path = "#/components/schemas".into();
                settings.meta_schema = None;
            })
            .with_transform(RecursiveTransform(integer_bounds));
        match serialize {
            true => settings.for_serialize().into_generator(),
            false => settings.for_deserialize().into_generator(),
        }
    }
}

/// The generators of the document's request and response schemas, and the definitions
/// they collected.
pub(crate) struct Generators {
    #[cfg(feature = "schemars")]
    requests: schemars::SchemaGenerator,
    #[cfg(feature = "schemars")]
    responses: schemars::SchemaGenerator,
}

impl Generators {
    pub(crate) fn new() -> Generators {
        Generators {
            #[cfg(feature = "schemars")]
            requests: with_schemars::generator(false),
            #[cfg(feature = "schemars")]
            responses: with_schemars::generator(true),
        }
    }

    /// The schema of a request body, or any JSON.
    pub(crate) fn request(&mut self, schema: SchemaFn) -> Value {
        #[cfg(feature = "schemars")]
        return or_any(schema(&mut self.requests));
        #[cfg(not(feature = "schemars"))]
        or_any(schema(&mut ()))
    }

    /// The schema of an answer, or any JSON.
    pub(crate) fn response(&mut self, schema: SchemaFn) -> Value {
        #[cfg(feature = "schemars")]
        return or_any(schema(&mut self.responses));
        #[cfg(not(feature = "schemars"))]
        or_any(schema(&mut ()))
    }

    /// The schema of a request's query string (`Query<T>`): `T`'s object schema, a
    /// reference to it followed; `None` without one.
    pub(crate) fn query(&mut self, schema: SchemaFn) -> Option<Value> {
        #[cfg(feature = "schemars")]
        return schema(&mut self.requests).and_then(|found| with_schemars::followed(&self.requests, found));
        #[cfg(not(feature = "schemars"))]
        schema(&mut ())
    }

    /// The named schemas the others refer to, for `components/schemas`.
    #[allow(clippy::unused_self)]
    pub(crate) fn definitions(&mut self) -> serde_json::Map<String, Value> {
        #[allow(unused_mut)]
        let mut all = serde_json::Map::new();
        #[cfg(feature = "schemars")]
        {
            all.extend(self.responses.take_definitions(true));
            all.extend(self.requests.take_definitions(true));
        }
        all
    }
}

/// `found`, or the schema any JSON fits.
fn or_any(found: Option<Value>) -> Value {
    found.unwrap_or_else(|| Value::Object(Default::default()))
}
