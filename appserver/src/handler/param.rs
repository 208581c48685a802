//! Route group text into typed parameters.

use super::error::Error;
use super::request::Request;
use percent_encoding::percent_decode_str;
use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

/// A type a route group parses into: any `FromStr` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be parsed from a route group",
    label = "named after a route group, so its type must implement `FromStr`",
    note = "a parameter named after a group of the route pattern has a `FromStr` type (an integer, a float, `bool`, `char`, `String`, or your own), or `Option<T>` of one for a group that may not take part in the match"
)]
pub trait FromParam: Sized {
    /// Parses the percent-decoded group text.
    fn from_param(text: &str) -> Result<Self, String>;
}

#[diagnostic::do_not_recommend]
impl<T: FromStr> FromParam for T
where
    T::Err: Display,
{
    fn from_param(text: &str) -> Result<Self, String> {
        text.parse().map_err(|err: T::Err| err.to_string())
    }
}

/// The parameter at `slot`: a 400 naming `name` when it is absent or does not parse.
pub fn param<T: FromParam>(request: &Request, slot: usize, name: &str) -> Result<T, Error> {
    optional_param(request, slot, name)?.ok_or_else(|| Error::bad_request(format!("missing parameter `{name}`")))
}

/// The parameter at `slot`, `None` when its group took no part in the match.
pub fn optional_param<T: FromParam>(request: &Request, slot: usize, name: &str) -> Result<Option<T>, Error> {
    let Some(raw) = request.param(slot) else {
        return Ok(None);
    };
    let text = match raw.as_bytes().contains(&b'%') {
        false => Cow::Borrowed(raw),
        true => percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| Error::bad_request(format!("parameter `{name}` is not UTF-8 once percent-decoded")))?,
    };
    T::from_param(&text)
        .map(Some)
        .map_err(|err| Error::bad_request(format!("invalid value for parameter `{name}`: {err}")))
}
