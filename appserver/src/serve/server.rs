//! [`Server`], the builder, and [`run`]: configuration in, a server type out.

use super::boot::{Boot, Hook, Task};
use super::error::{Cause, ServeError};
use super::grace::Deadline;
use super::layer::{AddLayer, AppService, LayerBody, Stack};
use super::probes::{Check, CheckFuture, Readiness};
use super::service::{OpenApiInfo, Renderer};
use super::threaded::RunningServer;
use crate::config::{Config, ErrorFormat, ServerType, Settings, Tokens, schema};
use crate::handler::{Error, Response, StateMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;

/// Serves every `#[route]` of the program on `127.0.0.1:port` until SIGINT or SIGTERM,
/// then finishes the requests in flight and returns `Ok(())`.
///
/// `port` and `server_type` win over the config file and the environment; the other
/// settings come from them (see [`Server`]). Errors: the port cannot be bound, the
/// configuration is invalid, or the routes are inconsistent (duplicates, none at all).
pub fn run(port: u16, server_type: ServerType) -> Result<(), ServeError> {
    Server::new().port(port).server_type(server_type).serve()
}

/// A server, configured step by step:
///
/// ```no_run
/// use appserver::{Server, ServerType};
///
/// Server::new().bind(([0, 0, 0, 0], 8080)).server_type(ServerType::Forked).serve()?;
/// # Ok::<(), appserver::ServeError>(())
/// ```
///
/// Settings come from, in rising precedence: the defaults, the config file
/// (`appserver.toml` in the working directory, or the file named by `APPSERVER_CONFIG`),
/// `APPSERVER_<KEY>` environment variables (`APPSERVER_PORT=9000`), and the methods
/// called here, one per key. Every value, wherever it comes from, passes the same check:
/// an unknown key, a bad value or an unreadable file stops the server from starting with
/// one line per problem naming the file and line or the variable, the key, the value and
/// the expected form.
#[derive(Default)]
pub struct Server {
    settings: Settings,
    state: StateMap,
    on_worker_start: Option<Hook>,
    layers: Vec<AddLayer>,
    render: Option<Renderer>,
    /// Folders served under URL prefixes.
    dirs: Vec<(String, PathBuf)>,
    /// The checks of `ready_path`.
    readiness: Vec<Check>,
    /// What every serving process runs beside its connections.
    background: Vec<Task>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("settings", &self.settings).field("state", &self.state).finish_non_exhaustive()
    }
}

/// A setter per key of the schema, documented from it.
macro_rules! setters {
    ($( $(#[doc = $doc:literal])* $key:ident : $ty:ty = $default:expr, $expected:expr, $valid:expr; )*) => {
        $(
            $(#[doc = $doc])*
            ///
            #[doc = concat!("Key `", stringify!($key), "` in the config file, `APPSERVER_", stringify!($key), "` (upper case) in the environment.")]
            pub fn $key(mut self, value: $ty) -> Self {
                self.settings.$key = Some(value);
                self
            }
        )*
    };
}

impl Server {
    /// A server configured by the config file and the environment, with these defaults:
    /// `127.0.0.1:8080`, threaded, one worker per CPU.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on: keys `host` and `port` at once; port 0 picks a free port
    /// (see [`Server::start`]).
    pub fn bind(self, addr: impl Into<SocketAddr>) -> Self {
        let addr = addr.into();
        self.host(addr.ip()).port(addr.port())
    }

    schema!(setters);

    /// Registers `value` as shared state, for handlers taking [`State<T>`](crate::State).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Wraps the routes in a tower layer: any `tower` or `tower-http` middleware (CORS,
    /// compression, request ids, timeouts, tracing, ...) applies to every route. The last
    /// layer added is the outermost, as in axum. A layer's error is answered as a logged
    /// JSON 500. A server without layers calls its routes directly, at no cost.
    ///
    /// ```no_run
    /// # #[appserver::route(r"/")] fn home() -> &'static str { "home" }
    /// use appserver::http::{HeaderValue, Response};
    /// use appserver::LayerBody;
    ///
    /// // tower-http's CorsLayer, CompressionLayer, TimeoutLayer, TraceLayer... fit the same way.
    /// let served_by = tower::util::MapResponseLayer::new(|mut response: Response<LayerBody>| {
    ///     response.headers_mut().insert("x-served-by", HeaderValue::from_static("appserver"));
    ///     response
    /// });
    /// appserver::Server::new().layer(served_by).serve()?;
    /// # Ok::<(), appserver::ServeError>(())
    /// ```
    pub fn layer<L, S, B>(mut self, layer: L) -> Self
    where
        L: Layer<Stack, Service = S> + Send + Sync + 'static,
        S: tower::Service<http::Request<LayerBody>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.layers.push(super::layer::add(layer));
        self
    }

    /// Renders every error the server answers (its own 404, 405, 413, ... and each
    /// [`Error`](crate::Error) a handler returns) with `render`, in any shape; it wins over
    /// the `error_format` setting. The response keeps the headers the error had (`Allow`,
    /// `Retry-After`, `WWW-Authenticate`) unless `render` sets them. A client refused before
    /// its request is read (over `max_connections_per_client`) gets the `error_format` shape.
    ///
    /// ```standalone_crate
    /// use appserver::{Error, Server, StatusCode, TestClient, Text};
    /// use appserver::IntoResponse;
    ///
    /// # #[appserver::route(GET, r"/x")] fn x() -> u8 { 1 }
    /// let server = Server::new().error_renderer(|error: &Error| {
    ///     (error.status(), Text(format!("{}: {}", error.status().as_u16(), error.message()))).into_response()
    /// });
    /// let response = TestClient::new(server).unwrap().get("/nowhere").send();
    /// assert_eq!((response.status(), response.text()), (StatusCode::NOT_FOUND, "404: no route for GET /nowhere".into()));
    /// ```
    pub fn error_renderer(mut self, render: impl Fn(&Error) -> Response + Send + Sync + 'static) -> Self {
        self.render = Some(Arc::new(render));
        self
    }

    /// Serves the files of `folder` under the URL prefix `prefix` (GET and HEAD), after the
    /// routes and before the fallback: content types, `ETag` and `Last-Modified` with 304,
    /// `Range` with 206, and a `.gz` or `.br` sibling for a client that accepts it. Nothing
    /// outside the folder is served: `..`, an encoded `/`, an absolute path, or a symlink
    /// leading out is a 404. The folder must exist when the server starts; it shows in the
    /// route table.
    ///
    /// ```no_run
    /// # #[appserver::route(r"/")] fn home() -> &'static str { "home" }
    /// appserver::Server::new().serve_dir("/static", "public").serve()?;
    /// # Ok::<(), appserver::ServeError>(())
    /// ```
    pub fn serve_dir(mut self, prefix: &str, folder: impl Into<PathBuf>) -> Self {
        self.dirs.push((prefix.trim_end_matches('/').to_owned(), folder.into()));
        self
    }

    /// The routes, with their state and layers, as a tower `Service` to mount inside
    /// another server (hyper, axum, ...), without a socket of their own. The configuration
    /// is read as for [`Server::serve`] (its socket and server-type keys do not apply), and
    /// the `on_worker_start` hook runs first.
    pub fn into_service(self) -> Result<AppService, ServeError> {
        let config = self.resolve()?;
        self.service(config)
    }

    /// Like [`Server::into_service`] with only the settings made in code (no config file,
    /// no environment): the routes of a [`TestClient`](crate::TestClient).
    pub(crate) fn into_service_in_code(self) -> Result<AppService, ServeError> {
        let config = self.settings.resolve_in_code()?;
        self.service(config)
    }

    /// The routes with their state and layers for `config`, after the `on_worker_start` hook.
    fn service(self, config: Config) -> Result<AppService, ServeError> {
        let boot = self.boot(config)?;
        boot.run_hook()?;
        let served = boot.served(&boot.config);
        let (render, request_id) = (served.app.render.clone(), served.app.request_id);
        Ok(AppService(super::layer::stack(served.app, &served.layers), render, request_id))
    }

    /// Everything a server type starts from, for `config`: the one place a [`Boot`] is made.
    fn boot(mut self, config: Config) -> Result<Boot, ServeError> {
        self.state.insert(Readiness(self.readiness.into()));
        let mut boot =
            Boot::new(self.settings, config, self.state, self.on_worker_start, self.layers, self.render, self.dirs)?;
        boot.clock_ticks = super::fork::clock_ticks();
        boot.background = self.background.into();
        Ok(boot)
    }

    /// The application's own settings: the `[name]` table of the config file, with the
    /// `NAME_<KEY>` environment variables over it (`TQUEUE_MAX_TASKS=10` for `max_tasks`
    /// of `[tqueue]`; a variable's text is read as a TOML value, else as a string),
    /// deserialized into `T`. The table is the application's: the server's own keys stay
    /// at the top of the file.
    ///
    /// ```no_run
    /// #[derive(serde::Deserialize, Default)]
    /// #[serde(default, deny_unknown_fields)]
    /// struct Shop {
    ///     currency: String,
    /// }
    ///
    /// let mut server = appserver::Server::new();
    /// let shop: Shop = server.section("shop")?;
    /// server.state(shop).serve()?;
    /// # Ok::<(), appserver::ServeError>(())
    /// ```
    pub fn section<T: serde::de::DeserializeOwned>(&mut self, name: &'static str) -> Result<T, ServeError> {
        self.settings.sections.push(name);
        crate::config::read_section(name, std::env::vars_os()).map_err(|error| ServeError::from(vec![error]))
    }

    /// The settings this server would run with, every layer resolved and checked (the
    /// defaults, the config file, the environment, the settings made in code). Like
    /// [`Server::serve`], it installs the default `tracing` subscriber unless the program
    /// set one, so that what the program logs before serving is seen.
    pub fn config(&self) -> Result<Config, ServeError> {
        self.resolve()
    }

    /// Runs `hook` in every process that serves, before it serves: once in Threaded mode,
    /// in each worker after the fork in Forked mode (the place to open per-process
    /// resources). An error stops that process: the server does not start (Threaded), or
    /// the worker counts as failing to boot (Forked).
    pub fn on_worker_start(mut self, hook: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> Self {
        self.on_worker_start = Some(Arc::new(hook));
        self
    }

    /// Runs the future that `task` makes beside the connections of every process that
    /// serves, on its runtime, from when it starts serving until it begins to shut down
    /// (the future is then dropped): once in Threaded mode, in each worker in Forked mode
    /// (a worker started again runs its own). For the program's periodic work, such as
    /// refreshing a cache or a gauge. [`Server::into_service`] and
    /// [`TestClient`](crate::TestClient), which serve no socket, do not run it.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// appserver::Server::new()
    ///     .background(|| async {
    ///         loop {
    ///             tracing::info!("still here");
    ///             tokio::time::sleep(Duration::from_secs(60)).await;
    ///         }
    ///     })
    ///     .serve()?;
    /// # Ok::<(), appserver::ServeError>(())
    /// ```
    pub fn background<F, Fut>(mut self, task: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background.push(Arc::new(move || Box::pin(task())));
        self
    }

    /// The title and version of the OpenAPI document served at `openapi_path` (by default
    /// the program's name, at 0.0.0), such as the crate's:
    /// `.openapi_info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))`.
    pub fn openapi_info(mut self, title: &str, version: &str) -> Self {
        self.state.insert(OpenApiInfo { title: title.to_owned(), version: version.to_owned() });
        self
    }

    /// Adds a check to the readiness probe (`ready_path`): the probe answers 200 when every
    /// check passes within 2 s, else 503 with each check's outcome under its `name`. A
    /// check runs in each serving process, on every probe: make it cheap (a `SELECT 1`).
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let warm = Arc::new(AtomicBool::new(true));
    /// appserver::Server::new()
    ///     .ready_path(Some("/readyz".into()))
    ///     .readiness("cache", move || {
    ///         let warm = warm.load(Ordering::Relaxed);
    ///         async move { if warm { Ok(()) } else { Err("the cache is still loading") } }
    ///     })
    ///     .serve()?;
    /// # Ok::<(), appserver::ServeError>(())
    /// ```
    pub fn readiness<F, Fut, E>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let run = move || -> CheckFuture {
            let checked = check();
            Box::pin(async move { checked.await.map_err(|error| error.to_string()) })
        };
        self.readiness.push((name, Arc::new(run)));
        self
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully. Installs a `tracing`
    /// subscriber (filter: `RUST_LOG`, else the `log` setting) unless the program set one.
    ///
    /// **Signals.** SIGTERM and SIGINT: stop accepting (new connections are refused),
    /// answer the requests already sent, finish those in flight within
    /// `graceful_timeout`, and return `Ok(())`, even if a handler still runs (a second
    /// signal returns at once). In Forked mode the master forwards SIGTERM to the workers
    /// and kills those still busy after `graceful_timeout`.
    ///
    /// SIGHUP reads the configuration again. Forked: a new generation of workers starts
    /// with it and, once ready, replaces the old one, which finishes its requests; the
    /// keys of the socket (`host`, `port`, `backlog`) and `server_type` need a restart.
    /// Threaded: the `log` filter, the TLS certificate and the tokens are reloaded; the
    /// other keys need a restart (logged).
    ///
    /// It blocks its thread: called inside a tokio runtime (`#[tokio::main]`), it returns
    /// an error that says to use [`Server::serve_async`] instead.
    pub fn serve(self) -> Result<(), ServeError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(unsupported(
                "Server::serve blocks its thread, and this one runs a tokio runtime: \
                 call `Server::serve_async().await` (or `serve_on`) instead",
            ));
        }
        let config = self.resolve()?;
        if config.print_routes {
            let mut table = super::inspect::routes()?;
            for (prefix, folder) in &self.dirs {
                table.add_dir(prefix, folder);
            }
            print!("{table}");
            return Ok(());
        }
        let mut boot = self.boot(config)?;
        let listener = boot.bind()?;
        match boot.config.server_type {
            ServerType::Threaded => super::threaded::serve(listener, boot),
            ServerType::Forked => super::fork::serve(listener, boot),
        }
    }

    /// Serves on the caller's tokio runtime until SIGINT or SIGTERM, then shuts down
    /// gracefully as [`Server::serve`] does; for programs that run their own runtime:
    ///
    /// ```no_run
    /// # #[appserver::route(r"/")] fn home() -> &'static str { "home" }
    /// #[tokio::main]
    /// async fn main() -> Result<(), appserver::ServeError> {
    ///     appserver::Server::new().port(8080).serve_async().await
    /// }
    /// ```
    ///
    /// The runtime's threads serve (the `workers` setting does not apply); Threaded only,
    /// and SIGHUP is left to the program.
    pub async fn serve_async(self) -> Result<(), ServeError> {
        let config = self.resolve()?;
        let listener = super::boot::bind(&config)?;
        let signals = super::signal::SignalStream::new().map_err(|error| ServeError::new(Cause::Signals(error)))?;
        self.serve_resolved(config, listener, signals.stop()).await
    }

    /// Serves on the caller's tokio runtime from `listener`, already bound, until
    /// `shutdown` completes, then shuts down gracefully (within `graceful_timeout`). The
    /// settings of the socket (`host`, `port`, `backlog`) do not apply.
    ///
    /// ```no_run
    /// # #[appserver::route(r"/")] fn home() -> &'static str { "home" }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// println!("listening on {}", listener.local_addr()?);
    /// appserver::Server::new().serve_on(listener, async { tokio::signal::ctrl_c().await.unwrap() }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve_on(
        self,
        listener: impl Into<Listener>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let listener = listener.into().0.map_err(|error| ServeError::new(Cause::Listener(error)))?;
        let config = self.resolve()?;
        self.serve_resolved(config, listener, shutdown).await
    }

    /// Serves `listener` with `config` on the caller's runtime until `shutdown`.
    async fn serve_resolved(
        self,
        config: Config,
        listener: std::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServeError> {
        if config.server_type != ServerType::Threaded {
            return Err(unsupported(
                "serve_async and serve_on serve Threaded only; a Forked server is started with serve()",
            ));
        }
        let graceful_timeout = config.graceful_timeout;
        let mut boot = self.boot(config)?;
        boot.addr = listener.local_addr().map_err(|error| ServeError::new(Cause::LocalAddr(error)))?;
        boot.run_hook()?;
        let served = boot.served(&boot.config);
        boot.announce();
        let shutdown = async move {
            shutdown.await;
            Deadline::after(graceful_timeout)
        };
        super::accept::serve_connections(listener, served, &boot.config, super::fork::release_free_memory, shutdown)
            .await
            .map_err(|error| ServeError::new(Cause::Stopped(error)))
    }

    /// Starts serving on a background thread and returns at once, e.g. for tests:
    ///
    /// ```standalone_crate
    /// # #[appserver::route(r"/")] fn home() -> &'static str { "home" }
    /// let server = appserver::Server::new().bind(([127, 0, 0, 1], 0)).start()?;
    /// println!("listening on {}", server.addr());
    /// server.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Threaded mode only: a process cannot fork safely once it runs other threads, so a
    /// Forked server is started with [`Server::serve`] from `main`. Signals are left to
    /// the program.
    pub fn start(self) -> Result<RunningServer, ServeError> {
        let config = self.resolve()?;
        if config.server_type != ServerType::Threaded {
            return Err(unsupported(
                "Server::start runs Threaded servers only; start a Forked server with serve() from main",
            ));
        }
        let mut boot = self.boot(config)?;
        let listener = boot.bind()?;
        let running = super::threaded::start(listener, &boot)?;
        boot.announce();
        Ok(running)
    }

    /// The configuration, checked, and the logging it asks for.
    fn resolve(&self) -> Result<Config, ServeError> {
        let config = self.settings.resolve()?;
        super::log::init_default(&config.log).map_err(|error| ServeError::from(vec![error]))?;
        super::log::install_panic_hook();
        super::fd_limit::raise_fd_limit(config.max_connections);
        Ok(config)
    }
}

fn unsupported(message: &str) -> ServeError {
    ServeError::new(Cause::Unsupported(message.into()))
}

/// A listening socket for [`Server::serve_on`]: a `tokio` or a `std` `TcpListener`.
#[derive(Debug)]
pub struct Listener(io::Result<std::net::TcpListener>);

impl From<std::net::TcpListener> for Listener {
    fn from(listener: std::net::TcpListener) -> Self {
        Listener(listener.set_nonblocking(true).map(|()| listener))
    }
}

impl From<tokio::net::TcpListener> for Listener {
    fn from(listener: tokio::net::TcpListener) -> Self {
        Listener(listener.into_std())
    }
}
