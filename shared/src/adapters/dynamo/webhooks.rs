//! Webhooks and their deliveries in the accounts table:
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `S#<store_id>` | `W#<webhook_id>` | a webhook |
//! | `S#<store_id>` | `WD#<webhook_id>#<place>` | a delivery (`place`: the event's time in ms, 15 digits, `#`, the delivery's id; TTL 30 days) |
//!
//! A pending delivery also carries `delivery_due` (`due#0` to `due#3`, by its id, so the
//! index's writes spread over 4 partitions) and `due_sort` (`<due ms, 15 digits>#<delivery
//! id>`), the keys of the sparse `due-deliveries` index: the sweep reads the due ones of each
//! partition and nothing else; a delivered or parked delivery drops them.
//!
//! Units (`make bench-inventory`): a webhook made, 1 write; an event delivered at once, 2 reads
//! and 7 writes (the webhooks read; the delivery made, held and delivered, each with its index
//! entry); a failed attempt about 10 writes (the index entry moves with the due time). A sweep
//! reads 0.5 units per 4 KB of due deliveries in each of the 4 partitions.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure};

use super::accounts::{keyed, store_pk};
use super::{DynamoStore, Item, from_item, get_n, n, s, sdk_err};
use crate::adapters::records::{delivery_due, delivery_place, time_place};
use crate::domain::webhook::DELIVERIES_KEPT;
use crate::domain::{Delivery, StoreId, Timestamp, Webhook, WebhookId};
use crate::ports::{Continuation, Page, PageQuery, StorageError, StorageResult, WebhookStore};

/// The sparse index of pending deliveries, by when they are due.
pub const DUE_INDEX: &str = "due-deliveries";
/// Partitions of the due index.
const DUE_PARTITIONS: u8 = 4;

fn due_partition(n: u8) -> String {
    format!("due#{n}")
}

fn webhook_sk(id: &WebhookId) -> String {
    format!("W#{id}")
}

fn deliveries_prefix(webhook: &WebhookId) -> String {
    format!("WD#{webhook}#")
}

fn delivery_sk(d: &Delivery) -> String {
    format!("{}{}", deliveries_prefix(&d.webhook_id), delivery_place(d))
}

fn delivery_item(d: &Delivery) -> StorageResult<Item> {
    let mut item = keyed(d, store_pk(&d.store_id), delivery_sk(d))?;
    item.insert(
        "expires_epoch".into(),
        n(d.created_at.plus(DELIVERIES_KEPT).unix_seconds()),
    );
    if let Some(due) = delivery_due(d) {
        let n = d.delivery_id.as_bytes()[15] % DUE_PARTITIONS;
        item.insert("delivery_due".into(), s(due_partition(n)));
        item.insert("due_sort".into(), s(time_place(due, &d.delivery_id)));
    }
    Ok(item)
}

impl DynamoStore {
    /// Reads a query's items as `what`, counting its units.
    fn read_items<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        units: f64,
        items: Option<Vec<Item>>,
    ) -> StorageResult<Vec<T>> {
        self.meter.add(units, 0.0);
        items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item(what, i))
            .collect()
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn insert_webhook(&self, webhook: &Webhook) -> StorageResult<()> {
        let item = keyed(
            webhook,
            store_pk(&webhook.store_id),
            webhook_sk(&webhook.webhook_id),
        )?;
        self.put_new(item).await
    }

    async fn get_webhook(&self, store: &StoreId, id: &WebhookId) -> StorageResult<Option<Webhook>> {
        self.read_one(store_pk(store), &webhook_sk(id), true)
            .await?
            .map(|i| from_item("webhook", i))
            .transpose()
    }

    async fn webhooks_of(&self, store: &StoreId) -> StorageResult<Vec<Webhook>> {
        // At most MAX_WEBHOOKS items of a few hundred bytes: one page.
        let out = self
            .client
            .query()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :w)")
            .expression_attribute_values(":pk", s(store_pk(store)))
            .expression_attribute_values(":w", s("W#"))
            .send()
            .await
            .map_err(sdk_err)?;
        self.read_items(
            "webhook",
            super::read_units(out.consumed_capacity()),
            out.items,
        )
    }

    async fn delete_webhook(&self, store: &StoreId, id: &WebhookId) -> StorageResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key("pk", s(store_pk(store)))
            .key("sk", s(webhook_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match out {
            Ok(o) => {
                self.wrote(o.consumed_capacity());
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StorageError::NotFound)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn insert_delivery(&self, delivery: &Delivery) -> StorageResult<()> {
        self.put_new(delivery_item(delivery)?).await
    }

    async fn update_delivery(&self, next: &Delivery) -> StorageResult<()> {
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_item(Some(delivery_item(next)?))
            .condition_expression("version = :prev")
            .expression_attribute_values(":prev", n(next.version.saturating_sub(1)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => {
                self.wrote(o.consumed_capacity());
                Ok(())
            }
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(old) => Err(StorageError::VersionConflict {
                        current: get_n(old, "version").map(|v| v as u64),
                    }),
                    None => Err(StorageError::NotFound),
                },
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn deliveries_of(
        &self,
        store: &StoreId,
        webhook: &WebhookId,
        page: &PageQuery,
    ) -> StorageResult<Page<Delivery>> {
        let pk = store_pk(store);
        let prefix = deliveries_prefix(webhook);
        let start = match &page.after {
            Some(Continuation(sk)) if sk.starts_with(&prefix) => {
                Some(Item::from([("pk".into(), s(&pk)), ("sk".into(), s(sk))]))
            }
            Some(_) => return Err(StorageError::BadContinuation),
            None => None,
        };
        let out = self
            .client
            .query()
            .table_name(&self.tables.accounts)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .key_condition_expression("pk = :pk AND begins_with(sk, :d)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":d", s(&prefix))
            .scan_index_forward(false)
            .limit(page.limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_err)?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .map(|sk| Continuation(sk.clone()));
        let items = self.read_items(
            "delivery",
            super::read_units(out.consumed_capacity()),
            out.items,
        )?;
        Ok(Page { items, next })
    }

    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> StorageResult<Vec<Delivery>> {
        // Each partition's longest due, merged: the page is the `limit` longest due of all.
        let limit = limit.clamp(1, 1000);
        // `~` sorts after every id character: every delivery due at this millisecond.
        let until = time_place(now, &"~");
        let mut due: Vec<(String, Delivery)> = Vec::new();
        for n in 0..DUE_PARTITIONS {
            let out = self
                .client
                .query()
                .table_name(&self.tables.accounts)
                .index_name(DUE_INDEX)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .key_condition_expression("delivery_due = :due AND due_sort <= :now")
                .expression_attribute_values(":due", s(due_partition(n)))
                .expression_attribute_values(":now", s(&until))
                .limit(limit as i32)
                .send()
                .await
                .map_err(sdk_err)?;
            self.meter
                .add(super::read_units(out.consumed_capacity()), 0.0);
            for item in out.items.unwrap_or_default() {
                let sort = item
                    .get("due_sort")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                due.push((sort, from_item("delivery", item)?));
            }
        }
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.truncate(limit);
        Ok(due.into_iter().map(|(_, d)| d).collect())
    }
}
