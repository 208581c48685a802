//! The set of HTTP methods a route answers.

use std::fmt;
use std::ops::BitOr;

/// A set of the HTTP methods a route can name; the `#[route]` macro builds it and the
/// router reads it, so both use this one list.
///
/// ```
/// use appserver_pattern::Methods;
///
/// let methods = Methods::from_name("GET").unwrap() | Methods::POST;
/// assert_eq!(methods.to_string(), "GET, POST");
/// assert_eq!(methods.with_head().to_string(), "GET, HEAD, POST");
/// assert_eq!(Methods::from_name("BREW"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Methods(u8);

impl Methods {
    /// `GET`.
    pub const GET: Methods = Methods(1);
    /// `HEAD`.
    pub const HEAD: Methods = Methods(1 << 1);
    /// `POST`.
    pub const POST: Methods = Methods(1 << 2);
    /// `PUT`.
    pub const PUT: Methods = Methods(1 << 3);
    /// `DELETE`.
    pub const DELETE: Methods = Methods(1 << 4);
    /// `PATCH`.
    pub const PATCH: Methods = Methods(1 << 5);
    /// `OPTIONS`.
    pub const OPTIONS: Methods = Methods(1 << 6);
    /// What a route answers when it names no method: GET and POST, like the original server.
    pub const DEFAULT: Methods = Methods(Self::GET.0 | Self::POST.0);
    /// Every method a route can name, with its name, in bit order.
    pub const ALL: [(&'static str, Methods); 7] = [
        ("GET", Self::GET),
        ("HEAD", Self::HEAD),
        ("POST", Self::POST),
        ("PUT", Self::PUT),
        ("DELETE", Self::DELETE),
        ("PATCH", Self::PATCH),
        ("OPTIONS", Self::OPTIONS),
    ];

    /// The set with these bits (as [`Methods::bits`] gives them); unknown bits are dropped.
    pub const fn from_bits(bits: u8) -> Methods {
        Methods(bits & 0x7f)
    }

    /// The bits of the set, for code generation.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The method named `name` (upper case, as on the wire), if routes can name it.
    pub fn from_name(name: &str) -> Option<Methods> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, m)| m)
    }

    /// The position of the single method named `name` in [`Methods::ALL`].
    pub fn index_of(name: &str) -> Option<usize> {
        Self::ALL.iter().position(|(n, _)| *n == name)
    }

    /// The set with HEAD added when it holds GET: a GET route answers HEAD too.
    pub const fn with_head(self) -> Methods {
        Methods(self.0 | ((self.0 & Self::GET.0) << 1))
    }

    /// Whether the two sets share a method.
    pub const fn intersects(self, other: Methods) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the methods in the set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().filter(move |(_, m)| self.intersects(*m)).map(|(n, _)| n)
    }
}

impl BitOr for Methods {
    type Output = Methods;

    fn bitor(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }
}

/// The names joined with `, `, as in an `Allow` header.
impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}
