//! The `Idempotency-Key` header of a v2 put (the IETF httpapi draft's name), as an
//! extractor: a producer that retries a put after a timeout sends the same key, and gets
//! the first put's ids instead of a second task.

use appserver::{Error, FromRequest, HeaderDoc, Request};

/// A put's `Idempotency-Key`, if it has one: 1 to 255 visible ASCII characters (spaces
/// inside allowed), bare or as a quoted string (`"..."`, the draft's form).
pub(crate) struct IdempotencyKey(pub(crate) Option<String>);

/// The header's values, for the OpenAPI document: visible ASCII at both ends.
const PATTERN: &str = r"^[\x21-\x7E]([\x20-\x7E]{0,253}[\x21-\x7E])?$";

impl FromRequest for IdempotencyKey {
    fn from_request(request: &Request) -> Result<Self, Error> {
        let Some(value) = request.headers().get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let text = value.to_str().unwrap_or_default();
        let unquoted = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).filter(|t| !t.is_empty());
        let key = unquoted.unwrap_or(text);
        let visible = |b: &u8| (0x21..=0x7E).contains(b);
        let valid = (1..=255).contains(&key.len())
            && key.bytes().all(|b| (0x20..=0x7E).contains(&b))
            && key.as_bytes().first().is_some_and(visible)
            && key.as_bytes().last().is_some_and(visible);
        match valid {
            true => Ok(IdempotencyKey(Some(key.to_owned()))),
            false => Err(Error::bad_request(
                "`Idempotency-Key` must be 1 to 255 visible ASCII characters (spaces inside allowed)",
            )),
        }
    }

    const HEADER: Option<HeaderDoc> = Some(HeaderDoc {
        name: "Idempotency-Key",
        required: false,
        description: "The same key on the same queue within `idempotency_window` (24 h by default) answers \
                      the first put's ids and puts nothing; with other tasks, 409",
        pattern: Some(PATTERN),
    });
}
