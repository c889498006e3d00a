//! The inventory table: store items and the idempotency markers of stock operations.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use futures::{FutureExt, StreamExt};

use super::paging::{Fetch, collect_page, decode};
use super::{
    DynamoStore, Item, TxError, build_err, failed, from_item, get_n, get_s, n, s, sdk_err, to_item,
};
use crate::adapters::records::InventoryRecord;
use crate::domain::{
    Adjustment, InventoryDetails, InventoryItem, ProductId, Quantity, StoreId, Timestamp,
    inventory::OPERATION_TTL,
};
use crate::ports::{
    AdjustOutcome, BulkWrite, Expect, InventoryFilter, InventoryStore, MAX_BULK_READ, Page,
    PageQuery, StorageError, StorageResult,
};

use super::{BATCH_WRITE, WRITES_IN_FLIGHT};

const ITEM_PREFIX: &str = "I#";

fn item_sk(p: &ProductId) -> String {
    format!("{ITEM_PREFIX}{p}")
}

fn item_from(item: Item) -> StorageResult<InventoryItem> {
    from_item::<InventoryRecord>("inventory item", item)?.try_into()
}

/// Optional record attributes: absent in the record means removed from the item.
const OPTIONAL: &[&str] = &[
    "cost_paise",
    "selling_paise",
    "reorder_milli",
    "supplier",
    "location",
    "notes",
];

/// The stock change as update and condition expressions, shared by the plain and the
/// idempotent path. Returns (update, condition, values).
fn adjustment_expressions(a: &Adjustment) -> (String, String, Vec<(&'static str, AttributeValue)>) {
    let d = a.delta.to_minor();
    let min = (-d).max(0);
    let max = Quantity::MAX_MINOR - d.max(0);
    let mut values = vec![
        (":d", n(d)),
        (":one", n(1)),
        (":min", n(min)),
        (":max", n(max)),
        (":now", s(a.at.to_string())),
    ];
    let in_range = "quantity_milli >= :min AND quantity_milli <= :max";
    if a.create_if_missing && d >= 0 {
        values.push((":zero", n(0)));
        values.push((":pid", s(a.product_id.to_string())));
        values.push((":entity", s("item")));
        values.push((":empty", AttributeValue::L(vec![])));
        (
            "SET quantity_milli = if_not_exists(quantity_milli, :zero) + :d, version = if_not_exists(version, :zero) + :one, \
             last_updated = :now, product_id = :pid, entity = :entity, \
             custom_image_urls = if_not_exists(custom_image_urls, :empty)"
                .to_string(),
            format!("attribute_not_exists(sk) OR ({in_range})"),
            values,
        )
    } else {
        (
            "SET quantity_milli = quantity_milli + :d, version = version + :one, last_updated = :now".to_string(),
            format!("attribute_exists(sk) AND {in_range}"),
            values,
        )
    }
}

/// Why an adjustment's condition failed, from the item as it was.
fn adjustment_refused(a: &Adjustment, old: Option<&Item>) -> StorageError {
    match old.and_then(|i| get_n(i, "quantity_milli")) {
        None => StorageError::NotFound,
        Some(q) if a.delta.as_decimal().is_sign_negative() => match Quantity::from_minor(q) {
            Ok(available) => StorageError::InsufficientStock { available },
            Err(e) => StorageError::Corrupt(format!("inventory quantity: {e}")),
        },
        Some(_) => StorageError::QuantityOverflow,
    }
}

impl DynamoStore {
    async fn get_inventory_item(&self, store: &str, sk: String) -> StorageResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.inventory)
            .key("store_id", s(store))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    async fn adjust_plain(&self, a: &Adjustment) -> StorageResult<AdjustOutcome> {
        let (update, condition, values) = adjustment_expressions(a);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.inventory)
            .key("store_id", s(a.store_id.as_str()))
            .key("sk", s(item_sk(&a.product_id)))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(out) => {
                let item = item_from(out.attributes.unwrap_or_default())?;
                let created = item.version == 1;
                Ok(AdjustOutcome {
                    item,
                    replayed: false,
                    created,
                })
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Err(adjustment_refused(a, c.item()))
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn adjust_once(
        &self,
        a: &Adjustment,
        op: &crate::domain::Operation,
    ) -> StorageResult<AdjustOutcome> {
        let table = &self.tables.inventory;
        let store = a.store_id.as_str();
        let marker = Put::builder()
            .table_name(table)
            .item("store_id", s(store))
            .item("sk", s(format!("OP#{}", op.key)))
            .item("entity", s("operation"))
            .item("fingerprint", s(op.fingerprint.clone()))
            .item("expires_at", n(a.at.plus(OPERATION_TTL).unix_seconds()))
            // An expired marker may linger until DynamoDB's TTL sweep removes it.
            .condition_expression("attribute_not_exists(sk) OR expires_at < :now_s")
            .expression_attribute_values(":now_s", n(a.at.unix_seconds()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let (update, condition, values) = adjustment_expressions(a);
        let mut upd = Update::builder()
            .table_name(table)
            .key("store_id", s(store))
            .key("sk", s(item_sk(&a.product_id)))
            .update_expression(update)
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in values {
            upd = upd.expression_attribute_values(k, v);
        }
        let items = vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder()
                .update(upd.build().map_err(build_err)?)
                .build(),
        ];
        let replayed = match self.transact(items).await {
            Ok(_) => false,
            Err(TxError::Storage(e)) => return Err(e),
            Err(TxError::Canceled(reasons)) => {
                if let Some(old) = failed(reasons.first()) {
                    if old.and_then(|i| get_s(i, "fingerprint")) != Some(op.fingerprint.as_str()) {
                        return Err(StorageError::OperationKeyReused);
                    }
                    true
                } else if let Some(old) = failed(reasons.get(1)) {
                    return Err(adjustment_refused(a, old));
                } else {
                    return Err(StorageError::backend(format!(
                        "adjustment cancelled: {reasons:?}"
                    )));
                }
            }
        };
        // Transactions return no attributes: read the item back (strongly consistent).
        let item = self
            .get_inventory_item(store, item_sk(&a.product_id))
            .await?
            .ok_or(StorageError::NotFound)
            .and_then(item_from)?;
        let created = !replayed && item.version == 1;
        Ok(AdjustOutcome {
            item,
            replayed,
            created,
        })
    }
}

#[async_trait]
impl InventoryStore for DynamoStore {
    async fn get_many(
        &self,
        store: &StoreId,
        products: &[ProductId],
    ) -> StorageResult<Vec<InventoryItem>> {
        if products.len() > MAX_BULK_READ {
            return Err(StorageError::backend(format!(
                "get_many takes at most {MAX_BULK_READ} items"
            )));
        }
        let keys: Vec<Item> = products
            .iter()
            .map(|p| {
                Item::from([
                    ("store_id".to_string(), s(store.as_str())),
                    ("sk".to_string(), s(item_sk(p))),
                ])
            })
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for item in self.batch_get(&self.tables.inventory, keys).await? {
            out.push(item_from(item)?);
        }
        Ok(out)
    }

    async fn stocked_products(
        &self,
        store: &StoreId,
        limit: usize,
    ) -> StorageResult<Option<std::collections::HashSet<ProductId>>> {
        let mut out = std::collections::HashSet::new();
        let mut start = None;
        loop {
            // Keys only: a page holds thousands of them.
            let page = self
                .client
                .query()
                .table_name(&self.tables.inventory)
                .key_condition_expression("store_id = :s AND begins_with(sk, :prefix)")
                .expression_attribute_values(":s", s(store.as_str()))
                .expression_attribute_values(":prefix", s(ITEM_PREFIX))
                .projection_expression("sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items() {
                let sk = get_s(item, "sk").unwrap_or_default();
                let id = sk
                    .strip_prefix(ITEM_PREFIX)
                    .and_then(|id| ProductId::parse(id).ok());
                let Some(id) = id else {
                    return Err(StorageError::backend(format!("inventory key {sk:?}")));
                };
                out.insert(id);
            }
            if out.len() > limit {
                return Ok(None);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(Some(out));
            }
        }
    }

    async fn put_many(&self, items: &[InventoryItem]) -> StorageResult<BulkWrite> {
        let mut requests = Vec::with_capacity(items.len());
        for i in items {
            let record = InventoryRecord::new(
                &i.store_id,
                &i.product_id,
                &i.details,
                i.version,
                i.last_updated,
            );
            let mut attrs = to_item(&record)?;
            attrs.insert("sk".into(), s(item_sk(&i.product_id)));
            attrs.insert("entity".into(), s("item"));
            requests.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(attrs))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        let batches = super::batches(requests, BATCH_WRITE);
        let results: Vec<StorageResult<(f64, usize)>> = futures::stream::iter(
            batches
                .into_iter()
                .map(|b| self.write_batch(&self.tables.inventory, b)),
        )
        .buffer_unordered(WRITES_IN_FLIGHT)
        .collect()
        .await;
        let mut done = BulkWrite {
            written: items.len(),
            write_units: Some(0.0),
            requests: 0,
        };
        for r in results {
            let (units, sent) = r?;
            done.write_units = done.write_units.map(|w| w + units);
            done.requests += sent;
        }
        Ok(done)
    }

    async fn get(
        &self,
        store: &StoreId,
        product: &ProductId,
    ) -> StorageResult<Option<InventoryItem>> {
        self.get_inventory_item(store.as_str(), item_sk(product))
            .await?
            .map(item_from)
            .transpose()
    }

    async fn list(
        &self,
        store: &StoreId,
        filter: &InventoryFilter,
        page: &PageQuery,
    ) -> StorageResult<Page<InventoryItem>> {
        const ATTRS: &[&str] = &["store_id", "sk"];
        let after = page.after.as_ref().map(|c| decode(c, ATTRS)).transpose()?;
        // The cursor is sealed to this store already; refuse a foreign key all the same.
        if let Some(a) = &after
            && (get_s(a, "store_id") != Some(store.as_str())
                || !get_s(a, "sk").is_some_and(|k| k.starts_with(ITEM_PREFIX)))
        {
            return Err(StorageError::BadContinuation);
        }
        let (client, table, store_s) = (
            self.client.clone(),
            self.tables.inventory.clone(),
            store.to_string(),
        );
        let low_stock = filter.low_stock;
        let fetch: Fetch<'_> = Box::new(move |start, limit| {
            let (client, table, store_s) = (client.clone(), table.clone(), store_s.clone());
            async move {
                let mut q = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("store_id = :s AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":s", s(store_s))
                    .expression_attribute_values(":prefix", s(ITEM_PREFIX))
                    .set_exclusive_start_key(start)
                    .limit(limit);
                if low_stock {
                    q = q.filter_expression("quantity_milli <= reorder_milli");
                }
                let out = q.send().await.map_err(sdk_err)?;
                Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
            }
            .boxed()
        });
        let (items, next) = collect_page(fetch, after, ATTRS, page.limit, low_stock).await?;
        let items = items
            .into_iter()
            .map(item_from)
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    async fn put(
        &self,
        store: &StoreId,
        product: &ProductId,
        details: &InventoryDetails,
        expect: Expect,
        at: Timestamp,
    ) -> StorageResult<(InventoryItem, bool)> {
        // The version is assigned by the server (`if_not_exists(version, 0) + 1`); the 0 here is
        // dropped from the SET list below.
        let record = InventoryRecord::new(store, product, details, 0, at);
        let mut attrs = to_item(&record)?;
        let removes: Vec<&str> = OPTIONAL
            .iter()
            .copied()
            .filter(|f| !attrs.contains_key(*f))
            .collect();
        attrs.remove("store_id");
        attrs.remove("version");
        attrs.insert("entity".into(), s("item"));
        let mut sets = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.inventory)
            .key("store_id", s(store.as_str()))
            .key("sk", s(item_sk(product)));
        for (i, (name, value)) in attrs.into_iter().enumerate() {
            sets.push(format!("#a{i} = :a{i}"));
            req = req
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), value);
        }
        sets.push("version = if_not_exists(version, :zero) + :one".into());
        let mut update = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            let names: Vec<String> = (0..removes.len()).map(|i| format!("#r{i}")).collect();
            update.push_str(&format!(" REMOVE {}", names.join(", ")));
            for (name, attr) in names.into_iter().zip(removes) {
                req = req.expression_attribute_names(name, attr);
            }
        }
        req = req
            .update_expression(update)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = match expect {
            Expect::Anything => req,
            Expect::Absent => req.condition_expression("attribute_not_exists(sk)"),
            Expect::Version(v) => req
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        match req.send().await {
            Ok(out) => {
                let item = item_from(out.attributes.unwrap_or_default())?;
                let created = item.version == 1;
                Ok((item, created))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    Err(match (expect, c.item()) {
                        (Expect::Absent, _) => StorageError::AlreadyExists,
                        (_, old) => StorageError::VersionConflict {
                            current: old.and_then(|i| get_n(i, "version")).map(|v| v as u64),
                        },
                    })
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn delete(
        &self,
        store: &StoreId,
        product: &ProductId,
        expect_version: Option<u64>,
    ) -> StorageResult<()> {
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.tables.inventory)
            .key("store_id", s(store.as_str()))
            .key("sk", s(item_sk(product)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = match expect_version {
            None => req.condition_expression("attribute_exists(sk)"),
            Some(v) => req
                .condition_expression("attribute_exists(sk) AND version = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(c)) => {
                    Err(match c.item().and_then(|i| get_n(i, "version")) {
                        None => StorageError::NotFound,
                        Some(v) => StorageError::VersionConflict {
                            current: Some(v as u64),
                        },
                    })
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn adjust(&self, adjustment: &Adjustment) -> StorageResult<AdjustOutcome> {
        match &adjustment.operation {
            None => self.adjust_plain(adjustment).await,
            Some(op) => self.adjust_once(adjustment, op).await,
        }
    }
}
