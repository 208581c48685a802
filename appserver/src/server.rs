//! Binding, serving connections, shutting down.

use crate::config::{AtLeastOne, Config, Seconds, Settings};
use crate::connection::{Connections, Watched};
use crate::log;
use crate::route::Route;
use crate::router::Router;
use crate::service::App;
use crate::state::StateMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

/// How the server runs handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerType {
    /// One process; a pool of `workers` threads serves all connections.
    #[default]
    Threaded,
    /// A master process that forks `workers` processes (Linux), each serving on its own
    /// thread, and supervises them: a worker that dies is replaced. Each worker has its own
    /// copy of the state registered with [`Server::state`]; share data between workers
    /// through an external store.
    Forked,
}

/// A hook run in every process that serves, before it serves; see
/// [`Server::on_worker_start`].
pub(crate) type Hook = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Serves every `#[route]` of the program on `127.0.0.1:port` until SIGINT or SIGTERM,
/// then finishes the requests in flight and returns `Ok(())`.
///
/// `port` and `server_type` win over the config file and the environment; the other
/// settings come from them (see [`Server`]). Errors: the port cannot be bound, the
/// configuration is invalid, or the routes are inconsistent (duplicates, none at all).
pub fn run(port: u16, server_type: ServerType) -> io::Result<()> {
    Server::new().port(port).server_type(server_type).serve()
}

/// A server, configured step by step:
///
/// ```no_run
/// use appserver::{Server, ServerType};
///
/// Server::new().bind(([0, 0, 0, 0], 8080)).server_type(ServerType::Forked).serve()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Settings come from, in rising precedence: the defaults, the config file
/// (`appserver.toml` in the working directory, or the file named by `APPSERVER_CONFIG`),
/// `APPSERVER_<KEY>` environment variables (`APPSERVER_PORT=9000`), and the methods
/// called here. An unknown key, a bad value or an unreadable file stops the server from
/// starting with a message naming the file or variable, the key and the expected form.
#[derive(Default)]
pub struct Server {
    settings: Settings,
    state: StateMap,
    on_worker_start: Option<Hook>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("settings", &self.settings).field("state", &self.state).finish_non_exhaustive()
    }
}

impl Server {
    /// A server configured by the config file and the environment, with these defaults:
    /// `127.0.0.1:8080`, threaded, one worker per CPU.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on (key `host` and `port`); port 0 picks a free port (see
    /// [`Server::start`]).
    pub fn bind(mut self, addr: impl Into<SocketAddr>) -> Self {
        let addr = addr.into();
        self.settings.host = Some(addr.ip());
        self.settings.port = Some(addr.port());
        self
    }

    /// The port to listen on (key `port`, default 8080).
    pub fn port(mut self, port: u16) -> Self {
        self.settings.port = Some(port);
        self
    }

    /// How handlers run (key `server_type`: `"threaded"`, the default, or `"forked"`).
    pub fn server_type(mut self, server_type: ServerType) -> Self {
        self.settings.server_type = Some(server_type);
        self
    }

    /// Threads (Threaded) or processes (Forked) serving requests (key `workers`, default:
    /// the number of CPUs).
    pub fn workers(mut self, workers: usize) -> Self {
        self.settings.workers = Some(AtLeastOne(workers.max(1)));
        self
    }

    /// The largest request body, in bytes (key `max_body_bytes`, default 1 MiB); a larger
    /// one is a 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.settings.max_body_bytes = Some(limit);
        self
    }

    /// How long a client may take to send a request's headers, counted from when the
    /// connection opens or goes idle (key `header_timeout`, default 10 s); then the
    /// connection is closed.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.settings.header_timeout = Some(Seconds(timeout));
        self
    }

    /// How long an async or blocking handler may run, and a body may take to arrive (key
    /// `request_timeout`, default 30 s); then the answer is a 503 (a 408 for the body) and
    /// the handler's task is dropped. A sync handler runs inline and cannot be stopped.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = Some(Seconds(timeout));
        self
    }

    /// How long a connection may stay open without a new request (key
    /// `keep_alive_timeout`, default 5 s; `header_timeout` bounds it too).
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.settings.keep_alive_timeout = Some(Seconds(timeout));
        self
    }

    /// The most connections served at once, per process (key `max_connections`, default
    /// 4096); further ones wait to be accepted while the open ones keep working.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.settings.max_connections = Some(AtLeastOne(limit.max(1)));
        self
    }

    /// How long a shutdown waits for requests in flight (key `graceful_timeout`, default
    /// 30 s); then the connections still open are closed (Forked: the workers still busy
    /// are killed).
    pub fn graceful_timeout(mut self, timeout: Duration) -> Self {
        self.settings.graceful_timeout = Some(Seconds(timeout));
        self
    }

    /// Registers `value` as shared state, for handlers taking [`State<T>`](crate::State).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Runs `hook` in every process that serves, before it serves: once in Threaded mode,
    /// in each worker after the fork in Forked mode (the place to open per-process
    /// resources). An error stops that process: the server does not start (Threaded), or
    /// the worker counts as failing to boot (Forked).
    pub fn on_worker_start(mut self, hook: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> Self {
        self.on_worker_start = Some(Arc::new(hook));
        self
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully. Installs a `tracing`
    /// subscriber (filter: `RUST_LOG`, else the `log` setting, else `info`) unless the
    /// program set one.
    ///
    /// **Signals.** SIGTERM and SIGINT: stop accepting, finish the requests in flight
    /// (at most `graceful_timeout`), return `Ok(())`. In Forked mode the master forwards
    /// SIGTERM to the workers, kills those still busy after `graceful_timeout`, and
    /// returns once none is left.
    pub fn serve(self) -> io::Result<()> {
        let config = self.settings.resolve()?;
        log::init_default(config.log.as_deref())?;
        match config.server_type {
            ServerType::Threaded => {
                let (runtime, listener, app) = threaded(&config, self.state, self.on_worker_start)?;
                runtime.block_on(async { serve_connections(listener, app, &config, shutdown_signal()).await })
            }
            ServerType::Forked => {
                let (listener, app) = prepare(&config, self.state)?;
                crate::fork::serve(listener, app, &config, self.on_worker_start)
            }
        }
    }

    /// Starts serving on a background thread and returns at once, e.g. for tests:
    ///
    /// ```standalone_crate
    /// # #[appserver::route(r"/")] fn home() -> &'static str { "home" }
    /// let server = appserver::Server::new().bind(([127, 0, 0, 1], 0)).start()?;
    /// println!("listening on {}", server.addr());
    /// server.shutdown()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Threaded mode only: a process cannot fork safely once it runs other threads, so a
    /// Forked server is started with [`Server::serve`] from `main`.
    pub fn start(self) -> io::Result<RunningServer> {
        let config = self.settings.resolve()?;
        if config.server_type != ServerType::Threaded {
            return Err(crate::error::startup_error(
                io::ErrorKind::Unsupported,
                "Server::start runs Threaded servers only; start a Forked server with serve() from main".into(),
            ));
        }
        let (runtime, listener, app) = threaded(&config, self.state, self.on_worker_start)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("appserver".into()).spawn(move || {
            runtime.block_on(serve_connections(listener, app, &config, async {
                let _ = stopped.await;
            }))
        })?;
        Ok(RunningServer { addr, stop: Some(stop), thread: Some(thread) })
    }
}

/// What a Threaded server runs on: `prepare`, then the `on_worker_start` hook, then its
/// runtime (with one worker, a current-thread runtime: the same thing without the cost of
/// work stealing).
fn threaded(
    config: &Config,
    state: StateMap,
    hook: Option<Hook>,
) -> io::Result<(tokio::runtime::Runtime, std::net::TcpListener, Arc<App>)> {
    let (listener, app) = prepare(config, state)?;
    if let Some(hook) = hook {
        hook()?;
    }
    let runtime = match config.workers {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build()?,
    };
    Ok((runtime, listener, app))
}

/// Checks the routes and state, binds the socket, logs the route table.
fn prepare(config: &Config, state: StateMap) -> io::Result<(std::net::TcpListener, Arc<App>)> {
    let invalid = |err| crate::error::startup_error(io::ErrorKind::InvalidInput, err);
    let router = Router::new(Route::all()).map_err(invalid)?;
    let missing = state.missing(router.routes());
    if !missing.is_empty() {
        return Err(invalid(missing.join("\n")));
    }
    let listener = std::net::TcpListener::bind(config.addr)?;
    listener.set_nonblocking(true)?;
    tracing::info!(
        addr = %listener.local_addr()?,
        server_type = ?config.server_type,
        workers = config.workers,
        "appserver listening"
    );
    for route in router.routes() {
        tracing::info!(methods = route.method_names(), pattern = route.pattern, handler = route.name, "route");
    }
    let app = App {
        router,
        state: Arc::new(state),
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
    };
    Ok((listener, Arc::new(app)))
}

/// A server started with [`Server::start`]; dropping it shuts it down too.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, waits for the requests in flight, and returns.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Accepts and serves connections until `shutdown`, then lets them finish (at most
/// `graceful_timeout`).
pub(crate) async fn serve_connections(
    listener: std::net::TcpListener,
    app: Arc<App>,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let http = http1::Builder::new();
    // One permit per open connection: accepting waits while all are taken.
    let max = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(max as usize));
    let connections = Arc::new(Connections::new(config.header_timeout, config.keep_alive_timeout));
    let reaper = tokio::spawn({
        let connections = Arc::clone(&connections);
        async move {
            let mut ticks = tokio::time::interval(connections.tick());
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                connections.reap();
            }
        }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = async {
                let permit = Arc::clone(&permits).acquire_owned().await.expect("the semaphore is never closed");
                (permit, listener.accept().await)
            } => accepted,
        };
        let (permit, stream) = match accepted {
            (permit, Ok((stream, _))) => (permit, stream),
            (_, Err(err)) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = connections.add();
        let service = {
            let (app, activity) = (Arc::clone(&app), Arc::clone(&activity));
            service_fn(move |request| {
                let guard = activity.request();
                let answer = app.handle(request);
                async move {
                    let response = answer.await;
                    drop(guard);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let connection = Watched::new(http.serve_connection(TokioIo::new(stream), service), activity);
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    connections.close_all();
    if tokio::time::timeout(config.graceful_timeout, permits.acquire_many(max)).await.is_err() {
        tracing::warn!(
            open = max as usize - permits.available_permits(),
            "graceful_timeout reached: closing the connections still open"
        );
    }
    reaper.abort();
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (inside
/// a runtime), not when it is first polled.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
        match signal {
            Some(signal) => drop(signal.recv().await),
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            () = recv(interrupt.as_mut()) => {}
            () = recv(terminate.as_mut()) => {}
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
