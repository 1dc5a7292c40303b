//! Where status goes: the [`StatusStore`] trait through which the reconciler persists status
//! (after the snapshot, before any Genesys write, and after every step) and is told when a pass
//! is about to write to Genesys for the first time, and [`MemoryStore`],
//! the in-memory store of the one-shot mode and the tests. The Kubernetes controller implements
//! the same trait with server-side apply on `/status`. `MemoryStore` does no I/O.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use crate::crd::{GenesysUserOffboarding, GenesysUserOffboardingStatus};

/// Persists a resource's status. A successful `save` means the status survives a crash of the
/// reconciler: the next pass starts from it.
#[async_trait]
pub trait StatusStore: Send + Sync {
    async fn save(
        &self,
        resource: &GenesysUserOffboarding,
        status: &GenesysUserOffboardingStatus,
    ) -> Result<(), StoreError>;

    /// Called once per pass that writes to Genesys, after the snapshot is persisted and before
    /// the first write: whatever must hold while Genesys is being changed (the controller's
    /// in-progress finalizer). An error stops the pass before that write. Nothing by default.
    async fn before_first_write(
        &self,
        resource: &GenesysUserOffboarding,
    ) -> Result<(), StoreError> {
        let _ = resource;
        Ok(())
    }
}

/// One status write, with the time it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedStatus {
    pub at: DateTime<Utc>,
    pub status: GenesysUserOffboardingStatus,
}

/// Keeps every status written, in order (the one-shot mode prints the last one; tests read the
/// sequence to check the order of writes against Genesys requests).
#[derive(Debug, Default)]
pub struct MemoryStore {
    saves: Mutex<Vec<SavedStatus>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last status saved.
    pub fn latest(&self) -> Option<GenesysUserOffboardingStatus> {
        self.history().pop().map(|s| s.status)
    }

    /// Every save, oldest first.
    pub fn history(&self) -> Vec<SavedStatus> {
        match self.saves.lock() {
            Ok(saves) => saves.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[async_trait]
impl StatusStore for MemoryStore {
    async fn save(
        &self,
        _resource: &GenesysUserOffboarding,
        status: &GenesysUserOffboardingStatus,
    ) -> Result<(), StoreError> {
        let mut saves = self
            .saves
            .lock()
            .map_err(|_| StoreError("the in-memory status store is poisoned".into()))?;
        saves.push(SavedStatus {
            at: Utc::now(),
            status: status.clone(),
        });
        Ok(())
    }
}
