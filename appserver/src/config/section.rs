//! The application's own settings: a `[name]` table of the config file, under
//! `NAME_<KEY>` environment variables, deserialized into the application's type. See
//! [`Server::section`](crate::Server::section).

use super::load::file_path;
use super::schema::ConfigError;
use serde::de::DeserializeOwned;
use std::ffi::OsString;

/// The `[name]` table of the config file with the `NAME_<KEY>` variables of `vars` over
/// it, as a `T`.
pub(crate) fn read<T: DeserializeOwned>(
    name: &'static str,
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> Result<T, ConfigError> {
    let (path, required) = file_path();
    let invalid = |message: String| ConfigError::Section { name, path: path.clone(), message };
    let mut table = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut file: toml::Table = toml::from_str(&text).map_err(|err| invalid(err.message().to_owned()))?;
            match file.remove(name) {
                Some(toml::Value::Table(table)) => table,
                Some(_) => return Err(invalid(format!("`{name}` must be a table"))),
                None => toml::Table::new(),
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => toml::Table::new(),
        Err(error) => return Err(ConfigError::Unreadable { path, error }),
    };
    let prefix = format!("{}_", name.to_ascii_uppercase());
    for (var, value) in vars {
        let (Some(var), Some(value)) = (var.to_str(), value.to_str()) else { continue };
        if let Some(key) = var.strip_prefix(&prefix).filter(|key| !key.is_empty()) {
            table.insert(key.to_ascii_lowercase(), env_value(value));
        }
    }
    toml::Value::Table(table).try_into().map_err(|err: toml::de::Error| invalid(err.message().trim_end().to_owned()))
}

/// A variable's text as a TOML value: a number, a boolean, an array or a quoted string as
/// written, anything else as a string.
fn env_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Queue {
        max_tasks: u64,
        data_dir: String,
        open: bool,
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn variables_are_read_as_toml_values_or_else_as_text() {
        let queue: Queue =
            read("queue", vars(&[("QUEUE_MAX_TASKS", "10"), ("QUEUE_DATA_DIR", "/var/q"), ("QUEUE_OPEN", "true")]))
                .unwrap();
        assert_eq!(queue, Queue { max_tasks: 10, data_dir: "/var/q".into(), open: true });
        let err = read::<Queue>("queue", vars(&[("QUEUE_MAX_TASK", "10")])).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid `[queue]` settings (from appserver.toml and the QUEUE_* variables): "),
            "{err}"
        );
        assert!(err.contains("unknown field `max_task`"), "{err}");
    }
}
