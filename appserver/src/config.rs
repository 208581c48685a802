//! Settings: one schema ([`schema!`]) gives every key its type, default, check and
//! expected form. From it come the layers (`appserver.toml`, `APPSERVER_<KEY>` variables,
//! what the program sets on [`Server`](crate::Server)), the resolved [`Config`], the
//! `Server` setters and every error message, so they cannot disagree.

use crate::auth::Tokens;
use crate::server_type::ServerType;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when `APPSERVER_CONFIG` names none.
const DEFAULT_FILE: &str = "appserver.toml";
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
            /// Refuse to start when two routes can match the same path and only the
            /// tie-break (the pattern text) decides between them; otherwise each such pair
            /// is a warning with a path both match.
            strict_routes: bool = false, "true or false", |_| true;
            /// Print the route table (see [`routes`](crate::routes)) and exit instead of
            /// serving: `APPSERVER_PRINT_ROUTES=true cargo run`.
            print_routes: bool = false, "true or false", |_| true;
        }
    };
}
pub(crate) use schema;

/// The expected form of `auth_tokens`.
const TOKENS: &str = "tokens as \"name:secret:role+role, ...\" or [{ name, token, roles }]: names and secrets \
    each used once, secrets of at least 16 characters without spaces";
/// Keys whose values are never shown, not even in errors.
const SECRET: &[&str] = &["auth_tokens"];

/// The expected form of every duration.
const DURATION: &str = "a duration up to 1 day: seconds (10, 0.5) or a string such as \"250ms\", \"10s\", \"2m\"";

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
            fn or(self, lower: Settings) -> Settings {
                Settings { $( $key: self.$key.or(lower.$key), )* sections: self.sections }
            }

            /// Sets `key` from `raw`, which must parse and pass the key's check.
            fn set(&mut self, key: &str, raw: Raw<'_>, source: &Source) -> Result<(), ConfigError> {
                match key {
                    $( stringify!($key) => {
                        self.$key = Some(parse(stringify!($key), raw, $expected, $valid, source)?);
                        Ok(())
                    } )*
                    _ => Err(ConfigError::UnknownKey { source: source.clone(), key: key.to_owned() }),
                }
            }

            /// The errors of the values set in code (the other layers are checked as read).
            fn check_code(&self) -> Vec<ConfigError> {
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
            fn config(self) -> Config {
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

impl Settings {
    /// `self` (set in code) over the environment over the config file over the defaults.
    /// Every error of every layer is reported.
    pub(crate) fn resolve(&self) -> Result<Config, Vec<ConfigError>> {
        let (path, required) = file_path();
        let mut errors = self.check_code();
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => from_file(&path, &text, &self.sections, &mut errors),
            Err(err) if err.kind() == io::ErrorKind::NotFound && !required => Settings::default(),
            Err(error) => {
                errors.push(ConfigError::Unreadable { path, error });
                Settings::default()
            }
        };
        let env = from_env(std::env::vars_os(), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        self.clone().or(env).or(file).finish()
    }

    /// The settings made in code over the defaults, without the config file or the
    /// environment (for the in-process test client).
    pub(crate) fn resolve_in_code(&self) -> Result<Config, Vec<ConfigError>> {
        let errors = self.check_code();
        if !errors.is_empty() {
            return Err(errors);
        }
        self.clone().finish()
    }

    /// The settings with the defaults for those not set, checked as a whole, with the
    /// tokens of `auth_tokens_file`.
    fn finish(self) -> Result<Config, Vec<ConfigError>> {
        let mut config = self.config();
        if config.tls_cert.is_some() != config.tls_key.is_some() {
            return Err(vec![ConfigError::Pair { keys: ["tls_cert", "tls_key"] }]);
        }
        if let Some(path) = &config.auth_tokens_file {
            let tokens = tokens_file(path)?;
            config.auth_tokens = std::mem::take(&mut config.auth_tokens).merge(tokens);
            if !config.auth_tokens.valid() {
                return Err(vec![ConfigError::Invalid {
                    source: Source::File { path: path.clone(), line: 1 },
                    key: "auth_tokens",
                    value: "(secret)".into(),
                    expected: TOKENS,
                }]);
            }
        }
        Ok(config)
    }
}

/// The config file: the one `APPSERVER_CONFIG` names (then it must exist), else
/// `appserver.toml` in the working directory, if there is one.
pub(crate) fn file_path() -> (PathBuf, bool) {
    match std::env::var_os("APPSERVER_CONFIG") {
        Some(path) => (PathBuf::from(path), true),
        None => (PathBuf::from(DEFAULT_FILE), false),
    }
}

/// Settings from the TOML text of the file at `path`; the tables named in `sections`
/// belong to the application.
fn from_file(path: &Path, text: &str, sections: &[&str], errors: &mut Vec<ConfigError>) -> Settings {
    use toml::Spanned;
    let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let mut settings = Settings::default();
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> = match toml::from_str(text) {
        Ok(table) => table,
        Err(err) => {
            let line = err.span().map_or(1, |span| line(span.start));
            // The key the broken line sets, if it reads `key = ...`.
            let key = text.lines().nth(line - 1).and_then(|l| l.split_once('=')).map(|(key, _)| key.trim().to_owned());
            let message = err.message().trim_end().replace('\n', "; ");
            errors.push(ConfigError::Syntax { path: path.to_owned(), line, key, message });
            return settings;
        }
    };
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        if sections.contains(&key.get_ref().as_str()) && value.get_ref().is_table() {
            continue;
        }
        let source = Source::File { path: path.to_owned(), line: line(key.span().start) };
        if let Err(err) = settings.set(key.get_ref(), Raw::Toml(value.get_ref()), &source) {
            errors.push(err);
        }
    }
    settings
}

/// The tokens of an `auth_tokens_file`: `[[tokens]]` tables, checked like `auth_tokens`.
fn tokens_file(path: &Path) -> Result<Tokens, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| vec![ConfigError::Unreadable { path: path.to_owned(), error }])?;
    let invalid = |line| {
        vec![ConfigError::Invalid {
            source: Source::File { path: path.to_owned(), line },
            key: "tokens",
            value: "(secret)".into(),
            expected: TOKENS,
        }]
    };
    let table: toml::Table = toml::from_str(&text).map_err(|err| {
        let line = err.span().map_or(1, |span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        invalid(line)
    })?;
    let tokens = table.get("tokens").and_then(Tokens::from_toml).ok_or_else(|| invalid(1))?;
    Ok(tokens)
}

/// Settings from `APPSERVER_<KEY>=value` variables, each value read as its key's type.
fn from_env(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    errors: &mut Vec<ConfigError>,
) -> Settings {
    let mut settings = Settings::default();
    for (name, value) in vars {
        let Some(name) = name.to_str().filter(|n| n.starts_with("APPSERVER_") && *n != "APPSERVER_CONFIG") else {
            continue;
        };
        let source = Source::Env(name.to_owned());
        let key = name["APPSERVER_".len()..].to_ascii_lowercase();
        let text = value.to_string_lossy();
        if let Err(err) = settings.set(&key, Raw::Text(&text), &source) {
            errors.push(err);
        }
    }
    settings
}

/// A value as read, before it is parsed into its key's type.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Toml(&'a toml::Value),
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
trait Value: Sized + fmt::Debug {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let settings = from_file(Path::new("conf/app.toml"), text, &["app"], &mut errors);
        match errors.is_empty() {
            true => Ok(settings),
            false => Err(errors.iter().map(ToString::to_string).collect()),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let settings = from_env(pairs.iter().map(|(k, v)| (k.into(), v.into())), &mut errors);
        match errors.is_empty() {
            true => Ok(settings),
            false => Err(errors.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn file_keys_and_forms() {
        let text = r#"
            host = "0.0.0.0"
            port = 9000
            server_type = "forked"
            workers = 3
            header_timeout = "250ms"
            request_timeout = 2.5
            graceful_timeout = 7
            keep_alive_timeout = "1m"
        "#;
        let config = file(text).unwrap().config();
        assert_eq!((config.host.to_string(), config.port), ("0.0.0.0".to_owned(), 9000));
        assert_eq!((config.server_type, config.workers), (ServerType::Forked, 3));
        assert_eq!(config.header_timeout, Duration::from_millis(250));
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.graceful_timeout, Duration::from_secs(7));
        assert_eq!(config.keep_alive_timeout, Duration::from_secs(60));
        assert_eq!((config.max_body_bytes, config.max_header_bytes), (1 << 20, 64 << 10));
    }

    #[test]
    fn file_errors_name_the_line_the_key_the_value_and_the_form_all_at_once() {
        let errors = file("port = 80\nprot = 80\nworkers = 0\n\nheader_timeout = \"soon\"\nrequest_timeout = 0\n");
        assert_eq!(
            errors.unwrap_err(),
            [
                "conf/app.toml:2: unknown key `prot`; the keys are host, port, server_type, workers, log, \
                 max_body_bytes, max_header_bytes, header_timeout, request_timeout, keep_alive_timeout, \
                 max_connections, max_connections_per_client, backlog, tls_cert, tls_key, http2, auth_tokens, \
                 auth_tokens_file, graceful_timeout, openapi_path, strict_routes, print_routes",
                "conf/app.toml:3: invalid value 0 for `workers`: expected a number from 1 to 1024",
                format!("conf/app.toml:5: invalid value \"soon\" for `header_timeout`: expected {DURATION}").as_str(),
                format!("conf/app.toml:6: invalid value 0 for `request_timeout`: expected {DURATION}").as_str(),
            ]
        );
        let errors = file("port = 80\nworkers = [\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("conf/app.toml:2: invalid TOML in the value of `workers`: "), "{errors:?}");
        assert!(!errors[0].contains('\n'), "one line: {errors:?}");
        let errors = file("port = 80\n[oops\n").unwrap_err();
        assert!(errors[0].starts_with("conf/app.toml:2: invalid TOML: "), "{errors:?}");
        let errors = file("server_type = \"process\"\nworkers = 100000\n").unwrap_err();
        assert_eq!(
            errors,
            [
                "conf/app.toml:1: invalid value \"process\" for `server_type`: expected \"threaded\" or \"forked\"",
                "conf/app.toml:2: invalid value 100000 for `workers`: expected a number from 1 to 1024",
            ]
        );
    }

    #[test]
    fn environment_values_are_typed_values_never_toml_source() {
        let settings =
            env(&[("APPSERVER_HOST", "0.0.0.0"), ("APPSERVER_SERVER_TYPE", "forked"), ("APPSERVER_PORT", "81")]);
        let config = settings.unwrap().config();
        assert_eq!(
            (config.host.to_string(), config.port, config.server_type),
            ("0.0.0.0".into(), 81, ServerType::Forked)
        );
        // A newline cannot smuggle in another key.
        let errors = env(&[("APPSERVER_PORT", "18401\nworkers = 7")]).unwrap_err();
        assert_eq!(
            errors,
            [
                r#"environment variable APPSERVER_PORT: invalid value "18401\nworkers = 7" for `port`: expected a port number from 0 to 65535"#
            ]
        );
        let errors =
            env(&[("APPSERVER_WORKERS", "0"), ("APPSERVER_PORT", "99999"), ("APPSERVER_PROT", "1")]).unwrap_err();
        assert_eq!(
            errors[..2],
            [
                r#"environment variable APPSERVER_WORKERS: invalid value "0" for `workers`: expected a number from 1 to 1024"#,
                r#"environment variable APPSERVER_PORT: invalid value "99999" for `port`: expected a port number from 0 to 65535"#,
            ]
        );
        assert!(errors[2].starts_with("environment variable APPSERVER_PROT: unknown key `prot`; the keys are host,"));
        let tokens = env(&[("APPSERVER_AUTH_TOKENS", "w1:0123456789abcdef:worker, ops:fedcba9876543210:worker+admin")]);
        let tokens = tokens.unwrap().config().auth_tokens;
        assert_eq!(format!("{tokens:?}"), r#"{"w1": ["worker"], "ops": ["worker", "admin"]}"#, "no secret shown");
        let errors = env(&[("APPSERVER_AUTH_TOKENS", "w1:short-secret:worker")]).unwrap_err();
        assert!(
            errors[0]
                .starts_with("environment variable APPSERVER_AUTH_TOKENS: invalid value (secret) for `auth_tokens`")
        );
        assert!(!errors[0].contains("short-secret"), "{errors:?}");
        let log = env(&[("APPSERVER_LOG", "warn,appserver::access=info")]).unwrap().config().log;
        assert_eq!(log, "warn,appserver::access=info");
    }

    #[test]
    fn code_over_environment_over_file_and_code_is_checked_like_the_rest() {
        let file = file("port = 1\nworkers = 1\nmax_body_bytes = 1").unwrap();
        let env = env(&[("APPSERVER_PORT", "2"), ("APPSERVER_WORKERS", "2")]).unwrap();
        let code = Settings { port: Some(3), ..Settings::default() };
        let config = code.or(env).or(file).config();
        assert_eq!((config.port, config.workers, config.max_body_bytes), (3, 2, 1));
        let code = Settings { workers: Some(0), graceful_timeout: Some(Duration::MAX), ..Settings::default() };
        let errors: Vec<String> = code.check_code().iter().map(ToString::to_string).collect();
        assert_eq!(errors[0], "set in code: invalid value 0 for `workers`: expected a number from 1 to 1024");
        assert!(
            errors[1].starts_with("set in code: invalid value 18446744073709551615.999999999s for `graceful_timeout`")
        );
    }

    #[test]
    fn the_readme_lists_every_key_with_its_default() {
        let readme = include_str!("../../README.md");
        let config = Settings::default().config();
        for (key, _) in KEYS {
            // An optional key, off by default, is shown commented out.
            let line = readme
                .lines()
                .find(|l| l.starts_with(&format!("{key} =")) || l.starts_with(&format!("# {key} =")))
                .unwrap_or_else(|| panic!("README.md's config block has no line `{key} = ...`"));
            let commented = line.starts_with('#');
            let line = line.trim_start_matches("# ");
            let value = line[key.len() + 3..].split('#').next().unwrap().trim();
            let mut errors = Vec::new();
            let mut settings = Settings::default();
            let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}")).unwrap()["v"].clone();
            settings.set(key, Raw::Toml(&parsed), &Source::Code).unwrap_or_else(|e| errors.push(e));
            assert!(errors.is_empty(), "README's {key}: {}", errors[0]);
            if *key != "workers" && !commented {
                let shown = format!("{:?}", settings.config());
                let default = format!("{config:?}");
                assert_eq!(shown, default, "README.md shows `{line}`, which is not the default of `{key}`");
            }
        }
    }
}
