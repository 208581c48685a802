//! The default `tracing` subscriber.

use std::io::{self, IsTerminal};
use tracing_subscriber::EnvFilter;

/// Installs a formatting subscriber unless the program installed its own. Its filter:
/// `RUST_LOG`, else the `log` setting (`APPSERVER_LOG` or the config file), else `info`.
/// An invalid filter is an error naming where it came from, even when overridden.
pub(crate) fn init_default(configured: Option<&str>) -> io::Result<()> {
    let parse = |directives: &str, source: &str| {
        EnvFilter::builder().parse(directives).map_err(|err| {
            crate::error::startup_error(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid log filter {directives:?} from {source}: {err}; \
                     expected a filter like \"info\" or \"warn,appserver::access=info\""
                ),
            )
        })
    };
    let configured = configured.map(|directives| parse(directives, "the `log` setting")).transpose()?;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => parse(&directives, "RUST_LOG")?,
        Err(_) => configured.unwrap_or_else(|| EnvFilter::new("info")),
    };
    if !tracing::dispatcher::has_been_set() {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stdout().is_terminal()).try_init();
    }
    Ok(())
}
