//! `ServerType::Threaded`: one process; a tokio runtime with `workers` threads serves on a
//! thread of its own, so that the thread that called `serve` or `shutdown` can always stop
//! waiting: after `graceful_timeout` (plus [`MARGIN`]) it returns even if a handler still
//! runs (a sync handler cannot be interrupted), and the process can exit.

use super::accept::serve_connections;
use super::boot::Boot;
use super::error::{Cause, ServeError};
use super::grace::Deadline;
use super::signal::{Signal, SignalStream};
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How much longer than `graceful_timeout` a shutdown waits for the runtime to wind down.
const MARGIN: Duration = Duration::from_millis(500);

/// What the thread that owns a [`RunningServer`] hears of.
#[derive(Debug)]
enum Event {
    Signal(Signal),
    Done(io::Result<()>),
}

/// A server started with [`Server::start`](crate::Server::start); dropping it shuts it
/// down too.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<Deadline>>,
    events: mpsc::Receiver<Event>,
    sender: mpsc::Sender<Event>,
    graceful_timeout: Duration,
}

/// Runs `hook`, then serves `listener` on a runtime on its own thread.
pub(crate) fn start(listener: std::net::TcpListener, boot: &Boot) -> Result<RunningServer, ServeError> {
    boot.run_hook()?;
    let config = boot.config.clone();
    // With one worker, a current-thread runtime: the same without the cost of work stealing.
    let runtime = match config.workers {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    };
    let runtime = runtime.map_err(|error| ServeError::new(Cause::Runtime(error)))?;
    let addr = listener.local_addr().map_err(|error| ServeError::new(Cause::LocalAddr(error)))?;
    let served = boot.served(&config);
    let (stop, stopped) = oneshot::channel::<Deadline>();
    let (sender, events) = mpsc::channel();
    let done = sender.clone();
    std::thread::Builder::new()
        .name("appserver".into())
        .spawn(move || {
            let served = catch_unwind(AssertUnwindSafe(|| {
                runtime.block_on(serve_connections(
                    listener,
                    served,
                    &config,
                    super::fork::release_free_memory,
                    async {
                        // A dropped handle stops the server too.
                        stopped.await.unwrap_or_else(|_| Deadline::after(config.graceful_timeout))
                    },
                ))
            }));
            // Blocking handlers and sync handlers on other threads that still run are left
            // behind: the process may exit.
            runtime.shutdown_timeout(Duration::from_millis(100));
            let _ = done.send(Event::Done(served.unwrap_or_else(|_| Err(io::Error::other("the server panicked")))));
        })
        .map_err(|error| ServeError::new(Cause::Thread { name: "appserver", error }))?;
    Ok(RunningServer { addr, stop: Some(stop), events, sender, graceful_timeout: boot.config.graceful_timeout })
}

/// Serves until SIGTERM or SIGINT, reloading on SIGHUP what can be reloaded without a
/// restart (the `log` filter, the TLS certificate, the tokens).
pub(crate) fn serve(listener: std::net::TcpListener, mut boot: Boot) -> Result<(), ServeError> {
    let mut running = start(listener, &boot)?;
    listen_for_signals(running.sender.clone())?;
    boot.announce();
    loop {
        match running.events.recv() {
            Ok(Event::Signal(Signal::Stop)) => break,
            Ok(Event::Signal(Signal::Reload)) => {
                let Some(config) = boot.reread() else { continue };
                let changed = config.changed(&boot.config);
                let log = changed.contains(&"log") && super::log::reloadable();
                // The certificate was loaded again by `reread`; the log filter is reloaded below.
                let restart: Vec<&str> = changed
                    .into_iter()
                    .filter(|key| !matches!(*key, "log" | "tls_cert" | "tls_key" | "auth_tokens" | "auth_tokens_file"))
                    .collect();
                tracing::info!(
                    log_filter = log.then_some(config.log.as_str()),
                    need_a_restart = ?restart,
                    "SIGHUP: the configuration was read again; Threaded mode reloads `log`, the TLS certificate and the tokens"
                );
                if log {
                    super::log::reload(&config.log);
                }
                boot.replace_tokens(&config);
                (boot.config.log, boot.config.auth_tokens) = (config.log, config.auth_tokens);
            }
            Ok(Event::Done(result)) => return result.map_err(|error| ServeError::new(Cause::Stopped(error))),
            Err(_) => break,
        }
    }
    tracing::info!("shutting down");
    running.stop_and_wait().map_err(|error| ServeError::new(Cause::Stopped(error)))
}

/// Forwards SIGTERM, SIGINT and SIGHUP to `sender`, from a thread of its own, once the
/// handlers are installed.
fn listen_for_signals(sender: mpsc::Sender<Event>) -> Result<(), ServeError> {
    let (installed, result) = mpsc::channel();
    std::thread::Builder::new()
        .name("appserver-signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
                Ok(runtime) => runtime,
                Err(error) => return drop(installed.send(Err(error))),
            };
            runtime.block_on(async {
                let mut signals = match SignalStream::new() {
                    Ok(signals) => signals,
                    Err(error) => return drop(installed.send(Err(error))),
                };
                let _ = installed.send(Ok(()));
                while sender.send(Event::Signal(signals.next().await)).is_ok() {}
            });
        })
        .map_err(|error| ServeError::new(Cause::Thread { name: "appserver-signals", error }))?;
    result
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the signal thread stopped")))
        .map_err(|error| ServeError::new(Cause::Signals(error)))
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets the requests in flight finish, and returns: at the latest
    /// after `graceful_timeout` (and a short margin), leaving behind a handler that still
    /// runs.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_and_wait()
    }

    fn stop_and_wait(&mut self) -> io::Result<()> {
        let Some(stop) = self.stop.take() else { return Ok(()) };
        let deadline = Deadline::after(self.graceful_timeout);
        let _ = stop.send(deadline);
        // The runtime gets a margin past the deadline to wind down.
        let deadline = deadline.and(MARGIN);
        loop {
            let event = match deadline.left() {
                Some(left) => self.events.recv_timeout(left),
                None => self.events.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            };
            match event {
                Ok(Event::Done(result)) => return result,
                Ok(Event::Signal(Signal::Stop)) => {
                    tracing::warn!("a second stop signal: not waiting for the requests in flight");
                    return Ok(());
                }
                Ok(Event::Signal(Signal::Reload)) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tracing::warn!(
                        graceful_timeout_ms = self.graceful_timeout.as_millis() as u64,
                        "graceful_timeout passed and a handler still runs: leaving it behind"
                    );
                    return Ok(());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(io::Error::other("the server thread is gone")),
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_wait();
    }
}
