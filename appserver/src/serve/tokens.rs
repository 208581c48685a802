//! The tokens a running server checks, for the [`Bearer`](crate::Bearer) extractor.

use crate::config::Tokens;
use crate::handler::{Holder, Verify};
use std::sync::{Arc, PoisonError, RwLock};

/// The tokens a running server checks: shared by its connections, replaced when the
/// configuration is read again (SIGHUP) without a restart.
#[derive(Clone, Default)]
pub(crate) struct LiveTokens(Arc<RwLock<Arc<Tokens>>>);

impl LiveTokens {
    /// From now on, `tokens`; requests being checked finish with the old ones.
    pub(crate) fn replace(&self, tokens: Tokens) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tokens);
    }

    fn current(&self) -> Arc<Tokens> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Verify for LiveTokens {
    fn holder(&self, secret: &[u8]) -> Option<Holder> {
        let tokens = self.current();
        let (name, roles) = tokens.find(secret)?;
        Some(Holder { name: Arc::clone(name), roles: Arc::clone(roles) })
    }
}
