//! The accounts table: one table, keyed `pk`/`sk`, each record's fields as attributes.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `U#<user_id>` | `USER` | a user |
//! | `PH#<phone>` | `USER` | the phone's guard (`user_id`), written with the user: a phone names one user |
//! | `PH#<phone>` | `CODE` | the last sign-in code sent to it (TTL) |
//! | `S#<store_id>` | `STORE` | a store |
//! | `S#<store_id>` | `M#<user_id>` | a membership, as the store's member list reads it |
//! | `U#<user_id>` | `M#<store_id>` | the same membership, as the user's token reads it |
//! | `S#<store_id>` | `D#<device_id>` | a store's device (paired, pending or revoked) |
//! | `SE#<session_id>` | `SESSION` | a session (refresh-token family; TTL) |
//! | `RL#<key>` | `W` | a request counter's current window (TTL) |
//! | `S#<store_id>` | `K#<key_id>` | a store's integration key (`keys`) |
//!
//! `expires_epoch` (seconds) is the table's TTL attribute: DynamoDB deletes an expired code,
//! session or counter within days, so every read also checks the time itself.
//! Write units: a user 2 (transaction of 2 items, x2 for the transaction), a store 6, a
//! membership 4, a code 1, an attempt 1, a counted request 1, a session 1 per write.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, Put, ReturnConsumedCapacity, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::{
    DynamoStore, Item, TxError, build_err, from_item, get_n, get_s, n, s, sdk_err, to_item,
};
use crate::domain::{
    Device, DeviceId, Membership, Phone, Session, SessionId, SignInCode, Store, StoreId, Timestamp,
    User, UserId,
};
use crate::ports::{
    AccountStore, MAX_DEVICE_RECORDS, MAX_MEMBERSHIPS, StorageError, StorageResult,
};

pub(super) fn keyed<T: serde::Serialize>(
    record: &T,
    pk: String,
    sk: String,
) -> StorageResult<Item> {
    let mut item = to_item(record)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    Ok(item)
}

fn expiring(mut item: Item, at: Timestamp) -> Item {
    item.insert("expires_epoch".into(), n(at.unix_seconds()));
    item
}

fn user_pk(id: &UserId) -> String {
    format!("U#{id}")
}

pub(super) fn store_pk(id: &StoreId) -> String {
    format!("S#{id}")
}

fn phone_pk(p: &Phone) -> String {
    format!("PH#{}", p.as_str())
}

fn session_pk(id: &SessionId) -> String {
    format!("SE#{id}")
}

fn put(table: &str, item: Item, condition: Option<&str>) -> StorageResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn membership_items(table: &str, m: &Membership) -> StorageResult<[TransactWriteItem; 2]> {
    Ok([
        put(
            table,
            keyed(m, store_pk(&m.store_id), format!("M#{}", m.user_id))?,
            None,
        )?,
        put(
            table,
            keyed(m, user_pk(&m.user_id), format!("M#{}", m.store_id))?,
            None,
        )?,
    ])
}

fn is_conditional_put(e: &aws_sdk_dynamodb::error::SdkError<PutItemError>) -> bool {
    matches!(
        e.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
}

fn is_conditional_update(e: &aws_sdk_dynamodb::error::SdkError<UpdateItemError>) -> bool {
    matches!(
        e.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}

impl DynamoStore {
    async fn get_one(&self, pk: String, sk: &str) -> StorageResult<Option<Item>> {
        self.read_one(pk, sk, true).await
    }

    /// One item of the accounts table; `consistent` for a strongly consistent read (twice the
    /// units of an eventually consistent one).
    pub(super) async fn read_one(
        &self,
        pk: String,
        sk: &str,
        consistent: bool,
    ) -> StorageResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter
            .add(super::read_units(out.consumed_capacity()), 0.0);
        Ok(out.item)
    }

    /// The memberships under `pk` (a user's or a store's).
    async fn memberships_under(&self, pk: String) -> StorageResult<Vec<Membership>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":m", s("M#"))
            .limit(MAX_MEMBERSHIPS as i32)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter
            .add(super::read_units(out.consumed_capacity()), 0.0);
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item("membership", i))
            .collect()
    }

    /// Sets fields of an existing user (one UpdateItem, so a change never overwrites another
    /// with a stale copy of the record); the user after.
    async fn set_user_fields(
        &self,
        id: &UserId,
        update: &str,
        values: &[(&str, AttributeValue)],
    ) -> StorageResult<Item> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(user_pk(id)))
            .key("sk", s("USER"))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        for (name, value) in values {
            req = req.expression_attribute_values(*name, value.clone());
        }
        match req.send().await {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(out.attributes.unwrap_or_default())
            }
            Err(e) if is_conditional_update(&e) => Err(StorageError::NotFound),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Writes an item that must not exist yet; `AlreadyExists` when it does.
    pub(super) async fn put_new(&self, item: Item) -> StorageResult<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match r {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(())
            }
            Err(e) if is_conditional_put(&e) => Err(StorageError::AlreadyExists),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Marks a store's item (a device, a key) revoked with `update`, once: an item revoked
    /// already stays as it was; `NotFound` when there is no such item.
    pub(super) async fn revoke_once(
        &self,
        pk: String,
        sk: String,
        update: &str,
        values: &[(&str, AttributeValue)],
    ) -> StorageResult<()> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            req = req.expression_attribute_values(*name, value.clone());
        }
        match req.send().await {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(())
            }
            Err(e) => match e.as_service_error() {
                // Revoked already: as it was. No item: no such thing.
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    if c.item().is_some() {
                        Ok(())
                    } else {
                        Err(StorageError::NotFound)
                    }
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    /// Counts a write's units (what `bench-inventory` prints).
    pub(super) fn wrote(&self, consumed: Option<&ConsumedCapacity>) {
        let units = consumed.and_then(|c| c.capacity_units()).unwrap_or(0.0);
        self.meter.add(0.0, units);
    }

    async fn transact_or_exists(&self, items: Vec<TransactWriteItem>) -> StorageResult<()> {
        // `transact` counts its units itself.
        match self.transact(items).await {
            Ok(_) => Ok(()),
            Err(TxError::Canceled(reasons))
                if reasons
                    .iter()
                    .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
            {
                Err(StorageError::AlreadyExists)
            }
            // Throttled, or still conflicting after the retries: worth retrying later.
            Err(TxError::Canceled(reasons)) => Err(StorageError::Unavailable(
                format!(
                    "transaction cancelled: {:?}",
                    reasons.iter().map(|r| r.code()).collect::<Vec<_>>()
                )
                .into(),
            )),
            Err(TxError::Storage(e)) => Err(e),
        }
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn insert_user(&self, user: &User) -> StorageResult<()> {
        let table = &self.tables.accounts;
        let guard = {
            let mut i = Item::new();
            i.insert("pk".into(), s(phone_pk(&user.phone)));
            i.insert("sk".into(), s("USER"));
            i.insert("user_id".into(), s(user.user_id.to_string()));
            i
        };
        self.transact_or_exists(vec![
            put(
                table,
                keyed(user, user_pk(&user.user_id), "USER".into())?,
                Some("attribute_not_exists(pk)"),
            )?,
            put(table, guard, Some("attribute_not_exists(pk)"))?,
        ])
        .await
    }

    async fn get_user(&self, id: &UserId) -> StorageResult<Option<User>> {
        self.get_one(user_pk(id), "USER")
            .await?
            .map(|i| from_item("user", i))
            .transpose()
    }

    async fn user_by_phone(&self, phone: &Phone) -> StorageResult<Option<User>> {
        let Some(guard) = self.get_one(phone_pk(phone), "USER").await? else {
            return Ok(None);
        };
        let id = get_s(&guard, "user_id")
            .and_then(|s| UserId::parse(s).ok())
            .ok_or_else(|| StorageError::Corrupt(format!("the guard of {}", phone.masked())))?;
        self.get_user(&id).await
    }

    async fn end_sessions(&self, id: &UserId, at: Timestamp) -> StorageResult<()> {
        self.set_user_fields(
            id,
            "SET sessions_valid_after = :at",
            &[(":at", s(at.to_string()))],
        )
        .await
        .map(|_| ())
    }

    async fn set_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        at: Timestamp,
    ) -> StorageResult<User> {
        let item = if disabled {
            self.set_user_fields(
                id,
                "SET disabled = :d, sessions_valid_after = :at",
                &[
                    (":d", AttributeValue::Bool(true)),
                    (":at", s(at.to_string())),
                ],
            )
            .await?
        } else {
            self.set_user_fields(
                id,
                "SET disabled = :d",
                &[(":d", AttributeValue::Bool(false))],
            )
            .await?
        };
        from_item("user", item)
    }

    async fn insert_store(&self, store: &Store, owner: &Membership) -> StorageResult<()> {
        let table = &self.tables.accounts;
        let mut items = vec![put(
            table,
            keyed(store, store_pk(&store.store_id), "STORE".into())?,
            Some("attribute_not_exists(pk)"),
        )?];
        items.extend(membership_items(table, owner)?);
        self.transact_or_exists(items).await
    }

    async fn get_store(&self, id: &StoreId) -> StorageResult<Option<Store>> {
        self.get_one(store_pk(id), "STORE")
            .await?
            .map(|i| from_item("store", i))
            .transpose()
    }

    async fn put_membership(&self, membership: &Membership) -> StorageResult<()> {
        let items = membership_items(&self.tables.accounts, membership)?;
        self.transact_or_exists(items.into()).await
    }

    async fn memberships_of(&self, user: &UserId) -> StorageResult<Vec<Membership>> {
        self.memberships_under(user_pk(user)).await
    }

    async fn members_of(&self, store: &StoreId) -> StorageResult<Vec<Membership>> {
        self.memberships_under(store_pk(store)).await
    }

    async fn put_code(&self, code: &SignInCode) -> StorageResult<()> {
        let item = expiring(
            keyed(code, phone_pk(&code.phone), "CODE".into())?,
            code.expires_at,
        );
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_err)?;
        self.wrote(out.consumed_capacity());
        Ok(())
    }

    async fn spend_code_attempt(
        &self,
        phone: &Phone,
        now: Timestamp,
    ) -> StorageResult<Option<SignInCode>> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(phone_pk(phone)))
            .key("sk", s("CODE"))
            .update_expression("SET attempts_left = attempts_left - :one")
            .condition_expression("attempts_left > :zero AND expires_epoch > :now")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now.unix_seconds()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                let code: SignInCode =
                    from_item("sign-in code", out.attributes.unwrap_or_default())?;
                // The TTL attribute is whole seconds; the code's own time is exact.
                Ok((!code.is_expired(now)).then_some(code))
            }
            Err(e) if is_conditional_update(&e) => Ok(None),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn delete_code(&self, code: &SignInCode) -> StorageResult<bool> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(phone_pk(&code.phone)))
            .key("sk", s("CODE"))
            .condition_expression("attribute_exists(pk) AND sent_at = :sent")
            .expression_attribute_values(":sent", s(code.sent_at.to_string()))
            .send()
            .await;
        match r {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn count_request(
        &self,
        key: &str,
        window_end: Timestamp,
        limit: u32,
    ) -> StorageResult<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let end = window_end.unix_seconds();
        let pk = format!("RL#{key}");
        // One conditional write in the usual case: count in this window while under the limit.
        // A refused write says why (the old item): this window is full (refused), or the item
        // is an earlier window's, which starts again at 1 (a second conditional write; if a
        // racing request started it first, count in it).
        for _ in 0..3 {
            let r = self
                .client
                .update_item()
                .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .key("pk", s(pk.clone()))
                .key("sk", s("W"))
                .update_expression(
                    "SET request_count = if_not_exists(request_count, :zero) + :one, expires_epoch = :end",
                )
                .condition_expression(
                    "attribute_not_exists(pk) OR (expires_epoch = :end AND request_count < :limit)",
                )
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":end", n(end))
                .expression_attribute_values(":limit", n(limit))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match r {
                Ok(out) => {
                    self.wrote(out.consumed_capacity());
                    return Ok(true);
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => return Err(sdk_err(e)),
                },
            };
            match old.as_ref().and_then(|i| get_n(i, "expires_epoch")) {
                Some(e) if e == end => return Ok(false),
                // Another instance's clock is in a later window already: let it through.
                Some(e) if e > end => return Ok(true),
                _ => {}
            }
            let r = self
                .client
                .update_item()
                .table_name(&self.tables.accounts)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .key("pk", s(pk.clone()))
                .key("sk", s("W"))
                .update_expression("SET request_count = :one, expires_epoch = :end")
                .condition_expression("expires_epoch < :end")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":end", n(end))
                .send()
                .await;
            match r {
                Ok(out) => {
                    self.wrote(out.consumed_capacity());
                    return Ok(true);
                }
                Err(e) if is_conditional_update(&e) => continue,
                Err(e) => return Err(sdk_err(e)),
            }
        }
        Err(StorageError::Unavailable(
            "a request counter kept changing under this request".into(),
        ))
    }

    async fn insert_session(&self, session: &Session) -> StorageResult<()> {
        let item = expiring(
            keyed(session, session_pk(&session.session_id), "SESSION".into())?,
            session.expires_at,
        );
        self.put_new(item).await
    }

    async fn get_session(&self, id: &SessionId) -> StorageResult<Option<Session>> {
        self.get_one(session_pk(id), "SESSION")
            .await?
            .map(|i| from_item("session", i))
            .transpose()
    }

    async fn rotate_session(&self, next: &Session, previous_mac: &str) -> StorageResult<()> {
        let item = expiring(
            keyed(next, session_pk(&next.session_id), "SESSION".into())?,
            next.expires_at,
        );
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_item(Some(item))
            .condition_expression("secret_mac = :prev AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":prev", s(previous_mac))
            .send()
            .await;
        match r {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(())
            }
            Err(e) if is_conditional_put(&e) => {
                Err(StorageError::VersionConflict { current: None })
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn insert_device(&self, device: &Device) -> StorageResult<()> {
        let item = keyed(
            device,
            store_pk(&device.store_id),
            format!("D#{}", device.device_id),
        )?;
        self.put_new(item).await
    }

    async fn get_device(&self, store: &StoreId, id: &DeviceId) -> StorageResult<Option<Device>> {
        self.get_one(store_pk(store), &format!("D#{id}"))
            .await?
            .map(|i| from_item("device", i))
            .transpose()
    }

    async fn devices_of(&self, store: &StoreId) -> StorageResult<Vec<Device>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .consistent_read(true)
            // Newest first: past the limit, the oldest (revoked, expired) records drop.
            .scan_index_forward(false)
            .key_condition_expression("pk = :pk AND begins_with(sk, :d)")
            .expression_attribute_values(":pk", s(store_pk(store)))
            .expression_attribute_values(":d", s("D#"))
            .limit(MAX_DEVICE_RECORDS as i32)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter
            .add(super::read_units(out.consumed_capacity()), 0.0);
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item("device", i))
            .collect()
    }

    async fn pair_device(
        &self,
        store: &StoreId,
        id: &DeviceId,
        pairing_mac: &str,
        session: &SessionId,
        at: Timestamp,
    ) -> StorageResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(store_pk(store)))
            .key("sk", s(format!("D#{id}")))
            .update_expression("SET paired_at = :at, session_id = :session REMOVE pairing_mac")
            .condition_expression(
                "pairing_mac = :mac AND attribute_not_exists(paired_at) AND attribute_not_exists(revoked_at)",
            )
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":session", s(session.to_string()))
            .expression_attribute_values(":mac", s(pairing_mac))
            .send()
            .await;
        match r {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(())
            }
            Err(e) if is_conditional_update(&e) => {
                Err(StorageError::VersionConflict { current: None })
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn revoke_device(
        &self,
        store: &StoreId,
        id: &DeviceId,
        at: Timestamp,
    ) -> StorageResult<()> {
        self.revoke_once(
            store_pk(store),
            format!("D#{id}"),
            "SET revoked_at = :at REMOVE pairing_mac",
            &[(":at", s(at.to_string()))],
        )
        .await
    }

    async fn revoke_session(&self, id: &SessionId, at: Timestamp) -> StorageResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(session_pk(id)))
            .key("sk", s("SESSION"))
            .update_expression("SET revoked_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":at", s(at.to_string()))
            .send()
            .await;
        match r {
            Ok(out) => {
                self.wrote(out.consumed_capacity());
                Ok(())
            }
            Err(e) if is_conditional_update(&e) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
