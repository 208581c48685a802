//! `ServerType::Forked` where it is not supported.

use crate::config::Config;
use crate::server::Hook;
use crate::service::App;
use std::io;
use std::sync::Arc;

pub(crate) fn serve(
    _listener: std::net::TcpListener,
    _app: Arc<App>,
    _config: &Config,
    _hook: Option<Hook>,
) -> io::Result<()> {
    Err(crate::error::startup_error(
        io::ErrorKind::Unsupported,
        "ServerType::Forked needs Linux; use ServerType::Threaded".into(),
    ))
}
