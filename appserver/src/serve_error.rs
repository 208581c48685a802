//! [`ServeError`]: why a server did not start, or stopped.

use crate::config::ConfigError;
use crate::route::RouteError;
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why a server could not start or stopped with an error: an invalid configuration (every
/// problem, one line each, naming the file and line or the variable, the key, the value
/// and the expected form), routes that cannot be served, an address that cannot be bound,
/// workers that keep failing to boot.
///
/// Its `Debug` is its message, so `fn main() -> Result<(), appserver::ServeError>` prints
/// just that when it fails. It converts into `std::io::Error` for code that returns those.
pub struct ServeError(Box<Kind>);

#[derive(Debug)]
pub(crate) enum Kind {
    Config(Vec<ConfigError>),
    Routes(Vec<RouteError>),
    Bind { addr: SocketAddr, error: io::Error },
    Unsupported(String),
    Hook(io::Error),
    Runtime(io::Error),
    Boot(String),
    Tls(crate::tls::TlsError),
}

impl ServeError {
    pub(crate) fn new(kind: Kind) -> Self {
        ServeError(Box::new(kind))
    }

    /// The error as an `io::ErrorKind`, as its conversion into `io::Error` has it.
    pub fn kind(&self) -> io::ErrorKind {
        match &*self.0 {
            Kind::Config(_) | Kind::Routes(_) => io::ErrorKind::InvalidInput,
            Kind::Bind { error, .. } | Kind::Hook(error) | Kind::Runtime(error) => error.kind(),
            Kind::Unsupported(_) => io::ErrorKind::Unsupported,
            Kind::Boot(_) => io::ErrorKind::Other,
            Kind::Tls(_) => io::ErrorKind::InvalidInput,
        }
    }
}

impl From<Vec<ConfigError>> for ServeError {
    fn from(errors: Vec<ConfigError>) -> Self {
        ServeError::new(Kind::Config(errors))
    }
}

impl From<Vec<RouteError>> for ServeError {
    fn from(errors: Vec<RouteError>) -> Self {
        ServeError::new(Kind::Routes(errors))
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn lines<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str("\n")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        match &*self.0 {
            Kind::Config(errors) => lines(f, errors),
            Kind::Routes(errors) => lines(f, errors),
            Kind::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            Kind::Unsupported(message) | Kind::Boot(message) => f.write_str(message),
            Kind::Hook(error) => write!(f, "on_worker_start failed: {error}"),
            Kind::Runtime(error) => write!(f, "cannot start the runtime: {error}"),
            Kind::Tls(error) => write!(f, "{error}"),
        }
    }
}

/// The message itself, as `main` prints it.
impl fmt::Debug for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            Kind::Bind { error, .. } | Kind::Hook(error) | Kind::Runtime(error) => Some(error),
            _ => None,
        }
    }
}

impl From<ServeError> for io::Error {
    fn from(error: ServeError) -> Self {
        io::Error::new(error.kind(), error)
    }
}
