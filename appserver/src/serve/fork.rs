//! `ServerType::Forked`: a supervised pre-fork server. The only module with `unsafe`: it
//! makes the process calls (fork, signals, wait, limits, and [`release_free_memory`]) that
//! std does not offer.
//!
//! The master (the process that called `serve`) has bound the socket. Still
//! single-threaded, it blocks the signals it handles and forks `workers` processes, then
//! only waits for signals (`sigtimedwait`, so no code runs in a signal handler):
//!
//! - SIGCHLD: a worker died; it is reaped and replaced at once. A worker that dies before
//!   it said it was ready failed to boot; after [`BOOT_FAILURES`] such failures in a row
//!   the master stops every worker and returns an error instead of looping.
//! - SIGHUP: the configuration is read again and a new generation of workers started
//!   with it; once all of them are ready, the old ones are stopped gracefully, so no
//!   request is refused. An invalid configuration, or new workers that fail to boot, leave
//!   the old generation serving.
//! - SIGTERM, SIGINT: the master closes its copy of the socket and forwards SIGTERM; the
//!   workers answer what the kernel had already accepted, close the socket (new
//!   connections are refused) and finish their requests in flight; the master kills those
//!   still running after `graceful_timeout` and returns `Ok(())` once none is left.
//!
//! A worker asks the kernel for SIGTERM when the master dies, unblocks the signals it
//! obeys, runs the `on_worker_start` hook, starts a current-thread runtime, tells the
//! master it is ready (its pid on a pipe), and serves on the inherited socket.

#![allow(unsafe_code)]

use super::accept::serve_connections;
use super::boot::{Boot, Served};
use super::error::{Cause, ServeError};
use super::grace::Deadline;
use super::metrics;
use crate::config::Config;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Workers in a row that may die before they are ready before the master gives up.
const BOOT_FAILURES: u32 = 3;
/// A worker's exit code when its boot failed (the hook or the runtime).
const BOOT_ERROR: i32 = 3;

struct Worker {
    pid: libc::pid_t,
    ready: bool,
    generation: u64,
    /// When the worker was asked to stop, it is killed at this deadline.
    kill_at: Option<Deadline>,
}

pub(crate) fn serve(listener: TcpListener, boot: Boot) -> Result<(), ServeError> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count());
    if threads > 1 {
        return Err(ServeError::new(Cause::Unsupported(format!(
            "ServerType::Forked must start before the process runs other threads (it runs {threads}): \
             call serve() from main before starting threads or a runtime"
        ))));
    }
    let io_error = |error| ServeError::new(Cause::Master(error));
    let signals = SignalSet::new(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP]);
    signals.mask(libc::SIG_BLOCK).map_err(io_error)?;
    let (ready_read, ready_write) = pipe().map_err(io_error)?;
    if boot.config.metrics_path.is_some() {
        metrics::install(shared_words(metrics::WORDS).map_err(io_error)?, boot.route_labels(), boot.clock_ticks);
    }
    let served = boot.served(&boot.config);
    let mut master = Master {
        workers: Vec::new(),
        listener: Some(listener),
        served,
        boot,
        ready_write,
        pid: std::process::id(),
        signals,
        generation: 0,
        previous: None,
    };
    for _ in 0..master.boot.config.workers {
        master.spawn().map_err(io_error)?;
    }
    master.boot.announce();
    tracing::info!(master = master.pid, workers = master.boot.config.workers, "forked workers");
    let mut boot_failures = 0;
    loop {
        let signal = master.signals.wait(Duration::from_millis(500)).map_err(io_error)?;
        master.read_ready(&ready_read);
        match signal {
            Some(libc::SIGTERM | libc::SIGINT) => {
                master.shutdown();
                return Ok(());
            }
            Some(libc::SIGHUP) => master.reload().map_err(io_error)?,
            _ => {}
        }
        master.finish_reload();
        master.kill_overdue();
        for (worker, status) in master.reap() {
            if worker.kill_at.is_some() || worker.generation != master.generation {
                tracing::info!(pid = worker.pid, status = %describe(status), "old worker exited");
                continue;
            }
            if worker.ready {
                boot_failures = 0;
                tracing::warn!(pid = worker.pid, status = %describe(status), "worker died; replacing it");
            } else {
                boot_failures += 1;
                tracing::error!(pid = worker.pid, status = %describe(status), "worker failed to boot");
                if boot_failures >= BOOT_FAILURES {
                    boot_failures = 0;
                    if master.abandon_reload() {
                        continue;
                    }
                    master.kill_all();
                    return Err(ServeError::new(Cause::Boot(format!(
                        "{BOOT_FAILURES} workers in a row died before they were ready (the last: {}); \
                         stopping instead of restarting them again",
                        describe(status)
                    ))));
                }
            }
            master.spawn().map_err(io_error)?;
        }
    }
}

struct Master {
    workers: Vec<Worker>,
    /// The socket, until shutdown.
    listener: Option<TcpListener>,
    served: Served,
    boot: Boot,
    ready_write: OwnedFd,
    pid: u32,
    signals: SignalSet,
    /// The generation new workers belong to; SIGHUP starts the next.
    generation: u64,
    /// While a reload is under way: the configuration and what was served with it.
    previous: Option<(Config, Served)>,
}

impl Master {
    /// Forks one worker of the current generation.
    fn spawn(&mut self) -> io::Result<()> {
        // What is buffered would be written twice, by both processes.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        // SAFETY: the master is single-threaded (checked in `serve`), so the child is a
        // complete copy of it and may run any code; it never returns into the master's.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                let code = catch_unwind(AssertUnwindSafe(|| self.work())).unwrap_or(101);
                std::process::exit(code)
            }
            pid => {
                self.workers.push(Worker { pid, ready: false, generation: self.generation, kill_at: None });
                Ok(())
            }
        }
    }

    /// A worker's life; returns its exit code.
    fn work(&mut self) -> i32 {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and has no pointers.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) } == -1 {
            return BOOT_ERROR;
        }
        if std::os::unix::process::parent_id() != self.pid {
            return 0; // The master died before the request above took effect.
        }
        // SIGTERM and SIGINT stay blocked, read from a signalfd (`stopped`); SIGHUP too:
        // reloading is the master's business.
        if SignalSet::new(&[libc::SIGCHLD]).mask(libc::SIG_UNBLOCK).is_err() {
            return BOOT_ERROR;
        }
        if let Some(metrics) = metrics::get() {
            metrics.process_started();
        }
        if let Some(hook) = &self.boot.hook {
            if let Err(err) = hook() {
                tracing::error!(error = %err, "on_worker_start failed");
                return BOOT_ERROR;
            }
        }
        // Taken, not duplicated: when this worker closes it at shutdown, no copy of it is
        // left open here.
        let Some(listener) = self.listener.take() else { return BOOT_ERROR };
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::error!(error = %err, "cannot start the worker's runtime");
                return BOOT_ERROR;
            }
        };
        let (served, config) = (self.served.clone(), self.boot.config.clone());
        let served = runtime.block_on(async {
            let graceful_timeout = config.graceful_timeout;
            let stop = stopped()?;
            let pid = std::process::id().to_ne_bytes();
            // SAFETY: writes `pid.len()` bytes from a live buffer to a pipe this process
            // owns; a pipe write of 4 bytes is atomic.
            let written = unsafe { libc::write(self.ready_write.as_raw_fd(), pid.as_ptr().cast(), pid.len()) };
            if written != pid.len() as isize {
                return Err(io::Error::last_os_error());
            }
            serve_connections(listener, served, &config, release_free_memory, async move {
                stop.await;
                Deadline::after(graceful_timeout)
            })
            .await
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
        // SAFETY: reads at most `buf.len()` bytes into a live buffer from a non-blocking
        // pipe this process owns.
        while unsafe { libc::read(ready.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } == 4 {
            let pid = libc::pid_t::from_ne_bytes(buf);
            if let Some(worker) = self.workers.iter_mut().find(|w| w.pid == pid) {
                worker.ready = true;
            }
        }
    }

    /// SIGHUP: reads the configuration again and starts a new generation of workers with it.
    fn reload(&mut self) -> io::Result<()> {
        if self.previous.is_some() {
            tracing::warn!("SIGHUP: a reload is already under way; ignoring this one");
            return Ok(());
        }
        let Some(config) = self.boot.reread() else { return Ok(()) };
        let changed = config.changed(&self.boot.config);
        if changed.contains(&"log") {
            super::log::reload(&config.log);
        }
        tracing::info!(changed = ?changed, workers = config.workers, "SIGHUP: starting new workers");
        let served = self.boot.served(&config);
        let previous = std::mem::replace(&mut self.boot.config, config);
        self.previous = Some((previous, std::mem::replace(&mut self.served, served)));
        self.generation += 1;
        for _ in 0..self.boot.config.workers {
            self.spawn()?;
        }
        Ok(())
    }

    /// Once every worker of a new generation is ready, stops the older ones gracefully.
    fn finish_reload(&mut self) {
        let current = self.workers.iter().filter(|w| w.generation == self.generation);
        if self.previous.is_none() || !current.clone().all(|w| w.ready) || current.count() < self.boot.config.workers {
            return;
        }
        self.previous = None;
        let current = self.generation;
        let stopped = self.stop(|w| w.generation != current);
        tracing::info!(stopped, "SIGHUP: the new workers are ready; the old ones finish their requests and exit");
    }

    /// New workers of a reload keep failing to boot: stops them, and the old generation
    /// keeps serving. False if no reload was under way.
    fn abandon_reload(&mut self) -> bool {
        let Some((config, served)) = self.previous.take() else { return false };
        tracing::error!("SIGHUP: the new workers fail to boot; the old ones keep serving");
        let failed = self.generation;
        for worker in self.workers.iter().filter(|w| w.generation == failed) {
            kill(worker.pid, libc::SIGKILL);
        }
        (self.boot.config, self.served) = (config, served);
        self.generation -= 1;
        true
    }

    /// SIGTERM to the workers `which` selects that are not stopping yet; they are killed
    /// if still running after `graceful_timeout`. Returns how many were asked.
    fn stop(&mut self, which: impl Fn(&Worker) -> bool) -> usize {
        let kill_at = Deadline::after(self.boot.config.graceful_timeout);
        let mut asked = 0;
        for worker in self.workers.iter_mut().filter(|w| w.kill_at.is_none()) {
            if which(worker) {
                kill(worker.pid, libc::SIGTERM);
                worker.kill_at = Some(kill_at);
                asked += 1;
            }
        }
        asked
    }

    /// Kills the stopping workers whose `graceful_timeout` has passed.
    fn kill_overdue(&mut self) {
        for worker in &self.workers {
            if let Some(deadline) = worker.kill_at {
                if deadline.passed() {
                    tracing::warn!(pid = worker.pid, "graceful_timeout reached: killing a worker still busy");
                    kill(worker.pid, libc::SIGKILL);
                }
            }
        }
    }

    /// The workers that exited, with their wait status.
    fn reap(&mut self) -> Vec<(Worker, libc::c_int)> {
        let mut dead = Vec::new();
        loop {
            let mut status = 0;
            // SAFETY: zeroed is a valid rusage (integers and timevals).
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: `status` and `usage` are live for wait4 to write; WNOHANG never blocks.
            let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) };
            if pid <= 0 {
                return dead;
            }
            if let Some(metrics) = metrics::get() {
                let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
                metrics.process_exited(pid as u32, micros(usage.ru_utime) + micros(usage.ru_stime));
            }
            if let Some(i) = self.workers.iter().position(|w| w.pid == pid) {
                dead.push((self.workers.swap_remove(i), status));
            }
        }
    }

    /// SIGTERM or SIGINT: closes the master's copy of the socket, stops every worker
    /// gracefully, kills those past `graceful_timeout` (or at a second signal), and returns
    /// once all are reaped.
    fn shutdown(&mut self) {
        tracing::info!("master shutting down: stopping the workers");
        drop(self.listener.take());
        self.stop(|_| true);
        while !self.workers.is_empty() {
            self.reap();
            self.kill_overdue();
            if self.workers.is_empty() {
                break;
            }
            if let Ok(Some(libc::SIGTERM | libc::SIGINT)) = self.signals.wait(Duration::from_millis(50)) {
                tracing::warn!("a second stop signal: killing the workers still busy");
                self.kill_all();
            }
        }
    }

    /// Kills every worker at once and reaps them.
    fn kill_all(&mut self) {
        for worker in self.workers.drain(..) {
            kill(worker.pid, libc::SIGKILL);
            // SAFETY: waits for a child of this process; a null status pointer is allowed.
            if unsafe { libc::waitpid(worker.pid, std::ptr::null_mut(), 0) } == -1 {
                tracing::debug!(pid = worker.pid, error = %io::Error::last_os_error(), "waitpid failed");
            }
        }
    }
}

/// `words` zeroed words in memory shared with the processes this one forks from now on:
/// the metrics table, which every worker writes and any worker reads.
pub(crate) fn shared_words(words: usize) -> io::Result<&'static [AtomicU64]> {
    let len = words * std::mem::size_of::<AtomicU64>();
    // SAFETY: an anonymous shared mapping of `len` bytes at an address the kernel picks; no
    // file or existing memory is involved.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if at == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the mapping is `len` bytes, page-aligned (so aligned for AtomicU64), zeroed by
    // the kernel (a valid AtomicU64 is any 8 bytes), never unmapped (so 'static), and only
    // ever accessed through atomics, here and in the forked processes that share it.
    Ok(unsafe { std::slice::from_raw_parts(at.cast::<AtomicU64>(), words) })
}

/// The clock ticks per second that `/proc/<pid>/stat` counts CPU time in.
pub(crate) fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes a constant and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Sends `signal` to the worker `pid`; one that has exited already is no error.
/// Gives the memory the allocator holds free back to the system: glibc keeps what was
/// freed in its arenas, so a process that served a flood of connections would stay at its
/// peak long after the flood. Elsewhere it does nothing.
pub(crate) fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers; glibc locks each arena while it trims it.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn kill(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill takes a pid and a signal number and has no pointers.
    if unsafe { libc::kill(pid, signal) } == -1 {
        tracing::debug!(pid, signal, error = %io::Error::last_os_error(), "kill failed");
    }
}

/// Resolves at the first SIGTERM or SIGINT (blocked in this thread), read from a signalfd
/// of this process's own. Not tokio's signal handling: its one self-pipe is shared by every
/// process forked after a runtime existed in the master (a program may build one before it
/// serves), and a worker could then miss its stop.
fn stopped() -> io::Result<impl std::future::Future<Output = ()>> {
    let set = SignalSet::new(&[libc::SIGTERM, libc::SIGINT]);
    // SAFETY: reads the live set; -1 asks for a new descriptor, returned or -1.
    let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd succeeded, so the descriptor is open and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns the OwnedFd, which keeps that one descriptor open, always
    // the same, until the AsyncFd is dropped.
    let fd = unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(io::Error::from)?;
    Ok(async move {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        loop {
            let Ok(mut ready) = fd.readable().await else { return };
            // SAFETY: reads at most `info.len()` bytes into a live buffer from the signalfd
            // this function owns.
            let read = unsafe { libc::read(fd.get_ref().as_raw_fd(), info.as_mut_ptr().cast(), info.len()) };
            if read == info.len() as isize {
                return;
            }
            ready.clear_ready();
        }
    })
}

/// A set of signals.
struct SignalSet(libc::sigset_t);

impl SignalSet {
    fn new(signals: &[libc::c_int]) -> Self {
        // SAFETY: a zeroed sigset_t is a valid value to initialise with sigemptyset, and
        // sigaddset only writes into the live set. Both fail only for an invalid signal
        // number, and these are libc's constants.
        unsafe {
            let mut set = std::mem::zeroed();
            let emptied = libc::sigemptyset(&mut set);
            let added = signals.iter().all(|&signal| libc::sigaddset(&mut set, signal) == 0);
            debug_assert!(emptied == 0 && added, "a signal set of valid signals");
            SignalSet(set)
        }
    }

    /// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the set for this thread.
    fn mask(&self, how: libc::c_int) -> io::Result<()> {
        // SAFETY: reads the live set; a null pointer for the old mask is allowed.
        match unsafe { libc::pthread_sigmask(how, &self.0, std::ptr::null_mut()) } {
            0 => Ok(()),
            err => Err(io::Error::from_raw_os_error(err)),
        }
    }

    /// The next pending signal of the set, or `None` after `timeout` (or an interruption).
    fn wait(&self, timeout: Duration) -> io::Result<Option<libc::c_int>> {
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: reads the live set and timeout; a null info pointer is allowed.
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
    // SAFETY: pipe2 writes two descriptors into the live array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on a descriptor this function owns, with an integer argument.
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
