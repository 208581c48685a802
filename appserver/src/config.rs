//! Settings: `appserver.toml`, overridden by `APPSERVER_<KEY>` variables, overridden by
//! what the program sets on [`Server`](crate::Server).

use crate::server::ServerType;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when `APPSERVER_CONFIG` names none.
const DEFAULT_FILE: &str = "appserver.toml";

/// Every setting, each one optional: one layer of configuration.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    pub(crate) host: Option<IpAddr>,
    pub(crate) port: Option<u16>,
    pub(crate) server_type: Option<ServerType>,
    pub(crate) workers: Option<AtLeastOne>,
    pub(crate) log: Option<String>,
    pub(crate) max_body_bytes: Option<usize>,
    pub(crate) header_timeout: Option<Seconds>,
    pub(crate) request_timeout: Option<Seconds>,
    pub(crate) keep_alive_timeout: Option<Seconds>,
    pub(crate) max_connections: Option<AtLeastOne>,
    pub(crate) graceful_timeout: Option<Seconds>,
}

/// The settings a server runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) addr: SocketAddr,
    pub(crate) server_type: ServerType,
    pub(crate) workers: usize,
    pub(crate) log: Option<String>,
    pub(crate) max_body_bytes: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) graceful_timeout: Duration,
}

impl Settings {
    /// Each setting of `self`, or else of `lower`.
    fn or(self, lower: Settings) -> Settings {
        Settings {
            host: self.host.or(lower.host),
            port: self.port.or(lower.port),
            server_type: self.server_type.or(lower.server_type),
            workers: self.workers.or(lower.workers),
            log: self.log.or(lower.log),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            header_timeout: self.header_timeout.or(lower.header_timeout),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            keep_alive_timeout: self.keep_alive_timeout.or(lower.keep_alive_timeout),
            max_connections: self.max_connections.or(lower.max_connections),
            graceful_timeout: self.graceful_timeout.or(lower.graceful_timeout),
        }
    }

    /// `self` (set in code) over the environment over the config file over the defaults.
    pub(crate) fn resolve(self) -> io::Result<Config> {
        let (path, required) = match std::env::var_os("APPSERVER_CONFIG") {
            Some(path) => (PathBuf::from(path), true),
            None => (PathBuf::from(DEFAULT_FILE), false),
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => from_file(&path, &text)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound && !required => Settings::default(),
            Err(err) => return Err(invalid(format!("cannot read the config file {}: {err}", path.display()))),
        };
        let env = from_env(std::env::vars().filter(|(k, _)| k.starts_with("APPSERVER_") && k != "APPSERVER_CONFIG"))?;
        Ok(self.or(env).or(file).config())
    }

    fn config(self) -> Config {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let secs = |value: Option<Seconds>, default: u64| value.map_or(Duration::from_secs(default), |s| s.0);
        Config {
            addr: SocketAddr::new(self.host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), self.port.unwrap_or(8080)),
            server_type: self.server_type.unwrap_or_default(),
            workers: self.workers.map_or(cpus, |w| w.0),
            log: self.log,
            max_body_bytes: self.max_body_bytes.unwrap_or(1 << 20),
            header_timeout: secs(self.header_timeout, 10),
            request_timeout: secs(self.request_timeout, 30),
            keep_alive_timeout: secs(self.keep_alive_timeout, 5),
            max_connections: self.max_connections.map_or(4096, |m| m.0),
            graceful_timeout: secs(self.graceful_timeout, 30),
        }
    }
}

fn invalid(message: String) -> io::Error {
    crate::error::startup_error(io::ErrorKind::InvalidInput, message)
}

/// Settings from the TOML text of the file at `path`.
fn from_file(path: &Path, text: &str) -> io::Result<Settings> {
    toml::from_str(text).map_err(|err| {
        invalid(format!("invalid config file {}: {}\n{}", path.display(), err.message(), expected_forms()))
    })
}

/// Settings from `APPSERVER_<KEY>=value` variables; a value is read as a TOML value, or
/// else as a string (so `APPSERVER_HOST=0.0.0.0` needs no quotes).
fn from_env(vars: impl Iterator<Item = (String, String)>) -> io::Result<Settings> {
    let mut settings = Settings::default();
    for (name, value) in vars {
        let key = name["APPSERVER_".len()..].to_ascii_lowercase();
        let parsed = toml::from_str::<Settings>(&format!("{key} = {value}"))
            .or_else(|_| toml::from_str::<Settings>(&format!("{key} = {}", toml_string(&value))));
        let one = parsed.map_err(|err| {
            invalid(format!("invalid environment variable {name}={value:?}: {}\n{}", err.message(), expected_forms()))
        })?;
        settings = one.or(settings);
    }
    Ok(settings)
}

fn toml_string(value: &str) -> String {
    let mut quoted = String::from("\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => quoted.extend(['\\', c]),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn expected_forms() -> &'static str {
    "keys and their forms: host = \"127.0.0.1\" (an IP address), port = 8080, server_type = \"threaded\" | \
     \"forked\", workers = 4 (at least 1), log = \"info\" (a RUST_LOG filter), max_body_bytes = 1048576, \
     max_connections = 4096 (at least 1), and durations header_timeout, request_timeout, keep_alive_timeout, \
     graceful_timeout = 10 (seconds) or \"250ms\", \"10s\", \"2m\""
}

/// A count that must be at least 1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AtLeastOne(pub(crate) usize);

impl<'de> Deserialize<'de> for AtLeastOne {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match usize::deserialize(deserializer)? {
            0 => Err(de::Error::invalid_value(de::Unexpected::Unsigned(0), &"a number of at least 1")),
            n => Ok(AtLeastOne(n)),
        }
    }
}

/// A duration: a number of seconds, or a string like `"250ms"`, `"10s"`, `"2m"`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seconds(pub(crate) Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;

        impl Visitor<'_> for SecondsVisitor {
            type Value = Seconds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds (10, 0.5) or a string like \"250ms\", \"10s\", \"2m\"")
            }

            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Seconds, E> {
                Ok(Seconds(Duration::from_secs(secs)))
            }

            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Seconds, E> {
                u64::try_from(secs).map_err(|_| E::invalid_value(de::Unexpected::Signed(secs), &self))?;
                self.visit_u64(secs as u64)
            }

            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Seconds, E> {
                Duration::try_from_secs_f64(secs)
                    .map(Seconds)
                    .map_err(|_| E::invalid_value(de::Unexpected::Float(secs), &self))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Seconds, E> {
                let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
                let (number, unit) = text.split_at(split);
                let scale = match unit.trim() {
                    "ms" => 0.001,
                    "s" | "" => 1.0,
                    "m" => 60.0,
                    _ => return Err(E::invalid_value(de::Unexpected::Str(text), &self)),
                };
                match number.parse::<f64>() {
                    Ok(n) => self.visit_f64(n * scale),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
                }
            }
        }

        deserializer.deserialize_any(SecondsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> io::Result<Settings> {
        from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
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
        let config = from_file(Path::new("a.toml"), text).unwrap().config();
        assert_eq!(config.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!((config.server_type, config.workers), (ServerType::Forked, 3));
        assert_eq!(config.header_timeout, Duration::from_millis(250));
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.graceful_timeout, Duration::from_secs(7));
        assert_eq!(config.keep_alive_timeout, Duration::from_secs(60));
        assert_eq!(config.max_body_bytes, 1 << 20);
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_form() {
        let err = from_file(Path::new("conf/app.toml"), "prot = 80").unwrap_err().to_string();
        assert!(err.starts_with("invalid config file conf/app.toml: unknown field `prot`, expected one of"), "{err}");
        let err = from_file(Path::new("a.toml"), "workers = 0").unwrap_err().to_string();
        assert!(err.contains("invalid value: integer `0`, expected a number of at least 1"), "{err}");
        let err = from_file(Path::new("a.toml"), r#"header_timeout = "soon""#).unwrap_err().to_string();
        assert!(err.contains(r#"expected a duration: seconds (10, 0.5) or a string like "250ms""#), "{err}");
        let err = from_file(Path::new("a.toml"), r#"server_type = "process""#).unwrap_err().to_string();
        assert!(err.contains("unknown variant `process`, expected `threaded` or `forked`"), "{err}");
    }

    #[test]
    fn environment_values_need_no_quotes_and_are_checked_like_the_file() {
        let settings =
            env(&[("APPSERVER_HOST", "0.0.0.0"), ("APPSERVER_SERVER_TYPE", "forked"), ("APPSERVER_PORT", "81")]);
        let config = settings.unwrap().config();
        assert_eq!((config.addr.to_string(), config.server_type), ("0.0.0.0:81".to_owned(), ServerType::Forked));
        let err = env(&[("APPSERVER_PORT", "eighty")]).unwrap_err().to_string();
        assert!(
            err.starts_with(
                r#"invalid environment variable APPSERVER_PORT="eighty": invalid type: string "eighty", expected u16"#
            ),
            "{err}"
        );
        let err = env(&[("APPSERVER_PROT", "80")]).unwrap_err().to_string();
        assert!(err.contains("unknown field `prot`"), "{err}");
    }

    #[test]
    fn code_over_environment_over_file() {
        let file = from_file(Path::new("a.toml"), "port = 1\nworkers = 1\nmax_body_bytes = 1").unwrap();
        let env = env(&[("APPSERVER_PORT", "2"), ("APPSERVER_WORKERS", "2")]).unwrap();
        let code = Settings { port: Some(3), ..Settings::default() };
        let config = code.or(env).or(file).config();
        assert_eq!((config.addr.port(), config.workers, config.max_body_bytes), (3, 2, 1));
    }
}
