//! Binding, serving connections, shutting down.

use crate::log;
use crate::route::Route;
use crate::router::Router;
use crate::service::App;
use crate::state::StateMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How the server runs handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServerType {
    /// One process; a pool of threads (one per CPU unless set with
    /// [`Server::workers`]) serves all connections.
    #[default]
    Threaded,
}

/// Serves every `#[route]` of the program on `127.0.0.1:port` until SIGINT or SIGTERM,
/// then finishes the requests in flight and returns `Ok(())`.
///
/// Errors: the port cannot be bound, or the routes are inconsistent (duplicates, none at
/// all). Use [`Server`] for anything else (another address, state, limits).
pub fn run(port: u16, server_type: ServerType) -> io::Result<()> {
    Server::new().port(port).server_type(server_type).serve()
}

/// A server, configured step by step:
///
/// ```no_run
/// use appserver::{Server, ServerType};
///
/// Server::new().bind(([0, 0, 0, 0], 8080)).server_type(ServerType::Threaded).serve()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    server_type: ServerType,
    workers: Option<usize>,
    max_body_bytes: usize,
    state: StateMap,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            server_type: ServerType::default(),
            workers: None,
            max_body_bytes: 1 << 20,
            state: StateMap::default(),
        }
    }
}

impl Server {
    /// A server for `127.0.0.1:8080`, threaded, with a 1 MiB body limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on; port 0 picks a free port (see [`Server::start`]).
    pub fn bind(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.addr = addr.into();
        self
    }

    /// The port to listen on, keeping the host.
    pub fn port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }

    /// How handlers run.
    pub fn server_type(mut self, server_type: ServerType) -> Self {
        self.server_type = server_type;
        self
    }

    /// Threads serving requests (default: the number of CPUs).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// The largest request body read, in bytes (default 1 MiB); a larger one is a 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Registers `value` as shared state, for handlers taking [`State<T>`](crate::State).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully. Installs a `tracing`
    /// subscriber (filtered by `RUST_LOG`, default `info`) unless the program set one.
    pub fn serve(self) -> io::Result<()> {
        log::init_default();
        let (runtime, listener, app) = self.prepare()?;
        runtime.block_on(serve_connections(listener, app, shutdown_signal()))
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
    pub fn start(self) -> io::Result<RunningServer> {
        let (runtime, listener, app) = self.prepare()?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("appserver".into()).spawn(move || {
            runtime.block_on(serve_connections(listener, app, async {
                let _ = stopped.await;
            }))
        })?;
        Ok(RunningServer { addr, stop: Some(stop), thread: Some(thread) })
    }

    fn prepare(self) -> io::Result<(tokio::runtime::Runtime, std::net::TcpListener, Arc<App>)> {
        let invalid = |err| io::Error::new(io::ErrorKind::InvalidInput, err);
        let router = Router::new(Route::all()).map_err(invalid)?;
        let missing = self.state.missing(router.routes());
        if !missing.is_empty() {
            return Err(invalid(missing.join("\n")));
        }
        let listener = std::net::TcpListener::bind(self.addr)?;
        listener.set_nonblocking(true)?;
        let ServerType::Threaded = self.server_type;
        let workers = self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
        tracing::info!(addr = %listener.local_addr()?, workers, "appserver listening");
        for route in router.routes() {
            tracing::info!(methods = route.method_names(), pattern = route.pattern, handler = route.name, "route");
        }
        let app = App { router, state: Arc::new(self.state), max_body_bytes: self.max_body_bytes };
        Ok((runtime, listener, Arc::new(app)))
    }
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

async fn serve_connections(
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(app.handle(request).await) }
        });
        let connection = http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
