//! Identifiers: products, stores, jobs and the client-supplied keys that make retries safe.
//!
//! Owns the shape of every id that crosses the edge. Ids minted here are UUIDv7 (time-ordered);
//! ids from clients are parsed, never trusted as free text, so they can be used in storage keys.

use std::fmt;

use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {rule}")]
pub struct IdError {
    pub what: &'static str,
    pub rule: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn parse(s: &str) -> Result<Self, IdError> {
                Uuid::try_parse(s.trim())
                    .map(Self)
                    .map_err(|_| IdError { what: $what, rule: "a UUID such as 0190f1a2-7c3e-7d4a-9b1c-2f3e4d5c6b7a" })
            }

            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Whether the id was minted (its UUIDv7 time) within `d` of now, either way.
            pub fn minted_within(&self, d: time::Duration) -> bool {
                let Some((secs, nanos)) = self.0.get_timestamp().map(|t| t.to_unix()) else {
                    return false;
                };
                let minted = time::Duration::new(
                    i64::try_from(secs).unwrap_or(i64::MAX),
                    i32::try_from(nanos).unwrap_or(0),
                );
                let now = time::OffsetDateTime::now_utc() - time::OffsetDateTime::UNIX_EPOCH;
                (now - minted).abs() <= d
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// A product of the global catalog.
    ProductId,
    "product id"
);
uuid_id!(
    /// A CSV import job.
    JobId,
    "job id"
);

uuid_id!(
    /// A person who signs in: a store's owner or staff, an admin, a reviewer.
    UserId,
    "user id"
);
uuid_id!(
    /// A signed-in device's session: one refresh-token family.
    SessionId,
    "session id"
);
uuid_id!(
    /// A store's paired scanner device (a shelf phone, a handheld).
    DeviceId,
    "device id"
);
uuid_id!(
    /// A store's integration key (a point-of-sale system, an accounting tool).
    KeyId,
    "key id"
);
uuid_id!(
    /// A store's webhook (a URL its events are delivered to).
    WebhookId,
    "webhook id"
);

/// A store. Stores are named by the identity provider that issues tokens, so the id is a short
/// slug (`[A-Za-z0-9_-]`, 1 to 64 characters) rather than a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId(String);

impl StoreId {
    pub const MAX_LEN: usize = 64;
    /// The id the catalog's own jobs are kept under (Open Food Facts loads): no store may
    /// have it.
    pub const CATALOG: &'static str = "_catalog";

    /// The catalog's own "store" for its jobs ([`StoreId::CATALOG`]).
    pub fn catalog() -> Self {
        Self(Self::CATALOG.to_string())
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if is_slug(s, Self::MAX_LEN) {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError {
                what: "store id",
                rule: "1 to 64 letters, digits, '-' or '_'",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for StoreId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for StoreId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StoreId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A client's key for one logical operation (an `Idempotency-Key` header or a scan id): the same
/// key twice means "the same request again", so its effect is applied once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError {
                what: "idempotency key",
                rule: "1 to 128 visible ASCII characters",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

text_schema!(
    ProductId,
    "ProductId",
    "A catalog product's id (a UUID).",
    format = Uuid
);
text_schema!(
    JobId,
    "JobId",
    "An import job's id (a UUID).",
    format = Uuid
);
text_schema!(UserId, "UserId", "A user's id (a UUID).", format = Uuid);
text_schema!(
    DeviceId,
    "DeviceId",
    "A paired device's id (a UUID).",
    format = Uuid
);
text_schema!(
    KeyId,
    "KeyId",
    "An integration key's id (a UUID).",
    format = Uuid
);
text_schema!(
    WebhookId,
    "WebhookId",
    "A webhook's id (a UUID).",
    format = Uuid
);
text_schema!(
    StoreId,
    "StoreId",
    "A store's id: 1 to 64 letters, digits, '-' or '_'.",
    pattern = "^[A-Za-z0-9_-]{1,64}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_ids_are_slugs() {
        assert!(StoreId::parse("store-42_a").is_ok());
        assert!(StoreId::parse("").is_err());
        assert!(StoreId::parse("a/b").is_err());
        assert!(StoreId::parse("a#b").is_err());
        assert!(StoreId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn an_id_knows_when_it_was_minted() {
        let minute = time::Duration::minutes(1);
        assert!(KeyId::new().minted_within(minute));
        let old = KeyId::parse("0190f1a2-b000-7000-8000-000000000001").unwrap();
        assert!(!old.minted_within(minute), "minted in 2024");
        assert!(
            !KeyId::from_uuid(Uuid::new_v4()).minted_within(minute),
            "no time in a v4"
        );
    }

    #[test]
    fn product_ids_round_trip() {
        let id = ProductId::new();
        assert_eq!(ProductId::parse(&id.to_string()).unwrap(), id);
        assert!(ProductId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("scan-2026-11-22-0001").is_ok());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }
}
