//! Accounts: stores as records and their people, their scanner devices, and signing in.
//!
//! Owns who may create a store, add someone to it, pair or revoke its devices, disable a
//! user, and the sign-in rules:
//! - a code goes only to a number the catalog knows (an admin or a store's owner added it);
//!   the answer is the same either way, so the endpoint does not tell who is a user;
//! - a code is 6 digits, good for [`CODE_TTL`] and [`CODE_ATTEMPTS`] tries, kept as its MAC;
//! - code requests are limited per number and per client address, code and pairing tries per
//!   address ([`limits`]), each a fixed one-hour window counted in storage (so every function
//!   instance shares it);
//! - a sign-in (or a device's pairing) gives a short access token (the API's HS256 format,
//!   [`ACCESS_TOKEN_TTL`]) and a refresh token; a refresh rotates it, and an old refresh token
//!   used again ends its whole family (the session), as OAuth's security practice (RFC 9700,
//!   4.14.2) asks;
//! - the access token's role and stores come from the records at the time it is issued (the
//!   user's role and memberships; a device: its store's scanner), so a change reaches the
//!   holder within one access-token lifetime.
//!
//! `stores` (stores and memberships), `sign_in` (codes, tokens, sessions), `devices` (pairing
//! and revocation), `keys` (integration keys and the check of every keyed request) and `users`
//! (an admin's changes) are the operations; `secrets` the MACs, random numbers and token
//! formats they share.

mod devices;
mod keys;
mod secrets;
mod sign_in;
mod stores;
mod users;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use utoipa::ToSchema;

use super::{ServiceError, ServiceResult};
use crate::auth::{Role, TokenKeys};
use crate::domain::{
    DeviceId, GlobalRole, Phone, RegionCode, StoreId, StoreRole, Timestamp, UserId,
};
use crate::ports::{AccountStore, CodeSender, StorageError};

pub use crate::auth::ACCESS_TOKEN_TTL;
pub use crate::domain::account::{CODE_ATTEMPTS, CODE_TTL, PAIRING_TTL, SESSION_TTL};
pub use keys::{CreatedKey, KeyView, NewKey};
pub use secrets::{INTEGRATION_KEY_PREFIX, PAIRING_CODE_PREFIX, REFRESH_TOKEN_PREFIX, SecretKey};

/// How many requests of each kind a caller may make per hour.
pub mod limits {
    /// Codes sent to one number (a person who lost a few messages, not a flood of SMS).
    pub const CODES_PER_PHONE: u32 = 5;
    /// Codes asked for from one address (a shop's Wi-Fi with a few staff phones).
    pub const CODES_PER_ADDRESS: u32 = 30;
    /// Codes tried from one address: with [`super::CODE_ATTEMPTS`] per code, guessing a
    /// 6-digit code stays at about 1 in 16,000 per address and hour.
    pub const CODE_TRIES_PER_ADDRESS: u32 = 60;
    /// Codes tried for one number, across the codes sent to it (each code allows
    /// [`super::CODE_ATTEMPTS`] tries; without this, five codes would allow 25).
    pub const CODE_TRIES_PER_PHONE: u32 = 10;
    /// Pairing codes tried from one address (each is 256 random bits: this limit is for
    /// the storage behind it, not the odds).
    pub const PAIRINGS_PER_ADDRESS: u32 = 60;
    /// The fixed window every limit counts in.
    pub const WINDOW: time::Duration = time::Duration::hours(1);
}

/// The caller's network address, as the edge saw it (`None` when it could not tell). Its text
/// is what the per-address limits count by: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber is given a whole /64, so counting single IPv6 addresses would count nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => v4.fmt(f),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                write!(f, "{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientAddress;

    #[test]
    fn addresses_count_by_ipv4_or_ipv6_64() {
        let text = |s: &str| ClientAddress(Some(s.parse().unwrap())).to_string();
        assert_eq!(text("203.0.113.7"), "203.0.113.7");
        assert_eq!(text("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            text("2401:4900:1c5a:8e2f:1:2:3:4"),
            "2401:4900:1c5a:8e2f::/64"
        );
        assert_eq!(
            text("2401:4900:1c5a:8e2f:ffff::9"),
            text("2401:4900:1c5a:8e2f::1"),
            "one /64, one count"
        );
        assert_eq!(ClientAddress(None).to_string(), "unknown");
    }
}

/// Someone to add to a store: found by their number, created if new.
#[derive(Debug, Clone)]
pub struct Invitee {
    pub phone: Phone,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub struct NewStore {
    pub store_id: StoreId,
    pub name: String,
    pub region: RegionCode,
    pub owner: Invitee,
}

/// A store and its people.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreView {
    pub store_id: StoreId,
    pub name: String,
    #[schema(value_type = String, example = "IN-MH")]
    pub region: RegionCode,
    pub owner_user_id: UserId,
    pub created_at: Timestamp,
    pub members: Vec<MemberView>,
}

/// A person's place in a store.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: UserId,
    pub display_name: String,
    pub phone: Phone,
    pub role: StoreRole,
    /// Who added them (a token's `sub`) and when.
    pub added_by: String,
    pub added_at: Timestamp,
}

/// A user as an admin sees them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub user_id: UserId,
    pub phone: Phone,
    pub display_name: String,
    pub global_role: Option<GlobalRole>,
    /// A disabled user cannot sign in or refresh.
    pub disabled: bool,
    /// Sessions started before this no longer refresh.
    pub sessions_valid_after: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A store's device as its owners see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    pub device_id: DeviceId,
    pub store_id: StoreId,
    pub name: String,
    /// `pending` (its pairing code is still good), `expired` (it was never used), `paired`
    /// or `revoked`.
    #[schema(pattern = "^(pending|expired|paired|revoked)$")]
    pub status: &'static str,
    pub added_by: String,
    pub created_at: Timestamp,
    pub paired_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A new device and the one-time code that pairs it (shown once, as a QR code).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PairingView {
    pub device: DeviceView,
    /// `kcpc_...`: the device sends it as `POST /v1/auth/token` with `grant_type`
    /// `pairing_code`, once.
    pub pairing_code: String,
    /// Seconds the code is good for.
    pub expires_in: i64,
}

/// What a sign-in, a pairing or a refresh gives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPair {
    /// The bearer token for every other route.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is good for.
    pub expires_in: i64,
    /// Gives the next pair once (`POST /v1/auth/token` with `grant_type=refresh_token`); the
    /// session it belongs to ends `refresh_expires_in` seconds from now at the latest.
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    /// The person signed in (absent for a device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The device signed in (absent for a person).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// The role and stores the access token carries.
    #[schema(value_type = String, example = "store_owner")]
    pub role: Role,
    pub store_ids: Vec<StoreId>,
}

/// Stores, users, devices and sign-in over the accounts port.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn AccountStore>,
    sender: Arc<dyn CodeSender>,
    tokens: TokenKeys,
    secrets: SecretKey,
    send_time: Arc<SendTime>,
}

/// How long sending an SMS usually takes here (a moving average), so that answering for a
/// number that gets none can take as long.
#[derive(Debug)]
struct SendTime(AtomicU64);

impl SendTime {
    /// Before any send is measured: about an SNS `Publish` from Lambda.
    const FIRST_GUESS_MICROS: u64 = 60_000;

    fn typical(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.0.load(Ordering::Relaxed))
    }

    /// Folds one send's time in (weight 1/8).
    fn record(&self, took: std::time::Duration) {
        let took = u64::try_from(took.as_micros())
            .unwrap_or(u64::MAX)
            .min(5_000_000);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some(avg - avg / 8 + took / 8)
            });
    }
}

impl Accounts {
    pub fn new(
        store: Arc<dyn AccountStore>,
        sender: Arc<dyn CodeSender>,
        tokens: TokenKeys,
        service_secret: &[u8],
    ) -> Self {
        Self {
            store,
            sender,
            tokens,
            secrets: SecretKey::derive(service_secret),
            send_time: Arc::new(SendTime(AtomicU64::new(SendTime::FIRST_GUESS_MICROS))),
        }
    }

    /// The readiness probe of the accounts table: one absent user read.
    pub async fn probe(&self) -> super::health::PartCheck {
        let nobody = UserId::from_uuid(uuid::Uuid::nil());
        super::health::probe("accounts", self.store.get_user(&nobody)).await
    }

    /// Counts one request against `key`'s current one-hour window; over `limit`,
    /// `429 rate_limited` with the seconds to the window's end.
    async fn limit(&self, key: &str, limit: u32, now: Timestamp, what: &str) -> ServiceResult<()> {
        let window = limits::WINDOW.whole_seconds();
        let end_secs = (now.unix_seconds() / window + 1) * window;
        let end = Timestamp::from_unix_seconds(end_secs).unwrap_or(now);
        if self
            .store
            .count_request(key, end, limit)
            .await
            .map_err(storage)?
        {
            return Ok(());
        }
        let wait = end.datetime() - now.datetime();
        Err(ServiceError::RateLimited {
            detail: format!("{what}; try again in {} minutes", wait.whole_minutes() + 1),
            retry_after: wait.try_into().unwrap_or_default(),
        })
    }
}

fn storage(e: StorageError) -> ServiceError {
    ServiceError::storage(e)
}

fn sign_in_error(code: &'static str, detail: impl Into<String>) -> ServiceError {
    ServiceError::SignIn {
        code,
        detail: detail.into(),
    }
}

fn store_not_found(id: &StoreId) -> ServiceError {
    ServiceError::NotFound {
        what: "store",
        id: id.to_string(),
    }
}
