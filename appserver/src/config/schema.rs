//! The one settings schema ([`schema!`]): every key's type, default, check and expected
//! form. From it come the [`Settings`] of each layer, the resolved [`Config`], the `Server`
//! setters and every error message, so they cannot disagree.

use super::error_format::ErrorFormat;
use super::server_type::ServerType;
use super::tokens::Tokens;
use super::value::{Raw, Value};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The longest duration any setting takes.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Calls `$then!` with every setting: doc, key, type, default, expected form, check.
/// The one list of settings; the README's config block is checked against it.
macro_rules! schema {
    ($then:ident) => {
        $then! {
            /// The IP address to listen on.
            host: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST), "an IP address such as \"127.0.0.1\" or \"::\"", |_| true;
            /// The port to listen on; 0 picks a free port.
            port: u16 = 8080, "a port number from 0 to 65535", |_| true;
            /// How handlers run: one process with threads, or forked worker processes.
            server_type: ServerType = ServerType::Threaded, "\"threaded\" or \"forked\"", |_| true;
            /// Threads (Threaded) or processes (Forked) serving requests; default: the
            /// number of CPUs.
            workers: usize = cpus(), "a number from 1 to 1024", |n| (1..=1024).contains(n);
            /// The log filter of the default subscriber; `RUST_LOG`, when set, wins.
            log: String = "info".to_owned(), "a log filter such as \"info\" or \"warn,appserver::access=info\"",
                |filter| tracing_subscriber::EnvFilter::builder().parse(filter).is_ok();
            /// The largest request body, in bytes; a larger one is a 413.
            max_body_bytes: usize = 1 << 20, "a number of bytes", |_| true;
            /// The largest field of a multipart body ([`Multipart`](crate::Multipart)), in
            /// bytes; a larger one is a 413. Unset, the body's limit alone applies.
            max_field_bytes: Option<usize> = None, "a number of bytes", |_| true;
            /// The largest WebSocket message ([`ws`](crate::ws)), in bytes; a larger one closes
            /// the socket with 1009.
            ws_max_message_bytes: usize = 16 << 20, "a number of bytes", |n| *n > 0;
            /// How long a WebSocket may carry no message either way: then, while its handler
            /// waits for a message, it is closed with 1001.
            ws_idle_timeout: Duration = Duration::from_secs(60), DURATION, positive;
            /// The largest request head (request line and headers), in bytes; a larger one
            /// is a 431.
            max_header_bytes: usize = 64 << 10, "a number of bytes from 8192 to 16777216",
                |n| (8192..=16 << 20).contains(n);
            /// How long a client may take to send a request's head, counted from when the
            /// connection opens or goes idle; then the connection is closed.
            header_timeout: Duration = Duration::from_secs(10), DURATION, positive;
            /// How long an async or blocking handler may run, and a body may take to
            /// arrive; then the answer is a 503 (a 408 for the body).
            request_timeout: Duration = Duration::from_secs(30), DURATION, positive;
            /// How long a request body may pause: with no new bytes for this long, the
            /// answer is a 408 (`request_timeout` bounds the whole body too).
            body_timeout: Duration = Duration::from_secs(10), DURATION, positive;
            /// How long a connection may stay open without a new request
            /// (`header_timeout` bounds it too).
            keep_alive_timeout: Duration = Duration::from_secs(5), DURATION, positive;
            /// The most connections served at once, per process. When all are taken, the
            /// oldest connection that has not sent a complete request head is closed for a
            /// newcomer; when every one is busy, newcomers wait in the backlog.
            max_connections: usize = 4096, "a number from 1 to 1048576", |n| (1..=1 << 20).contains(n);
            /// The most connections one client address may hold, per process; past it, the
            /// address's oldest connection without a request in flight is closed, or the
            /// newcomer is answered 503.
            max_connections_per_client: usize = 1024, "a number from 1 to 1048576",
                |n| (1..=1 << 20).contains(n);
            /// Connections the kernel queues before the server accepts them (the kernel's
            /// `net.core.somaxconn` caps it).
            backlog: u32 = 1024, "a number from 1 to 65535", |n| (1..=65535).contains(n);
            /// The TLS certificate chain (PEM); with `tls_key`, the server speaks HTTPS only,
            /// offering HTTP/2 and HTTP/1.1 (ALPN). SIGHUP reloads it.
            tls_cert: Option<PathBuf> = None, "the path of a PEM certificate chain", |_| true;
            /// The TLS private key (PEM) of `tls_cert`.
            tls_key: Option<PathBuf> = None, "the path of a PEM private key", |_| true;
            /// HTTP/2 on plain TCP too, for clients with prior knowledge (HTTP/1.1 still
            /// works); with TLS, HTTP/2 is offered anyway.
            http2: bool = false, "true or false", |_| true;
            /// The most HTTP/2 streams (requests) one connection may have open at once.
            http2_max_streams: u32 = 16, "a number from 1 to 1024", |n| (1..=1024).contains(n);
            /// The bearer tokens that [`Bearer`](crate::Bearer) routes accept, with their
            /// names and roles (see [`Tokens`](crate::Tokens)); never logged.
            auth_tokens: Tokens = Tokens::new(), TOKENS, Tokens::valid;
            /// A TOML file of more tokens: `[[tokens]]` tables of `name`, `token` (the
            /// secret) and `roles`; keep it readable by the server's user only.
            auth_tokens_file: Option<PathBuf> = None, "the path of a TOML file of [[tokens]] tables", |_| true;
            /// How long a shutdown waits for requests in flight; then the connections
            /// still open are closed (Forked: the workers still busy are killed) and the
            /// process exits, whatever its handlers do.
            graceful_timeout: Duration = Duration::from_secs(30), DURATION, |d| *d <= MAX_DURATION;
            /// Serve the routes' OpenAPI 3.1 document (see [`openapi`](crate::openapi())) at
            /// this path, such as "/openapi.json"; off by default.
            openapi_path: Option<String> = None, "a path starting with /, such as \"/openapi.json\"",
                |path: &Option<String>| path.as_ref().is_none_or(|p| p.starts_with('/'));
            /// Answer liveness probes at this path, such as "/healthz": 200
            /// `{"status":"ok"}` while the process serves; off by default.
            health_path: Option<String> = None, "a path starting with /, such as \"/healthz\"",
                |path: &Option<String>| path.as_ref().is_none_or(|p| p.starts_with('/'));
            /// Answer readiness probes at this path, such as "/readyz": 200 when every check
            /// added with [`Server::readiness`](crate::Server::readiness) passes, else 503,
            /// and 503 from the moment a graceful shutdown begins; off by default.
            ready_path: Option<String> = None, "a path starting with /, such as \"/readyz\"",
                |path: &Option<String>| path.as_ref().is_none_or(|p| p.starts_with('/'));
            /// Serve Prometheus metrics at this path, such as "/metrics": requests by
            /// method, route pattern and status, their durations, connections, the
            /// process's CPU, memory and files, and the application's own (recorded with
            /// the `metrics` crate); a Forked server's sum over its workers. Off by default.
            metrics_path: Option<String> = None, "a path starting with /, such as \"/metrics\"",
                |path: &Option<String>| path.as_ref().is_none_or(|p| p.starts_with('/'));
            /// Write access lines for the requests of `health_path` and `ready_path`; false
            /// leaves those out of the access log.
            log_probes: bool = true, "true or false", |_| true;
            /// Give each request an id: its `x-request-id` header if it has a usable one
            /// (1 to 128 visible characters), else a new one that the handler sees in that
            /// header; either way echoed in the response's `x-request-id` and written in the
            /// access line (`request_id=`). Off by default: it costs each request about a
            /// tenth more CPU (BENCHMARKS.md).
            request_id: bool = false, "true or false", |_| true;
            /// Refuse to start when two routes can match the same path and only the
            /// tie-break (the pattern text) decides between them; otherwise each such pair
            /// is a warning with a path both match.
            strict_routes: bool = false, "true or false", |_| true;
            /// Print the route table (see [`routes`](crate::routes)) and exit instead of
            /// serving: `APPSERVER_PRINT_ROUTES=true cargo run`.
            print_routes: bool = false, "true or false", |_| true;
            /// The shape of error bodies: `"json"`, `{"error":{"status":404,"message":"..."}}`,
            /// or `"problem"`, RFC 9457 problem details (`application/problem+json`);
            /// [`Server::error_renderer`](crate::Server::error_renderer) sets any other.
            error_format: ErrorFormat = ErrorFormat::Json, "\"json\" or \"problem\"", |_| true;
        }
    };
}
pub(crate) use schema;

/// The expected form of `auth_tokens`.
pub(crate) const TOKENS: &str = "tokens as \"name:secret:role+role, ...\" or [{ name, token, roles }]: names and secrets \
    each used once, secrets of at least 16 characters without spaces";
/// Keys whose values are never shown, not even in errors.
const SECRET: &[&str] = &["auth_tokens"];

/// The expected form of every duration.
pub(crate) const DURATION: &str =
    "a duration up to 1 day: seconds (10, 0.5) or a string such as \"250ms\", \"10s\", \"2m\"";

fn positive(duration: &Duration) -> bool {
    !duration.is_zero() && *duration <= MAX_DURATION
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(1024)
}

macro_rules! define_settings {
    ($( $(#[doc = $doc:literal])* $key:ident : $ty:ty = $default:expr, $expected:expr, $valid:expr; )*) => {
        /// One layer of configuration: each setting, if this layer sets it.
        #[derive(Debug, Default, Clone)]
        pub(crate) struct Settings {
            $( pub(crate) $key: Option<$ty>, )*
            /// The application's tables in the config file (set in code only).
            pub(crate) sections: Vec<&'static str>,
        }

        /// The settings a server runs with, every layer resolved: see
        /// [`Server::config`](crate::Server::config).
        #[derive(Debug, Clone)]
        pub struct Config {
            $( pub(crate) $key: $ty, )*
        }

        impl Config {
            $(
                $(#[doc = $doc])*
                pub fn $key(&self) -> &$ty {
                    &self.$key
                }
            )*
        }

        /// Every key with its expected form, in schema order.
        pub(crate) const KEYS: &[(&str, &str)] = &[$( (stringify!($key), $expected), )*];

        impl Settings {
            /// Each setting of `self`, or else of `lower`.
            pub(crate) fn or(self, lower: Settings) -> Settings {
                Settings { $( $key: self.$key.or(lower.$key), )* sections: self.sections }
            }

            /// Sets `key` from `raw`, which must parse and pass the key's check.
            pub(crate) fn set(&mut self, key: &str, raw: Raw<'_>, source: &Source) -> Result<(), ConfigError> {
                match key {
                    $( stringify!($key) => {
                        self.$key = Some(parse(stringify!($key), raw, $expected, $valid, source)?);
                        Ok(())
                    } )*
                    _ => Err(ConfigError::UnknownKey { source: source.clone(), key: key.to_owned() }),
                }
            }

            /// The errors of the values set in code (the other layers are checked as read).
            pub(crate) fn check_code(&self) -> Vec<ConfigError> {
                let mut errors = Vec::new();
                $( if let Some(value) = &self.$key {
                    if !check(value, $valid) {
                        errors.push(ConfigError::Invalid {
                            source: Source::Code,
                            key: stringify!($key),
                            value: format!("{value:?}"),
                            expected: $expected,
                        });
                    }
                } )*
                errors
            }

            /// The settings, with the defaults for those not set.
            pub(crate) fn config(self) -> Config {
                Config { $( $key: self.$key.unwrap_or_else(|| $default), )* }
            }
        }

        impl Config {
            /// The keys whose values differ between `self` and `other`.
            pub(crate) fn changed(&self, other: &Config) -> Vec<&'static str> {
                let mut keys = Vec::new();
                $( if self.$key != other.$key { keys.push(stringify!($key)); } )*
                keys
            }
        }
    };
}
schema!(define_settings);

/// The expected form of `key`'s value.
pub(crate) fn expected(key: &str) -> &'static str {
    KEYS.iter().find(|(k, _)| *k == key).map_or("", |(_, expected)| expected)
}

/// `valid(value)`, with the closure's argument type pinned to `T`.
fn check<T>(value: &T, valid: impl Fn(&T) -> bool) -> bool {
    valid(value)
}

/// `raw` as a `T`, if it parses and passes `valid`.
fn parse<T: Value>(
    key: &'static str,
    raw: Raw<'_>,
    expected: &'static str,
    valid: impl Fn(&T) -> bool,
    source: &Source,
) -> Result<T, ConfigError> {
    let value = match raw {
        Raw::Toml(value) => T::from_toml(value),
        Raw::Text(text) => T::from_text(text),
    };
    value.filter(|v| valid(v)).ok_or_else(|| ConfigError::Invalid {
        source: source.clone(),
        key,
        value: if SECRET.contains(&key) { "(secret)".into() } else { raw.to_string() },
        expected,
    })
}

/// Where a value came from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File { path: PathBuf, line: usize },
    Env(String),
    Code,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Code => f.write_str("set in code"),
        }
    }
}

/// A configuration that cannot be used; each displays as one line naming the source, the
/// key, the value and the expected form.
#[derive(Debug)]
pub(crate) enum ConfigError {
    Unreadable {
        path: PathBuf,
        error: io::Error,
    },
    Syntax {
        path: PathBuf,
        line: usize,
        key: Option<String>,
        message: String,
    },
    UnknownKey {
        source: Source,
        key: String,
    },
    Invalid {
        source: Source,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    Pair {
        keys: [&'static str; 2],
    },
    /// A section of the application that does not fit its type.
    Section {
        name: &'static str,
        path: PathBuf,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, error } => {
                write!(f, "cannot read the config file {}: {error}", path.display())
            }
            ConfigError::Syntax { path, line, key: Some(key), message } => {
                write!(f, "{}:{line}: invalid TOML in the value of `{key}`: {message}", path.display())
            }
            ConfigError::Syntax { path, line, key: None, message } => {
                write!(f, "{}:{line}: invalid TOML: {message}", path.display())
            }
            ConfigError::UnknownKey { source, key } => {
                let keys: Vec<&str> = KEYS.iter().map(|(key, _)| *key).collect();
                write!(f, "{source}: unknown key `{key}`; the keys are {}", keys.join(", "))
            }
            ConfigError::Invalid { source, key, value, expected } => {
                write!(f, "{source}: invalid value {value} for `{key}`: expected {expected}")
            }
            ConfigError::Pair { keys: [a, b] } => write!(f, "`{a}` and `{b}` go together: set both or neither"),
            ConfigError::Section { name, path, message } => write!(
                f,
                "invalid `[{name}]` settings (from {} and the {}_* variables): {message}",
                path.display(),
                name.to_ascii_uppercase()
            ),
        }
    }
}
