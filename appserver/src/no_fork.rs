//! `ServerType::Forked` where it is not supported.

use crate::boot::Boot;
use crate::serve_error::{Kind, ServeError};
use std::net::TcpListener;

pub(crate) fn serve(_listener: TcpListener, _boot: Boot) -> Result<(), ServeError> {
    Err(ServeError::new(Kind::Unsupported("ServerType::Forked needs Linux; use ServerType::Threaded".into())))
}

/// Open-file limits are left as they are here.
pub(crate) fn raise_fd_limit(_max_connections: usize) {}
