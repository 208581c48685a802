//! `ServerType::Forked` where it is not supported.

use super::boot::Boot;
use super::error::{Cause, ServeError};
use std::net::TcpListener;

pub(crate) fn serve(_listener: TcpListener, _boot: Boot) -> Result<(), ServeError> {
    Err(ServeError::new(Cause::Unsupported("ServerType::Forked needs Linux; use ServerType::Threaded".into())))
}

/// Nothing to do where there is no glibc.
pub(crate) fn release_free_memory() {}

/// Memory for the metrics table: this process's own, as no process is forked.
pub(crate) fn shared_words(words: usize) -> std::io::Result<&'static [std::sync::atomic::AtomicU64]> {
    Ok(Vec::from_iter((0..words).map(|_| std::sync::atomic::AtomicU64::new(0))).leak())
}

/// The clock ticks per second of `/proc/<pid>/stat` on Linux.
pub(crate) fn clock_ticks() -> u64 {
    100
}
