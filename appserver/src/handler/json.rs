//! `Json<T>`: a JSON request body in, a JSON response out.

use super::error::Error;
use super::extract::{FromRequest, has_content_type};
use super::object_only::ObjectOnly;
use super::request::Request;
use super::response::{IntoResponse, Response, json_response};
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON request body, deserialized into `T` (or a response body, serialized from `T`).
///
/// As an extractor it needs `Content-Type: application/json` (or `application/*+json`),
/// else 415; malformed JSON is a 400, JSON of the wrong shape a 422. An integer field takes
/// a whole number however it is spelled (`2`, `2.0`, `2e3`), as JSON Schema counts them all
/// integers (up to 2^53, past which a float does not spell one exactly); a struct, at any
/// depth, is read from an object, not from an array of its fields.
///
/// ```
/// use appserver::{route, Json};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct NewPerson { name: String }
///
/// #[route(POST, r"/person/")]
/// fn create(person: Json<NewPerson>) -> String {
///     person.0.name
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Json<T> {
    fn from_request(request: &Request) -> Result<Self, Error> {
        if !has_content_type(request, "application/json", Some("+json")) {
            return Err(Error::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request body with `Content-Type: application/json`",
            ));
        }
        from_slice(&request.body).map(Json).map_err(|err| {
            let status = match err.classify() {
                serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            Error::new(status, format!("invalid JSON body: {err}"))
        })
    }
}

/// How many whole floats one body may spell integers with: each costs a reading of the body.
const RESPELLINGS: usize = 16;

/// `bytes` deserialized, every struct from an object only ([`ObjectOnly`]).
fn read<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(ObjectOnly(&mut deserializer))?;
    deserializer.end()?;
    Ok(value)
}

/// `body` deserialized, reading an integer spelled as a whole float (which serde refuses)
/// as that integer: each one refused is respelled where the error points and the body read
/// again. Only numbers that an integer field refused change, never those a
/// `serde_json::Value` or `RawValue` takes as they are; a body without them is read once.
fn from_slice<T: DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    let mut respelled: Option<Vec<u8>> = None;
    for _ in 0..RESPELLINGS {
        let bytes = respelled.as_deref().unwrap_or(body);
        let err = match read(bytes) {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        match respell(bytes, &err) {
            Some(fixed) => respelled = Some(fixed),
            None => return Err(err),
        }
    }
    read(respelled.as_deref().unwrap_or(body))
}

/// `bytes` with the whole float that `err` refused for an integer written as an integer;
/// `None` if `err` is another error or the number has a fraction or is past 2^53.
fn respell(bytes: &[u8], err: &serde_json::Error) -> Option<Vec<u8>> {
    if err.classify() != serde_json::error::Category::Data
        || !err.to_string().starts_with("invalid type: floating point")
    {
        return None;
    }
    // The error's line and column (1-based, in bytes) point at the number's last byte.
    let line_start = match err.line() {
        1 => 0,
        line => bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line - 2)?.0 + 1,
    };
    let end = (line_start + err.column()).min(bytes.len());
    let start = bytes[..end]
        .iter()
        .rposition(|b| !matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
        .map_or(0, |i| i + 1);
    let number: f64 = std::str::from_utf8(&bytes[start..end]).ok()?.parse().ok()?;
    const EXACT: f64 = (1u64 << 53) as f64;
    if number.fract() != 0.0 || number.abs() > EXACT {
        return None;
    }
    let mut fixed = Vec::with_capacity(bytes.len());
    fixed.extend_from_slice(&bytes[..start]);
    fixed.extend_from_slice((number as i64).to_string().as_bytes());
    fixed.extend_from_slice(&bytes[end..]);
    Some(fixed)
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::from_slice;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Sample {
        age: u32,
        steps: Vec<i8>,
        any: serde_json::Value,
    }

    #[test]
    fn an_integer_spelled_as_a_whole_float_is_that_integer() {
        let body = b"{\"age\": 36.0, \"steps\": [1, -2.00,\n 3e1], \"any\": [4.0, 5]}";
        let sample: Sample = from_slice(body).unwrap();
        assert_eq!((sample.age, sample.steps), (36, vec![1, -2, 30]));
        // What an integer field did not refuse stays as sent.
        assert_eq!(sample.any.to_string(), "[4.0,5]");
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
        maybe: Option<Inner>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        a: u8,
    }

    #[test]
    fn a_struct_is_read_from_an_object_only_at_any_depth() {
        let err = from_slice::<Sample>(b"[1, [], null]").unwrap_err();
        assert!(err.to_string().starts_with("invalid type: sequence, expected struct Sample"), "{err}");
        let err = from_slice::<Outer>(b"{\"inner\": [[1]], \"maybe\": null}").unwrap_err();
        assert!(err.to_string().starts_with("invalid type: sequence, expected struct Inner"), "{err}");
        let err = from_slice::<Outer>(b"{\"inner\": [], \"maybe\": [2]}").unwrap_err();
        assert!(err.to_string().starts_with("invalid type: sequence, expected struct Inner"), "{err}");
        let outer = from_slice::<Outer>(b"{\"inner\": [{\"a\": 1}, {\"a\": 2.0}], \"maybe\": {\"a\": 3}}").unwrap();
        assert_eq!((outer.inner.len(), outer.maybe.map(|i| i.a)), (2, Some(3)));
        // An array is still an array, and a map a map.
        assert_eq!(from_slice::<Vec<u8>>(b"[1, 2.0]").unwrap(), [1, 2]);
        let map = from_slice::<std::collections::BTreeMap<String, u8>>(b"{\"a\": 1}").unwrap();
        assert_eq!(map["a"], 1);
    }

    #[test]
    fn a_fraction_or_a_float_past_two_to_the_53_is_refused() {
        for body in [&b"{\"age\": 36.5, \"steps\": [], \"any\": 0}"[..], b"{\"age\": 1e300, \"steps\": [], \"any\": 0}"]
        {
            let err = from_slice::<Sample>(body).unwrap_err();
            assert!(err.to_string().starts_with("invalid type: floating point"), "{err}");
        }
        // Out of range once it is an integer: the integer's error.
        let err = from_slice::<Sample>(b"{\"age\": 1, \"steps\": [300.0], \"any\": 0}").unwrap_err();
        assert!(err.to_string().starts_with("invalid value: integer `300`"), "{err}");
    }
}
