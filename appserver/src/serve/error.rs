//! [`ServeError`]: why a server did not start, or stopped.

use super::tls::TlsError;
use crate::config::ConfigError;
use crate::routing::RouteError;
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
pub struct ServeError(Box<Cause>);

/// What went wrong.
#[derive(Debug)]
pub(crate) enum Cause {
    Config(Vec<ConfigError>),
    Routes(Vec<RouteError>),
    Bind {
        addr: SocketAddr,
        error: io::Error,
    },
    /// The listening socket's address could not be read.
    LocalAddr(io::Error),
    /// A listener given to `serve_on` could not be used.
    Listener(io::Error),
    Unsupported(String),
    Hook(io::Error),
    /// A tokio runtime could not be built.
    Runtime(io::Error),
    /// A thread of the server could not be started.
    Thread {
        name: &'static str,
        error: io::Error,
    },
    /// The signal handlers could not be installed.
    Signals(io::Error),
    /// A Forked master's process calls (fork, signal masks, pipes, waits) failed.
    Master(io::Error),
    /// The server stopped with an error while it served.
    Stopped(io::Error),
    Boot(String),
    Tls(TlsError),
    /// A folder given to `serve_dir` cannot be served.
    StaticDir {
        prefix: String,
        folder: std::path::PathBuf,
        error: io::Error,
    },
}

impl ServeError {
    pub(crate) fn new(cause: Cause) -> Self {
        ServeError(Box::new(cause))
    }

    /// The error as an `io::ErrorKind`, as its conversion into `io::Error` has it.
    pub fn kind(&self) -> io::ErrorKind {
        match &*self.0 {
            Cause::Config(_) | Cause::Routes(_) | Cause::Tls(_) => io::ErrorKind::InvalidInput,
            Cause::Unsupported(_) => io::ErrorKind::Unsupported,
            Cause::Boot(_) => io::ErrorKind::Other,
            _ => self.io_error().map_or(io::ErrorKind::Other, io::Error::kind),
        }
    }

    /// The I/O error behind this one, if there is one.
    fn io_error(&self) -> Option<&io::Error> {
        match &*self.0 {
            Cause::Bind { error, .. }
            | Cause::LocalAddr(error)
            | Cause::Listener(error)
            | Cause::Hook(error)
            | Cause::Runtime(error)
            | Cause::Thread { error, .. }
            | Cause::Signals(error)
            | Cause::Master(error)
            | Cause::Stopped(error)
            | Cause::StaticDir { error, .. } => Some(error),
            Cause::Config(_) | Cause::Routes(_) | Cause::Unsupported(_) | Cause::Boot(_) | Cause::Tls(_) => None,
        }
    }
}

impl From<Vec<ConfigError>> for ServeError {
    fn from(errors: Vec<ConfigError>) -> Self {
        ServeError::new(Cause::Config(errors))
    }
}

impl From<Vec<RouteError>> for ServeError {
    fn from(errors: Vec<RouteError>) -> Self {
        ServeError::new(Cause::Routes(errors))
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
            Cause::Config(errors) => lines(f, errors),
            Cause::Routes(errors) => lines(f, errors),
            Cause::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            Cause::LocalAddr(error) => write!(f, "cannot read the address the server listens on: {error}"),
            Cause::Listener(error) => write!(f, "cannot serve on the listener given: {error}"),
            Cause::Unsupported(message) | Cause::Boot(message) => f.write_str(message),
            Cause::Hook(error) => write!(f, "on_worker_start failed: {error}"),
            Cause::Runtime(error) => write!(f, "cannot start the runtime: {error}"),
            Cause::Thread { name, error } => write!(f, "cannot start the thread {name}: {error}"),
            Cause::Signals(error) => write!(f, "cannot handle signals: {error}"),
            Cause::Master(error) => write!(f, "the master process failed: {error}"),
            Cause::Stopped(error) => write!(f, "the server stopped: {error}"),
            Cause::Tls(error) => write!(f, "{error}"),
            Cause::StaticDir { prefix, folder, error } => {
                write!(f, "serve_dir({prefix:?}, {:?}): cannot serve the folder: {error}", folder.display().to_string())
            }
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
        self.io_error().map(|error| error as _)
    }
}

impl From<ServeError> for io::Error {
    fn from(error: ServeError) -> Self {
        io::Error::new(error.kind(), error)
    }
}
