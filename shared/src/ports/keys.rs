//! The integration keys port: a store's keys, and the one step every keyed request takes.
//!
//! Owns what the adapters promise: taking a request from a key's bucket is one atomic,
//! conditional step that also records the key's last use and refuses a revoked key, so two
//! requests racing cannot both take the bucket's last request, and a revocation is seen by the
//! next request, whatever copy of the key it read.

use async_trait::async_trait;

use super::StorageResult;
use crate::domain::{ApiKey, KeyId, StoreId, Timestamp};

/// How long a revoked key's record stays (listed as revoked, with its last use) before
/// storage deletes it.
pub const REVOKED_KEYS_KEPT: time::Duration = time::Duration::days(90);

/// What one keyed request's step against its key gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Let through (the bucket and `last_used_at` were written).
    Admitted,
    /// The bucket is empty: the milliseconds until it lets a request through.
    Wait(i64),
    /// The key was revoked.
    Revoked,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// `AlreadyExists` when the id is taken in the store.
    async fn insert_key(&self, key: &ApiKey) -> StorageResult<()>;
    /// The key as last written (`consistent`), or possibly a moment older (half the cost: it
    /// is read on every keyed request, and what must be current is checked again by
    /// [`KeyStore::use_key`]; a key made a moment ago may not be found yet).
    async fn get_key(
        &self,
        store: &StoreId,
        id: &KeyId,
        consistent: bool,
    ) -> StorageResult<Option<ApiKey>>;
    /// Every key of the store, newest first: those not revoked, and those revoked within
    /// [`REVOKED_KEYS_KEPT`] (or a little longer: storage deletes them in its own time).
    async fn keys_of(&self, store: &StoreId) -> StorageResult<Vec<ApiKey>>;
    /// Marks the key revoked at `at` (a revoked one stays as it was), to be deleted
    /// [`REVOKED_KEYS_KEPT`] later; `NotFound` when there is no such key.
    async fn revoke_key(&self, store: &StoreId, id: &KeyId, at: Timestamp) -> StorageResult<()>;
    /// Takes one request at `at` from the bucket of `key` (as read: its state is the adapter's
    /// first guess), atomically with setting `last_used_at`; `NotFound` when the key is gone.
    async fn use_key(&self, key: &ApiKey, at: Timestamp) -> StorageResult<KeyUse>;
}
