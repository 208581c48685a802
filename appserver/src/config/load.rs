//! Where settings come from: the config file (`appserver.toml`, or the file named by
//! `APPSERVER_CONFIG`), `APPSERVER_<KEY>` variables, an `auth_tokens_file`, and the
//! settings made in code, resolved in that rising order.

use super::schema::{Config, ConfigError, Settings, Source, TOKENS};
use super::tokens::Tokens;
use super::value::{Raw, Value};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The file read when `APPSERVER_CONFIG` names none.
const DEFAULT_FILE: &str = "appserver.toml";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::{DURATION, KEYS};
    use crate::config::server_type::ServerType;
    use std::time::Duration;

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
                 max_body_bytes, max_field_bytes, ws_max_message_bytes, ws_idle_timeout, max_header_bytes, header_timeout, request_timeout, body_timeout, keep_alive_timeout, \
                 max_connections, max_connections_per_client, backlog, tls_cert, tls_key, http2, http2_max_streams, auth_tokens, \
                 auth_tokens_file, graceful_timeout, openapi_path, health_path, ready_path, metrics_path, log_probes, request_id, strict_routes, print_routes, error_format",
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
        let readme = include_str!("../../../README.md");
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
