//! The types a setting can have, each read from a TOML value or an environment variable's
//! text.

use super::error_format::ErrorFormat;
use super::server_type::ServerType;
use super::tokens::Tokens;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value as read, before it is parsed into its key's type.
#[derive(Clone, Copy)]
pub(crate) enum Raw<'a> {
    /// A value of the config file.
    Toml(&'a toml::Value),
    /// The text of an environment variable.
    Text(&'a str),
}

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Toml(toml::Value::String(text)) => write!(f, "{text:?}"),
            Raw::Toml(toml::Value::Integer(n)) => write!(f, "{n}"),
            Raw::Toml(toml::Value::Float(n)) => write!(f, "{n}"),
            Raw::Toml(toml::Value::Boolean(b)) => write!(f, "{b}"),
            Raw::Toml(toml::Value::Datetime(d)) => write!(f, "{d}"),
            Raw::Toml(toml::Value::Array(_)) => f.write_str("(an array)"),
            Raw::Toml(toml::Value::Table(_)) => f.write_str("(a table)"),
            Raw::Text(text) => write!(f, "{text:?}"),
        }
    }
}

/// A type a setting can have: read from a TOML value or an environment variable's text.
pub(crate) trait Value: Sized + fmt::Debug {
    /// By default, a TOML string read as the text of an environment variable.
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_str().and_then(Self::from_text)
    }
    fn from_text(text: &str) -> Option<Self>;
}

macro_rules! integer_value {
    ($($ty:ty),*) => {$(
        impl Value for $ty {
            fn from_toml(value: &toml::Value) -> Option<Self> {
                value.as_integer().and_then(|n| <$ty>::try_from(n).ok())
            }
            fn from_text(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
        }
    )*};
}
integer_value!(u16, u32, usize);

impl Value for IpAddr {
    fn from_text(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
}

impl Value for String {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl Value for bool {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        value.as_bool()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
}

impl Value for PathBuf {
    fn from_text(text: &str) -> Option<Self> {
        Some(PathBuf::from(text.trim())).filter(|path| !path.as_os_str().is_empty())
    }
}

impl<T: Value> Value for Option<T> {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        T::from_toml(value).map(Some)
    }
    fn from_text(text: &str) -> Option<Self> {
        T::from_text(text).map(Some)
    }
}

/// `"name:secret:role+role, ..."`, or an array of `{ name, token, roles }` tables.
impl Value for Tokens {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        let Some(entries) = value.as_array() else { return value.as_str().and_then(Self::from_text) };
        entries.iter().try_fold(Tokens::new(), |tokens, entry| {
            let roles = match entry.get("roles") {
                Some(roles) => roles.as_array()?.iter().map(|r| r.as_str()).collect::<Option<Vec<&str>>>()?,
                None => Vec::new(),
            };
            Some(tokens.token(entry.get("name")?.as_str()?, entry.get("token")?.as_str()?, roles))
        })
    }
    fn from_text(text: &str) -> Option<Self> {
        Tokens::parse(text)
    }
}

impl Value for ErrorFormat {
    fn from_text(text: &str) -> Option<Self> {
        ErrorFormat::from_name(text.trim())
    }
}

impl Value for ServerType {
    fn from_text(text: &str) -> Option<Self> {
        ServerType::from_name(text.trim())
    }
}

/// Seconds (`10`, `0.5`), or a string with a unit: `"250ms"`, `"10s"`, `"2m"`.
impl Value for Duration {
    fn from_toml(value: &toml::Value) -> Option<Self> {
        match value {
            toml::Value::Integer(secs) => u64::try_from(*secs).ok().map(Duration::from_secs),
            toml::Value::Float(secs) => Duration::try_from_secs_f64(*secs).ok(),
            toml::Value::String(text) => Self::from_text(text),
            _ => None,
        }
    }
    fn from_text(text: &str) -> Option<Self> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let scale = match unit.trim() {
            "ms" => 0.001,
            "s" | "" => 1.0,
            "m" => 60.0,
            _ => return None,
        };
        Duration::try_from_secs_f64(number.parse::<f64>().ok()? * scale).ok()
    }
}
