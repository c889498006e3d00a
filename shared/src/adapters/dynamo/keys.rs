//! Integration keys in the accounts table: `S#<store_id>` / `K#<key_id>`, each key's fields as
//! attributes, its bucket as the number `bucket_full_at_ms`; a revoked key gets the table's
//! TTL (`expires_epoch`) [`REVOKED_KEYS_KEPT`] after its revocation.
//!
//! A keyed request costs one eventually consistent read (0.5 units) and, let through, one
//! write (1 unit) that takes from the bucket and sets `last_used_at` together. The write is
//! conditional and never needs the count it read to be current: a bucket that is not full gets
//! `bucket_full_at_ms + interval` while that stays under the limit, so requests racing on one
//! key each add their interval instead of refusing each other; only a full bucket (idle key) is
//! set to `now + interval`. A refused write returns the item, which says why (revoked, empty,
//! or the other case), so a second write is needed only when the guess was wrong.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure};

use super::accounts::{keyed, store_pk};
use super::{DynamoStore, from_item, get_n, n, s, sdk_err};
use crate::domain::{ApiKey, KeyId, StoreId, Take, Timestamp};
use crate::ports::{KeyStore, KeyUse, REVOKED_KEYS_KEPT, StorageError, StorageResult};

fn key_sk(id: &KeyId) -> String {
    format!("K#{id}")
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn insert_key(&self, key: &ApiKey) -> StorageResult<()> {
        let item = keyed(key, store_pk(&key.store_id), key_sk(&key.key_id))?;
        self.put_new(item).await
    }

    async fn get_key(
        &self,
        store: &StoreId,
        id: &KeyId,
        consistent: bool,
    ) -> StorageResult<Option<ApiKey>> {
        self.read_one(store_pk(store), &key_sk(id), consistent)
            .await?
            .map(|i| from_item("key", i))
            .transpose()
    }

    async fn keys_of(&self, store: &StoreId) -> StorageResult<Vec<ApiKey>> {
        // Every page: at most 20 live keys and those revoked in the last 90 days (TTL), so
        // one page (1 MB, thousands of keys) in practice.
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.accounts)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .consistent_read(true)
                .scan_index_forward(false)
                .key_condition_expression("pk = :pk AND begins_with(sk, :k)")
                .expression_attribute_values(":pk", s(store_pk(store)))
                .expression_attribute_values(":k", s("K#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            self.meter
                .add(super::read_units(out.consumed_capacity()), 0.0);
            for item in out.items.unwrap_or_default() {
                keys.push(from_item("key", item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    async fn revoke_key(&self, store: &StoreId, id: &KeyId, at: Timestamp) -> StorageResult<()> {
        self.revoke_once(
            store_pk(store),
            key_sk(id),
            "SET revoked_at = :at, expires_epoch = :gone",
            &[
                (":at", s(at.to_string())),
                (":gone", n(at.plus(REVOKED_KEYS_KEPT).unix_seconds())),
            ],
        )
        .await
    }

    async fn use_key(&self, key: &ApiKey, at: Timestamp) -> StorageResult<KeyUse> {
        let bucket = key.bucket();
        let now = at.unix_millis();
        let mut full_at = key.bucket_full_at_ms;
        for _ in 0..4 {
            let req = self
                .client
                .update_item()
                .table_name(&self.tables.accounts)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .key("pk", s(store_pk(&key.store_id)))
                .key("sk", s(key_sk(&key.key_id)))
                .expression_attribute_values(":at", s(at.to_string()))
                .expression_attribute_values(":now", n(now))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let req = match full_at {
                // Not full: add an interval, while the bucket still lets a request through.
                Some(f) if f > now => req
                    .update_expression(
                        "SET bucket_full_at_ms = bucket_full_at_ms + :i, last_used_at = :at",
                    )
                    .condition_expression(
                        "attribute_not_exists(revoked_at) AND bucket_full_at_ms > :now AND bucket_full_at_ms <= :until",
                    )
                    .expression_attribute_values(":i", n(bucket.interval_ms))
                    .expression_attribute_values(":until", n(bucket.admits_until(now))),
                // Full, or never used: one interval from now.
                _ => req
                    .update_expression("SET bucket_full_at_ms = :next, last_used_at = :at")
                    .condition_expression(
                        "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND (attribute_not_exists(bucket_full_at_ms) OR bucket_full_at_ms <= :now)",
                    )
                    .expression_attribute_values(":next", n(now + bucket.interval_ms)),
            };
            let old = match req.send().await {
                Ok(out) => {
                    self.wrote(out.consumed_capacity());
                    return Ok(KeyUse::Admitted);
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => return Err(sdk_err(e)),
                },
            };
            let Some(old) = old else {
                return Err(StorageError::NotFound);
            };
            if old.contains_key("revoked_at") {
                return Ok(KeyUse::Revoked);
            }
            full_at = get_n(&old, "bucket_full_at_ms");
            if let Take::Wait(ms) = bucket.take(full_at, now) {
                return Ok(KeyUse::Wait(ms));
            }
        }
        Err(StorageError::Unavailable(
            "a key's rate limit kept changing under this request".into(),
        ))
    }
}
