//! The signals a serving process obeys, as a stream: SIGTERM and SIGINT stop it, SIGHUP
//! reloads it. The handlers are installed when [`SignalStream::new`] is called (inside a
//! runtime); a signal that arrives before it is first awaited is not lost.

use std::io;

/// What a signal asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM or SIGINT (Ctrl-C): stop gracefully.
    Stop,
    /// SIGHUP: read the configuration again.
    Reload,
}

/// The stream of signals.
pub(crate) struct SignalStream {
    #[cfg(unix)]
    streams: [(tokio::signal::unix::Signal, Signal); 3],
}

impl SignalStream {
    /// Installs the handlers; must run inside a runtime.
    pub(crate) fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(SignalStream {
                streams: [
                    (signal(SignalKind::terminate())?, Signal::Stop),
                    (signal(SignalKind::interrupt())?, Signal::Stop),
                    (signal(SignalKind::hangup())?, Signal::Reload),
                ],
            })
        }
        #[cfg(not(unix))]
        Ok(SignalStream {})
    }

    /// The next signal.
    pub(crate) async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            std::future::poll_fn(|cx| {
                for (stream, signal) in &mut self.streams {
                    if stream.poll_recv(cx).is_ready() {
                        return std::task::Poll::Ready(*signal);
                    }
                }
                std::task::Poll::Pending
            })
            .await
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Stop,
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// Resolves at the first stop signal; SIGHUP is ignored (a worker process's reload is
    /// the master's business).
    pub(crate) async fn stop(mut self) {
        while self.next().await != Signal::Stop {}
    }
}
