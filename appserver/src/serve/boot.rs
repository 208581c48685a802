//! What every server type starts from: the checked routes and state, the bound socket,
//! the configuration, and how to read the configuration again (SIGHUP).

use super::error::{Cause, ServeError};
use super::layer::AddLayer;
use super::metrics;
use super::probes::Probes;
use super::service::{App, OpenApi, Renderer};
use super::static_dir::StaticDir;
use super::tls::Tls;
use super::tokens::LiveTokens;
use crate::config::{Config, ErrorFormat, ServerType, Settings};
use crate::handler::{FieldLimit, Shutdown, StateMap, Takes, Verifier, WsLimits, problem_response};
use crate::routing::{FALLBACK, Fallback, Route, RouteError, Router};
use socket2::{Domain, Protocol, Socket, Type};
use std::any::TypeId;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

/// A hook run in every process that serves, before it serves; see
/// [`Server::on_worker_start`](crate::Server::on_worker_start).
pub(crate) type Hook = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Work of the server's own, started in every process that serves; see
/// [`Server::background`](crate::Server::background).
pub(crate) type Task = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A server ready to serve (routes compiled, state checked), beside its bound socket.
pub(crate) struct Boot {
    pub(crate) addr: SocketAddr,
    pub(crate) config: Config,
    pub(crate) router: Arc<Router>,
    /// The `#[fallback]`, for the paths no route matches.
    fallback: Option<&'static Route>,
    pub(crate) state: Arc<StateMap>,
    pub(crate) hook: Option<Hook>,
    /// TLS, when `tls_cert` and `tls_key` are set.
    tls: Option<Arc<Tls>>,
    layers: Arc<[AddLayer]>,
    /// The tokens the requests of this process check.
    tokens: LiveTokens,
    /// Whether a route takes `Bearer`, so that the tokens may not be left empty.
    needs_tokens: bool,
    /// The OpenAPI document, once it was asked for.
    openapi: Arc<OnceLock<bytes::Bytes>>,
    /// The program's own error renderer, if it set one.
    render: Option<Renderer>,
    /// The settings made in code, the top layer when the configuration is read again.
    code: Settings,
    /// Folders served under URL prefixes.
    dirs: Arc<[StaticDir]>,
    /// Whether a route takes the connection (WebSocket).
    upgrades: bool,
    /// The clock ticks per second of CPU times in `/proc`, for the metrics.
    pub(crate) clock_ticks: u64,
    /// What every serving process runs beside its connections.
    pub(crate) background: Arc<[Task]>,
}

/// What a serving process serves: the routes with what requests need, their tower layers,
/// and TLS.
#[derive(Clone)]
pub(crate) struct Served {
    pub(crate) app: Arc<App>,
    /// Tower layers around the routes; none: connections call the routes directly.
    pub(crate) layers: Arc<[AddLayer]>,
    pub(crate) tls: Option<Arc<Tls>>,
    /// What the process runs beside its connections, until it shuts down.
    pub(crate) background: Arc<[Task]>,
}

impl Boot {
    /// Compiles the routes, checks the state they need, loads the TLS files.
    pub(crate) fn new(
        code: Settings,
        config: Config,
        state: StateMap,
        hook: Option<Hook>,
        layers: Vec<AddLayer>,
        render: Option<Renderer>,
        dirs: Vec<(String, PathBuf)>,
    ) -> Result<Self, ServeError> {
        let dirs = dirs
            .iter()
            .map(|(prefix, folder)| {
                StaticDir::new(prefix, folder).map_err(|error| {
                    ServeError::new(Cause::StaticDir { prefix: prefix.clone(), folder: folder.clone(), error })
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .into();
        let router = Router::new(Route::all())?;
        let fallback = Fallback::find()?;
        let ties = router.ties().iter().map(|tie| RouteError::Overlap {
            winner: tie.winner,
            loser: tie.loser,
            witness: tie.witness.clone(),
        });
        if config.strict_routes {
            let ties: Vec<RouteError> = ties.collect();
            if !ties.is_empty() {
                return Err(ties.into());
            }
        } else {
            for tie in ties {
                tracing::warn!("{tie} (strict_routes = true makes this an error)");
            }
        }
        let tokens = TypeId::of::<Verifier>();
        let required = || {
            router
                .routes()
                .chain(fallback)
                .flat_map(|route| route.extractors.iter().filter_map(|required| required()).map(move |r| (route, r)))
        };
        let missing: Vec<RouteError> = required()
            .filter(|&(_, (id, _))| if id == tokens { config.auth_tokens.is_empty() } else { !state.contains(id) })
            .map(|(route, (id, type_name))| match id == tokens {
                true => RouteError::NoTokens { route },
                false => RouteError::MissingState { route, type_name },
            })
            .collect();
        let needs_tokens = required().any(|(_, (id, _))| id == tokens);
        let upgrades = router.routes().chain(fallback).any(|route| (route.takes)() == Takes::Upgrade);
        if !missing.is_empty() {
            return Err(missing.into());
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(Arc::new(Tls::load(cert, key).map_err(|e| ServeError::new(Cause::Tls(e)))?))
            }
            _ => None,
        };
        let addr = SocketAddr::new(config.host, config.port);
        let (router, state, layers) = (Arc::new(router), Arc::new(state), layers.into());
        let (tokens, openapi) = (LiveTokens::default(), Arc::default());
        Ok(Boot {
            addr,
            config,
            router,
            fallback,
            state,
            hook,
            tls,
            layers,
            tokens,
            needs_tokens,
            upgrades,
            clock_ticks: 100,
            background: Arc::new([]),
            openapi,
            render,
            code,
            dirs,
        })
    }

    /// Runs the `on_worker_start` hook, if any, in the process about to serve.
    pub(crate) fn run_hook(&self) -> Result<(), ServeError> {
        match &self.hook {
            Some(hook) => hook().map_err(|error| ServeError::new(Cause::Hook(error))),
            None => Ok(()),
        }
    }

    /// Binds the socket.
    pub(crate) fn bind(&mut self) -> Result<TcpListener, ServeError> {
        let listener = bind(&self.config)?;
        self.addr = listener.local_addr().map_err(|error| ServeError::new(Cause::LocalAddr(error)))?;
        Ok(listener)
    }

    /// Logs the address and the route table: once the server obeys its signals, for
    /// whoever waits for this line to signal it.
    pub(crate) fn announce(&self) {
        let config = &self.config;
        let addr = self.addr;
        tracing::info!(addr = %addr, server_type = config.server_type.name(), workers = config.workers, "appserver listening");
        if !addr.ip().is_loopback() && self.tls.is_none() {
            tracing::warn!(addr = %addr, "listening beyond this host, without TLS: every client that can reach it can use every route");
        }
        for route in self.router.routes() {
            tracing::info!(
                methods = route.answers().to_string(),
                pattern = route.pattern,
                handler = route.name,
                "route"
            );
        }
        for dir in self.dirs.iter() {
            let (pattern, files) = (format!("{}/{{path}}", dir.prefix), format!("(files in {})", dir.folder.display()));
            tracing::info!(methods = "GET, HEAD", pattern, handler = files, "route");
        }
        if let Some(fallback) = self.fallback {
            tracing::info!(methods = "ANY", pattern = FALLBACK, handler = fallback.name, "route");
        }
    }

    /// The label of each route in the metrics, in the router's order: its pattern.
    pub(crate) fn route_labels(&self) -> Vec<String> {
        self.router.routes().map(|route| route.pattern.to_owned()).collect()
    }

    /// What a process serves with `config`: its tokens join the state.
    pub(crate) fn served(&self, config: &Config) -> Served {
        let mut state = (*self.state).clone();
        self.tokens.replace(config.auth_tokens.clone());
        state.insert(Verifier(Arc::new(self.tokens.clone())));
        state.insert(FieldLimit(config.max_field_bytes));
        state.insert(WsLimits { max_message_bytes: config.ws_max_message_bytes, idle_timeout: config.ws_idle_timeout });
        state.insert(Shutdown::default());
        let openapi = config.openapi_path.as_ref().map(|path| OpenApi {
            path: path.clone(),
            document: Arc::clone(&self.openapi),
            tokens: !config.auth_tokens.is_empty(),
        });
        let render = self.render.clone().or_else(|| match config.error_format {
            ErrorFormat::Problem => {
                Some(Arc::new(|error: &crate::handler::Error| problem_response(error.status(), error.message()))
                    as Renderer)
            }
            _ => None,
        });
        let metrics = config.metrics_path.as_ref().map(|_| {
            let metrics = metrics::get().unwrap_or_else(|| {
                let words = Vec::from_iter((0..metrics::WORDS).map(|_| AtomicU64::new(0)));
                metrics::install(words.leak(), self.route_labels(), self.clock_ticks)
            });
            if config.server_type == ServerType::Threaded {
                metrics.process_started();
            }
            metrics
        });
        let app = App {
            metrics,
            metrics_path: config.metrics_path.clone(),
            render,
            router: Arc::clone(&self.router),
            fallback: self.fallback,
            state: Arc::new(state),
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
            body_timeout: config.body_timeout,
            builtins: openapi.is_some()
                || config.health_path.is_some()
                || config.ready_path.is_some()
                || config.metrics_path.is_some(),
            openapi,
            probes: Probes {
                health: config.health_path.clone(),
                ready: config.ready_path.clone(),
                logged: config.log_probes,
            },
            dirs: Arc::clone(&self.dirs),
            upgrades: self.upgrades,
            request_id: config.request_id,
        };
        Served {
            app: Arc::new(app),
            layers: Arc::clone(&self.layers),
            tls: self.tls.clone(),
            background: Arc::clone(&self.background),
        }
    }

    /// From now on, the requests of this process check `config`'s tokens.
    pub(crate) fn replace_tokens(&self, config: &Config) {
        self.tokens.replace(config.auth_tokens.clone());
    }

    /// The configuration read again from the file and the environment (under the settings
    /// made in code), for SIGHUP: `None`, with each error logged, if it is invalid. The keys
    /// of the socket and the server type keep their running values: changing them needs a
    /// restart, which is logged.
    pub(crate) fn reread(&self) -> Option<Config> {
        let mut config = match self.code.resolve() {
            Ok(config) => config,
            Err(errors) => {
                for error in &errors {
                    tracing::error!(error = %error, "SIGHUP: the configuration is invalid; keeping the running one");
                }
                return None;
            }
        };
        if self.needs_tokens && config.auth_tokens.is_empty() {
            tracing::error!(
                "SIGHUP: routes take `Bearer`, but the configuration has no tokens; keeping the running one"
            );
            return None;
        }
        let running = &self.config;
        for key in config.changed(running) {
            if matches!(key, "host" | "port" | "backlog" | "server_type") {
                tracing::warn!(key, "SIGHUP: this setting changed; it takes effect after a restart");
            }
        }
        (config.host, config.port, config.backlog, config.server_type) =
            (running.host, running.port, running.backlog, running.server_type);
        match (&self.tls, &config.tls_cert, &config.tls_key) {
            (Some(tls), Some(cert), Some(key)) => match tls.reload(cert, key) {
                Ok(()) => tracing::info!(cert = %cert.display(), "SIGHUP: the TLS certificate was loaded again"),
                Err(error) => tracing::error!(%error, "SIGHUP: keeping the TLS certificate in use"),
            },
            (None, None, _) => {}
            _ => tracing::warn!("SIGHUP: turning TLS on or off takes effect after a restart"),
        }
        (config.tls_cert, config.tls_key) = match self.tls {
            Some(_) if config.tls_cert.is_some() => (config.tls_cert, config.tls_key),
            _ => (running.tls_cert.clone(), running.tls_key.clone()),
        };
        Some(config)
    }
}

/// A listening socket for `config`'s address, with its backlog, not blocking.
pub(crate) fn bind(config: &Config) -> Result<TcpListener, ServeError> {
    let addr = SocketAddr::new(config.host, config.port);
    let listen = || -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(i32::try_from(config.backlog).unwrap_or(i32::MAX))?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    listen().map_err(|error| ServeError::new(Cause::Bind { addr, error }))
}
