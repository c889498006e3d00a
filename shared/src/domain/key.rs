//! Integration keys: what a store gives a program (its point-of-sale system, an accounting
//! tool) instead of a person's sign-in.
//!
//! Owns the key's record, its scopes (which routes it may call) and its rate limit: a token
//! bucket kept as one number, GCRA's "theoretical arrival time" (the time the bucket would be
//! full again), so that taking a request is one conditional write in storage. The secret never
//! lives here in the clear: a key is kept as its MAC (`services::accounts` computes it).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{KeyId, StoreId, Timestamp};

/// Longest name of a key.
pub const MAX_KEY_NAME_CHARS: usize = 60;
/// Most keys a store may have that are not revoked.
pub const MAX_KEYS: usize = 20;
/// A key's rate limit when its creator does not choose one: ten requests a second.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 600;
/// The range a key's rate limit may be set in.
pub const REQUESTS_PER_MINUTE: std::ops::RangeInclusive<u32> = 1..=6_000;

/// What a key may do. A route names the scopes that reach it (`api::routes`); a route that
/// names none (sign-in, stores and members, devices, keys themselves, reviews, catalog edits)
/// refuses every key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum KeyScope {
    /// Read the catalog: list, get and match products.
    #[serde(rename = "catalog:read")]
    CatalogRead,
    /// Read the store's inventory, its movements and its exports.
    #[serde(rename = "inventory:read")]
    InventoryRead,
    /// Change the store's inventory: put, delete, adjust, scan, item photos.
    #[serde(rename = "inventory:write")]
    InventoryWrite,
    /// Start and follow CSV imports.
    #[serde(rename = "imports")]
    Imports,
    /// Manage the store's webhooks and see their deliveries.
    #[serde(rename = "webhooks")]
    Webhooks,
}

impl KeyScope {
    pub const ALL: [KeyScope; 5] = [
        KeyScope::CatalogRead,
        KeyScope::InventoryRead,
        KeyScope::InventoryWrite,
        KeyScope::Imports,
        KeyScope::Webhooks,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            KeyScope::CatalogRead => "catalog:read",
            KeyScope::InventoryRead => "inventory:read",
            KeyScope::InventoryWrite => "inventory:write",
            KeyScope::Imports => "imports",
            KeyScope::Webhooks => "webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<KeyScope> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store's integration key, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub key_id: KeyId,
    pub store_id: StoreId,
    pub name: String,
    pub scopes: BTreeSet<KeyScope>,
    pub requests_per_minute: u32,
    /// The MAC of the key's secret.
    pub secret_mac: String,
    /// Who made it (a token's `sub`).
    pub created_by: String,
    pub created_at: Timestamp,
    /// The last request it made that was let through (written with the rate limit's step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// The bucket's state: when it is full again, in Unix milliseconds ([`KeyBucket`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_full_at_ms: Option<i64>,
}

impl ApiKey {
    pub fn bucket(&self) -> KeyBucket {
        KeyBucket::per_minute(self.requests_per_minute)
    }
}

/// A key's token bucket: `capacity` requests at once, refilled at one per `interval_ms`.
///
/// Kept as one number, the time the bucket is full again (GCRA's theoretical arrival time,
/// `full_at`): a request at `now` moves it to `max(full_at, now) + interval` and is let through
/// while that is at most `capacity` intervals ahead of `now`. Two requests therefore never need
/// to agree on a count, only to add an interval each, which storage does atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBucket {
    pub interval_ms: i64,
    pub capacity: i64,
}

/// What taking one request from a bucket gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Let through; the bucket's new `full_at`.
    Admitted(i64),
    /// Refused; the milliseconds until a request would be let through.
    Wait(i64),
}

impl KeyBucket {
    /// The bucket of a key limited to `rpm` requests a minute: ten seconds' worth of requests
    /// at once (at least 10), refilled evenly.
    pub fn per_minute(rpm: u32) -> Self {
        let rpm = i64::from(rpm.max(1));
        KeyBucket {
            // Rounded up: a key never gets more than its rate.
            interval_ms: (60_000 + rpm - 1) / rpm,
            capacity: (rpm / 6).max(10),
        }
    }

    /// One request at `now_ms` against a bucket full again at `full_at` (`None`: never used).
    pub fn take(&self, full_at: Option<i64>, now_ms: i64) -> Take {
        let next = full_at.map_or(now_ms, |f| f.max(now_ms)) + self.interval_ms;
        let over = next - now_ms - self.capacity * self.interval_ms;
        if over > 0 {
            Take::Wait(over)
        } else {
            Take::Admitted(next)
        }
    }

    /// The latest `full_at` at which a request at `now_ms` is still let through (when the
    /// bucket is not full, that request only adds an interval to it).
    pub fn admits_until(&self, now_ms: i64) -> i64 {
        now_ms + (self.capacity - 1) * self.interval_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_capacity_then_one_per_interval() {
        let b = KeyBucket::per_minute(600);
        assert_eq!(
            b,
            KeyBucket {
                interval_ms: 100,
                capacity: 100
            }
        );
        let now = 1_000_000;
        let mut full_at = None;
        for i in 0..100 {
            match b.take(full_at, now) {
                Take::Admitted(f) => full_at = Some(f),
                Take::Wait(w) => panic!("request {i} waited {w} ms"),
            }
        }
        assert_eq!(b.take(full_at, now), Take::Wait(100));
        assert_eq!(b.take(full_at, now + 99), Take::Wait(1));
        assert!(matches!(b.take(full_at, now + 100), Take::Admitted(_)));
        // An hour idle: the bucket is full again, not fuller.
        let later = now + 3_600_000;
        assert_eq!(b.take(full_at, later), Take::Admitted(later + 100));
    }

    #[test]
    fn admits_until_is_the_last_admitted_state() {
        let b = KeyBucket::per_minute(60);
        let now = 5_000;
        let edge = b.admits_until(now);
        assert!(matches!(b.take(Some(edge), now), Take::Admitted(_)));
        assert!(matches!(b.take(Some(edge + 1), now), Take::Wait(1)));
    }

    #[test]
    fn slow_keys_still_get_a_burst_of_ten() {
        let b = KeyBucket::per_minute(1);
        assert_eq!(
            b,
            KeyBucket {
                interval_ms: 60_000,
                capacity: 10
            }
        );
        let fast = KeyBucket::per_minute(6_000);
        assert_eq!(
            fast,
            KeyBucket {
                interval_ms: 10,
                capacity: 1_000
            }
        );
    }

    #[test]
    fn scopes_read_as_they_are_written() {
        for s in KeyScope::ALL {
            assert_eq!(KeyScope::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(KeyScope::parse("inventory"), None);
    }
}
