//! How a server runs handlers: [`ServerType`].

/// How the server runs handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServerType {
    /// One process; a pool of `workers` threads serves all connections.
    #[default]
    Threaded,
    /// A master process that forks `workers` processes (Linux), each serving on its own
    /// thread, and supervises them: a worker that dies is replaced. Each worker has its own
    /// copy of the state registered with [`Server::state`](crate::Server::state); share
    /// data between workers through an external store.
    Forked,
}

impl ServerType {
    /// The name used in the config file and the environment.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ServerType::Threaded => "threaded",
            ServerType::Forked => "forked",
        }
    }

    /// The server type named `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [ServerType::Threaded, ServerType::Forked].into_iter().find(|t| t.name() == name)
    }
}
