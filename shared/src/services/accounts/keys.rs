//! A store's integration keys: an owner makes one with the scopes a program needs (the key is
//! shown once), lists them and revokes one. Every request that carries a key is checked here:
//! the key itself, its scopes against the route's, and its rate limit, in that order, so that a
//! refused request writes nothing.

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::secrets::{integration_key, parse_integration_key, random_secret};
use super::{Accounts, sign_in_error, storage};
use crate::auth::{Forbidden, Principal, Role};
use crate::domain::key::MAX_KEYS;
use crate::domain::{ApiKey, KeyId, KeyScope, StoreId, Timestamp};
use crate::ports::{KeyUse, REVOKED_KEYS_KEPT, StorageError, StorageResult};
use crate::services::{ServiceError, ServiceResult};

/// How long after it is made a key may not be in an eventually consistent read yet.
const FRESH_KEY: time::Duration = time::Duration::minutes(1);

/// A key to make, its fields checked by the edge.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scopes: BTreeSet<KeyScope>,
    pub requests_per_minute: u32,
}

/// A store's integration key as its owners see it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    pub key_id: KeyId,
    pub store_id: StoreId,
    pub name: String,
    pub scopes: Vec<KeyScope>,
    /// Its rate limit: this many requests a minute, in bursts of up to a sixth of it (at
    /// least 10).
    pub requests_per_minute: u32,
    /// `active` or `revoked`.
    #[schema(pattern = "^(active|revoked)$")]
    pub status: &'static str,
    pub created_by: String,
    pub created_at: Timestamp,
    /// Its last request that was let through.
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A new key and its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: KeyView,
    /// `kck_...`: the program sends it as `Authorization: Bearer <secret>`. Only its MAC is
    /// kept, so a lost key cannot be shown again: revoke it and make another.
    pub secret: String,
}

impl Accounts {
    /// An owner (or an admin) makes a key for the store.
    pub async fn create_key(
        &self,
        who: &Principal,
        store: &StoreId,
        new: NewKey,
    ) -> ServiceResult<CreatedKey> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        self.existing_store(store).await?;
        let live = self
            .store
            .keys_of(store)
            .await
            .map_err(storage)?
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count();
        if live >= MAX_KEYS {
            return Err(ServiceError::Conflict {
                code: "too_many_keys",
                detail: format!(
                    "store {store} has {live} integration keys, the most it may have; revoke one first"
                ),
            });
        }
        let key_id = KeyId::new();
        let secret = random_secret()?;
        let key = ApiKey {
            key_id,
            store_id: store.clone(),
            name: new.name,
            scopes: new.scopes,
            requests_per_minute: new.requests_per_minute,
            secret_mac: self.key_mac(store, &key_id, &secret),
            created_by: who.sub.clone(),
            created_at: Timestamp::now(),
            last_used_at: None,
            revoked_at: None,
            bucket_full_at_ms: None,
        };
        self.store.insert_key(&key).await.map_err(storage)?;
        tracing::info!(store = %store, key = %key_id, by = %who.sub, "integration key made");
        Ok(CreatedKey {
            secret: integration_key(store, &key_id, &secret),
            key: key_view(&key),
        })
    }

    /// The store's keys, oldest first (revoked ones for [`REVOKED_KEYS_KEPT`]): admins and the
    /// store's owners.
    pub async fn list_keys(&self, who: &Principal, store: &StoreId) -> ServiceResult<Vec<KeyView>> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        let now = Timestamp::now();
        let mut keys = self.store.keys_of(store).await.map_err(storage)?;
        // Storage deletes a revoked key in its own time; the listing stops at the promise.
        keys.retain(|k| k.revoked_at.is_none_or(|r| now < r.plus(REVOKED_KEYS_KEPT)));
        keys.sort_by_key(|k| (k.created_at, k.key_id));
        Ok(keys.iter().map(key_view).collect())
    }

    /// Revokes a key: its next request is refused (`key_revoked`).
    pub async fn revoke_key(
        &self,
        who: &Principal,
        store: &StoreId,
        id: &KeyId,
    ) -> ServiceResult<()> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        match self.store.revoke_key(store, id, Timestamp::now()).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => {
                return Err(ServiceError::NotFound {
                    what: "key",
                    id: id.to_string(),
                });
            }
            Err(e) => return Err(storage(e)),
        }
        tracing::info!(store = %store, key = %id, by = %who.sub, "integration key revoked");
        Ok(())
    }

    /// The caller behind an integration key on a route that `reaches` (the scopes that may
    /// call it; none: no key may): the key's store's owner, limited by the edge to those
    /// routes. Takes one request from the key's bucket.
    pub async fn authenticate_key(
        &self,
        text: &str,
        reaches: &[KeyScope],
    ) -> ServiceResult<Principal> {
        let invalid = || {
            sign_in_error(
                "key_invalid",
                "the integration key is not good (mistyped, or not one of its store's keys)",
            )
        };
        let revoked = || {
            sign_in_error(
                "key_revoked",
                "the integration key was revoked; ask the store's owner for a new one",
            )
        };
        // A route no key reaches refuses every key without looking it up: a made-up key costs
        // nothing, and a function without the accounts table's permissions never reads it.
        if reaches.is_empty() {
            return Err(Forbidden::KeyScope(
                "integration keys cannot call this route; it needs a person's or a device's sign-in"
                    .into(),
            )
            .into());
        }
        let (store, id, secret) = parse_integration_key(text).ok_or_else(invalid)?;
        let key = self.read_key(&store, &id).await?.ok_or_else(invalid)?;
        let parts = key_parts(&store, &id, secret);
        if !self.secrets.verify("key", &parts, &key.secret_mac) {
            return Err(invalid());
        }
        if key.revoked_at.is_some() {
            return Err(revoked());
        }
        if !reaches.iter().any(|s| key.scopes.contains(s)) {
            return Err(Forbidden::KeyScope(format!(
                "this route needs a key with the scope {}; this key has {}",
                join(reaches.iter()),
                join(key.scopes.iter()),
            ))
            .into());
        }
        match self.take_request(&key).await {
            Ok(KeyUse::Admitted) => {}
            Ok(KeyUse::Revoked) => return Err(revoked()),
            Ok(KeyUse::Wait(ms)) => {
                let bucket = key.bucket();
                let wait = std::time::Duration::from_millis(ms.max(1).unsigned_abs());
                return Err(ServiceError::RateLimited {
                    detail: format!(
                        "this key may make {} requests a minute, in bursts of {}; try again in {:.1} s",
                        key.requests_per_minute,
                        bucket.capacity,
                        wait.as_secs_f64()
                    ),
                    retry_after: wait,
                });
            }
            Err(StorageError::NotFound) => return Err(invalid()),
            Err(e) => return Err(storage(e)),
        }
        Ok(Principal {
            sub: format!("key:{id}"),
            role: Role::StoreOwner,
            stores: [store].into(),
            request_id: None,
        })
    }

    /// Takes one request from the key's bucket. Its time is read before the write, so a
    /// request racing others of the same key can be counted at a moment before theirs were
    /// and refused by no more than the time its own check took: such a refusal is checked
    /// again at the current time (a real check each time: nothing beyond the rate gets
    /// through).
    async fn take_request(&self, key: &ApiKey) -> StorageResult<KeyUse> {
        let (mut at, mut again) = (Timestamp::now(), 2);
        loop {
            let used = self.store.use_key(key, at).await?;
            let KeyUse::Wait(ms) = used else {
                return Ok(used);
            };
            let now = Timestamp::now();
            if again == 0 || now.unix_millis() - at.unix_millis() < ms {
                return Ok(used);
            }
            (at, again) = (now, again - 1);
        }
    }

    /// The key as stored: an eventually consistent read (half the units), and a consistent
    /// one only when that found nothing for a key made in the last minute (its program may
    /// use it at once; a made-up id costs one read).
    async fn read_key(&self, store: &StoreId, id: &KeyId) -> ServiceResult<Option<ApiKey>> {
        let found = self
            .store
            .get_key(store, id, false)
            .await
            .map_err(storage)?;
        if found.is_some() || !id.minted_within(FRESH_KEY) {
            return Ok(found);
        }
        self.store.get_key(store, id, true).await.map_err(storage)
    }

    fn key_mac(&self, store: &StoreId, id: &KeyId, secret: &str) -> String {
        self.secrets.mac("key", &key_parts(store, id, secret))
    }
}

fn key_parts(store: &StoreId, id: &KeyId, secret: &str) -> [Vec<u8>; 3] {
    [
        store.as_str().as_bytes().to_vec(),
        id.to_string().into_bytes(),
        secret.as_bytes().to_vec(),
    ]
}

fn join<'a>(scopes: impl Iterator<Item = &'a KeyScope>) -> String {
    scopes
        .map(KeyScope::as_str)
        .collect::<Vec<_>>()
        .join(" or ")
}

fn key_view(k: &ApiKey) -> KeyView {
    KeyView {
        key_id: k.key_id,
        store_id: k.store_id.clone(),
        name: k.name.clone(),
        scopes: k.scopes.iter().copied().collect(),
        requests_per_minute: k.requests_per_minute,
        status: if k.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        },
        created_by: k.created_by.clone(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    }
}
