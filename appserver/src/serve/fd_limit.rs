//! The open-file limit a server needs for `max_connections`.

/// Lets the process open the files `max_connections` needs: raises the soft limit of open
/// files towards the hard one (as Go's runtime does), and warns when even that is short.
pub(crate) fn raise_fd_limit(max_connections: usize) {
    let needed = max_connections as u64 + 64;
    match rlimit::increase_nofile_limit(needed) {
        Ok(open_files) if open_files < needed => tracing::warn!(
            max_connections,
            open_files,
            "the process may open fewer files than max_connections needs; connections past that wait"
        ),
        Ok(_) => {}
        Err(error) => tracing::debug!(%error, "cannot read or raise the limit of open files"),
    }
}
