//! `ServerType::Forked`: a supervised pre-fork server. The only module with `unsafe`.
//!
//! The master (the process that called `serve`) has bound the socket. Still
//! single-threaded, it blocks the signals it handles and forks `workers` processes, then
//! only waits for signals (`sigtimedwait`, so no code runs in a signal handler):
//!
//! - SIGCHLD: a worker died; it is reaped and replaced at once. A worker that dies before
//!   it said it was ready failed to boot; after [`BOOT_FAILURES`] such failures in a row
//!   the master stops every worker and returns an error instead of looping.
//! - SIGTERM, SIGINT: the master forwards SIGTERM, waits for the workers to finish their
//!   requests in flight, kills those still running after `graceful_timeout`, and returns
//!   `Ok(())` once none is left.
//!
//! A worker asks the kernel for SIGTERM when the master dies, unblocks the signals, runs
//! the `on_worker_start` hook, starts a current-thread runtime, tells the master it is
//! ready (its pid on a pipe), and serves on the inherited socket until SIGTERM.

#![allow(unsafe_code)]

use crate::config::Config;
use crate::server::{Hook, serve_connections, shutdown_signal};
use crate::service::App;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Workers in a row that may die before they are ready before the master gives up.
const BOOT_FAILURES: u32 = 3;
/// A worker's exit code when its boot failed (the hook or the runtime).
const BOOT_ERROR: i32 = 3;

struct Worker {
    pid: libc::pid_t,
    ready: bool,
}

pub(crate) fn serve(
    listener: std::net::TcpListener,
    app: Arc<App>,
    config: &Config,
    hook: Option<Hook>,
) -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count());
    if threads > 1 {
        return Err(crate::error::startup_error(
            io::ErrorKind::Unsupported,
            format!(
                "ServerType::Forked must start before the process runs other threads (it runs {threads}): \
                 call serve() from main before starting threads or a runtime"
            ),
        ));
    }
    let signals = Signals::new(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT]);
    signals.mask(libc::SIG_BLOCK)?;
    let (ready_read, ready_write) = pipe()?;
    let master = unsafe { libc::getpid() };
    let mut master_state =
        Master { workers: Vec::new(), listener, app, config: config.clone(), hook, ready_write, master, signals };

    for _ in 0..config.workers {
        master_state.spawn()?;
    }
    tracing::info!(master = master, workers = config.workers, "forked workers");
    let mut boot_failures = 0;
    loop {
        let signal = master_state.signals.wait(Duration::from_millis(500))?;
        master_state.read_ready(&ready_read);
        if matches!(signal, Some(libc::SIGTERM | libc::SIGINT)) {
            tracing::info!("master shutting down: stopping the workers");
            master_state.stop(config.graceful_timeout);
            return Ok(());
        }
        for (worker, status) in master_state.reap() {
            if worker.ready {
                boot_failures = 0;
                tracing::warn!(pid = worker.pid, status = %describe(status), "worker died; replacing it");
            } else {
                boot_failures += 1;
                tracing::error!(pid = worker.pid, status = %describe(status), "worker failed to boot");
                if boot_failures >= BOOT_FAILURES {
                    master_state.stop(Duration::ZERO);
                    return Err(crate::error::startup_error(
                        io::ErrorKind::Other,
                        format!(
                            "{BOOT_FAILURES} workers in a row died before they were ready (the last: {}); \
                         stopping instead of restarting them again",
                            describe(status)
                        ),
                    ));
                }
            }
            master_state.spawn()?;
        }
    }
}

struct Master {
    workers: Vec<Worker>,
    listener: std::net::TcpListener,
    app: Arc<App>,
    config: Config,
    hook: Option<Hook>,
    ready_write: OwnedFd,
    master: libc::pid_t,
    signals: Signals,
}

impl Master {
    /// Forks one worker.
    fn spawn(&mut self) -> io::Result<()> {
        // What is buffered would be written twice, by both processes.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                // The child: never returns into the master's code.
                let code = catch_unwind(AssertUnwindSafe(|| self.work())).unwrap_or(101);
                std::process::exit(code)
            }
            pid => {
                self.workers.push(Worker { pid, ready: false });
                Ok(())
            }
        }
    }

    /// A worker's life; returns its exit code.
    fn work(&self) -> i32 {
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if libc::getppid() != self.master {
                return 0; // The master died before the request above took effect.
            }
        }
        if self.signals.mask(libc::SIG_UNBLOCK).is_err() {
            return BOOT_ERROR;
        }
        if let Some(hook) = &self.hook {
            if let Err(err) = hook() {
                tracing::error!(error = %err, "on_worker_start failed");
                return BOOT_ERROR;
            }
        }
        let (listener, app) = match self.listener.try_clone() {
            Ok(listener) => (listener, Arc::clone(&self.app)),
            Err(_) => return BOOT_ERROR,
        };
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::error!(error = %err, "cannot start the worker's runtime");
                return BOOT_ERROR;
            }
        };
        let served = runtime.block_on(async {
            let shutdown = shutdown_signal();
            let pid = std::process::id().to_ne_bytes();
            // A pipe write of 4 bytes is atomic.
            unsafe { libc::write(self.ready_write.as_raw_fd(), pid.as_ptr().cast(), pid.len()) };
            serve_connections(listener, app, &self.config, shutdown).await
        });
        match served {
            Ok(()) => 0,
            Err(err) => {
                tracing::error!(error = %err, "worker stopped");
                1
            }
        }
    }

    /// Marks the workers that said they are ready.
    fn read_ready(&mut self, ready: &OwnedFd) {
        let mut buf = [0u8; 4];
        while unsafe { libc::read(ready.as_raw_fd(), buf.as_mut_ptr().cast(), 4) } == 4 {
            let pid = libc::pid_t::from_ne_bytes(buf);
            if let Some(worker) = self.workers.iter_mut().find(|w| w.pid == pid) {
                worker.ready = true;
            }
        }
    }

    /// The workers that exited, with their wait status.
    fn reap(&mut self) -> Vec<(Worker, libc::c_int)> {
        let mut dead = Vec::new();
        loop {
            let mut status = 0;
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return dead;
            }
            if let Some(i) = self.workers.iter().position(|w| w.pid == pid) {
                dead.push((self.workers.swap_remove(i), status));
            }
        }
    }

    /// SIGTERM to every worker, SIGKILL to those left after `timeout`; returns when all
    /// are reaped.
    fn stop(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for worker in &self.workers {
            unsafe { libc::kill(worker.pid, libc::SIGTERM) };
        }
        while !self.workers.is_empty() {
            self.reap();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.workers.is_empty() {
                break;
            }
            if left.is_zero() {
                tracing::warn!(workers = self.workers.len(), "graceful_timeout reached: killing the busy workers");
                for worker in self.workers.drain(..) {
                    unsafe {
                        libc::kill(worker.pid, libc::SIGKILL);
                        libc::waitpid(worker.pid, std::ptr::null_mut(), 0);
                    }
                }
                break;
            }
            let _ = self.signals.wait(left.min(Duration::from_millis(100)));
        }
    }
}

/// A set of signals.
struct Signals(libc::sigset_t);

impl Signals {
    fn new(signals: &[libc::c_int]) -> Self {
        unsafe {
            let mut set = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                libc::sigaddset(&mut set, signal);
            }
            Signals(set)
        }
    }

    /// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the set for this thread.
    fn mask(&self, how: libc::c_int) -> io::Result<()> {
        match unsafe { libc::pthread_sigmask(how, &self.0, std::ptr::null_mut()) } {
            0 => Ok(()),
            err => Err(io::Error::from_raw_os_error(err)),
        }
    }

    /// The next pending signal of the set, or `None` after `timeout` (or an interruption).
    fn wait(&self, timeout: Duration) -> io::Result<Option<libc::c_int>> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        match unsafe { libc::sigtimedwait(&self.0, std::ptr::null_mut(), &timeout) } {
            -1 => match io::Error::last_os_error() {
                err if matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => Ok(None),
                err => Err(err),
            },
            signal => Ok(Some(signal)),
        }
    }
}

/// A pipe whose read end does not block; neither end survives an `exec`.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((read, write))
}

/// A wait status in words.
fn describe(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        let name = match signal {
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGTERM => " (SIGTERM)",
            _ => "",
        };
        format!("killed by signal {signal}{name}")
    } else {
        format!("wait status {status}")
    }
}
