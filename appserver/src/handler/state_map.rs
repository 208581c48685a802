//! The state registered with `Server::state`: one value per type.

use std::any::{Any, TypeId};
use std::sync::Arc;

/// Values by type: a few, so a list searched in order beats hashing the `TypeId` on
/// every request.
#[derive(Default, Debug, Clone)]
pub(crate) struct StateMap(Vec<(TypeId, Arc<dyn Any + Send + Sync>)>);

impl StateMap {
    /// Registers `value`, replacing the one of its type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        self.0.retain(|(other, _)| *other != id);
        self.0.push((id, Arc::new(value)));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let id = TypeId::of::<T>();
        self.0.iter().find(|(other, _)| *other == id).and_then(|(_, value)| Arc::clone(value).downcast().ok())
    }

    pub(crate) fn contains(&self, id: TypeId) -> bool {
        self.0.iter().any(|(other, _)| *other == id)
    }
}
