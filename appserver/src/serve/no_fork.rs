//! `ServerType::Forked` where it is not supported.

use super::boot::Boot;
use super::error::{Cause, ServeError};
use std::net::TcpListener;

pub(crate) fn serve(_listener: TcpListener, _boot: Boot) -> Result<(), ServeError> {
    Err(ServeError::new(Cause::Unsupported("ServerType::Forked needs Linux; use ServerType::Threaded".into())))
}

/// Nothing to do where there is no glibc.
pub(crate) fn release_free_memory() {}
