//! The default `tracing` subscriber.

use std::io::{self, IsTerminal};
use tracing_subscriber::EnvFilter;

/// Installs a formatting subscriber unless the program installed its own. Its filter:
/// `RUST_LOG`, else the `log` setting (`APPSERVER_LOG` or the config file), else `info`.
/// An invalid filter is an error naming where it came from.
pub(crate) fn init_default(configured: Option<&str>) -> io::Result<()> {
    let (source, directives) = match (std::env::var("RUST_LOG"), configured) {
        (Ok(directives), _) => ("RUST_LOG", directives),
        (Err(_), Some(directives)) => ("the `log` setting", directives.to_owned()),
        (Err(_), None) => ("the default", "info".to_owned()),
    };
    let filter = EnvFilter::builder().parse(&directives).map_err(|err| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid log filter {directives:?} from {source}: {err}; expected a filter like \"info\" or \"warn,appserver::access=info\""),
        )
    })?;
    if !tracing::dispatcher::has_been_set() {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stdout().is_terminal()).try_init();
    }
    Ok(())
}
