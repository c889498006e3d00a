//! The accounts port: stores, users, memberships, sign-in codes, sessions and rate counters,
//! and the port sign-in codes leave by.
//!
//! Owns what the adapters promise: a phone names one user; a store and its owner's membership
//! are written together; spending a code attempt, rotating a session and counting a request
//! against a limit are each one atomic, conditional step, so two requests racing cannot both
//! use the same attempt, the same refresh token or the last unit of a limit.

use async_trait::async_trait;

use super::{KeyStore, StorageResult, WebhookStore};
use crate::domain::{
    Device, DeviceId, Membership, Phone, Session, SessionId, SignInCode, Store, StoreId, Timestamp,
    User, UserId,
};

/// Most stores a user's memberships are read for (and a token names).
pub const MAX_MEMBERSHIPS: usize = 100;
/// Most device records a store's listing reads (paired, pending and revoked).
pub const MAX_DEVICE_RECORDS: usize = 200;

/// Accounts include their stores' integration keys ([`KeyStore`]) and webhooks
/// ([`WebhookStore`]): one table, one adapter.
#[async_trait]
pub trait AccountStore: KeyStore + WebhookStore + Send + Sync {
    /// `AlreadyExists` when the id or the phone number is taken.
    async fn insert_user(&self, user: &User) -> StorageResult<()>;
    async fn get_user(&self, id: &UserId) -> StorageResult<Option<User>>;
    async fn user_by_phone(&self, phone: &Phone) -> StorageResult<Option<User>>;
    /// Sets the user's `sessions_valid_after` to `at` (sign out everywhere), and nothing else;
    /// `NotFound` when there is no such user.
    async fn end_sessions(&self, id: &UserId, at: Timestamp) -> StorageResult<()>;
    /// Sets `disabled` (and, when disabling, `sessions_valid_after` to `at`), and nothing else;
    /// returns the user after. `NotFound` when there is no such user.
    async fn set_disabled(&self, id: &UserId, disabled: bool, at: Timestamp)
    -> StorageResult<User>;

    /// The store and its owner's membership, both or neither. `AlreadyExists` when the id is
    /// taken.
    async fn insert_store(&self, store: &Store, owner: &Membership) -> StorageResult<()>;
    async fn get_store(&self, id: &StoreId) -> StorageResult<Option<Store>>;
    /// Adds the membership, or changes the role of the one there is.
    async fn put_membership(&self, membership: &Membership) -> StorageResult<()>;
    /// The user's memberships (at most [`MAX_MEMBERSHIPS`]), by store id.
    async fn memberships_of(&self, user: &UserId) -> StorageResult<Vec<Membership>>;
    /// The store's members (at most [`MAX_MEMBERSHIPS`]), by user id.
    async fn members_of(&self, store: &StoreId) -> StorageResult<Vec<Membership>>;

    /// Replaces the phone's code (a new code makes the last one useless).
    async fn put_code(&self, code: &SignInCode) -> StorageResult<()>;
    /// Spends one attempt of the phone's code and returns the code as it is after, or `None`
    /// when there is no code with an attempt left that has not expired at `now`.
    async fn spend_code_attempt(
        &self,
        phone: &Phone,
        now: Timestamp,
    ) -> StorageResult<Option<SignInCode>>;
    /// Deletes the code if it is still the one sent at `code.sent_at` (a used code); `false`
    /// when it was not there (deleted by a racing sign-in with the same code, or replaced).
    async fn delete_code(&self, code: &SignInCode) -> StorageResult<bool>;

    /// Counts one request against `key`'s fixed window ending at `window_end`; `false` when the
    /// window already holds `limit` (the request is not counted then). A counter already in a
    /// later window (another instance's clock ran ahead) lets the request through uncounted.
    async fn count_request(
        &self,
        key: &str,
        window_end: Timestamp,
        limit: u32,
    ) -> StorageResult<bool>;

    /// `AlreadyExists` when the id is taken.
    async fn insert_session(&self, session: &Session) -> StorageResult<()>;
    async fn get_session(&self, id: &SessionId) -> StorageResult<Option<Session>>;
    /// Replaces the session if its current secret is still `previous_mac` and it is not
    /// revoked; otherwise `VersionConflict` (another refresh won, or it was revoked).
    async fn rotate_session(&self, next: &Session, previous_mac: &str) -> StorageResult<()>;
    /// Marks the session revoked at `at` (a revoked one stays as it was).
    async fn revoke_session(&self, id: &SessionId, at: Timestamp) -> StorageResult<()>;

    /// `AlreadyExists` when the id is taken in the store.
    async fn insert_device(&self, device: &Device) -> StorageResult<()>;
    async fn get_device(&self, store: &StoreId, id: &DeviceId) -> StorageResult<Option<Device>>;
    /// The store's devices (the newest [`MAX_DEVICE_RECORDS`]), revoked ones too.
    async fn devices_of(&self, store: &StoreId) -> StorageResult<Vec<Device>>;
    /// Marks the device paired at `at` with `session`, if its pairing code is still
    /// `pairing_mac` and it is neither paired nor revoked; otherwise `VersionConflict` (the code
    /// was used already, or the device was revoked).
    async fn pair_device(
        &self,
        store: &StoreId,
        id: &DeviceId,
        pairing_mac: &str,
        session: &SessionId,
        at: Timestamp,
    ) -> StorageResult<()>;
    /// Marks the device revoked at `at` (a revoked one stays as it was); `NotFound` when there
    /// is no such device.
    async fn revoke_device(
        &self,
        store: &StoreId,
        id: &DeviceId,
        at: Timestamp,
    ) -> StorageResult<()>;
}

/// Where sign-in codes are sent: SMS in AWS, the log locally.
#[async_trait]
pub trait CodeSender: Send + Sync {
    async fn send(&self, phone: &Phone, message: &str) -> StorageResult<()>;
}
