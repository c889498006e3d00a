//! The inventory table: store items, their movements (the ledger) and the idempotency markers
//! of stock operations, all under the store's partition.
//!
//! A stock write reads the item (strongly consistent), plans the next item and its movement
//! (`adapters::stock`), and writes both in one transaction on the condition that the item is
//! still the version read; a write that lost the race reads again. That makes the movement's
//! position (the item's life and new version) exact and its before/after true, at 1 read and
//! 2 transactional writes a change (4 WCU for items and movements under 1 KB; 6 with an
//! idempotency key).

use async_trait::async_trait;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use futures::{FutureExt, StreamExt};

use super::paging::{Fetch, collect_page, decode};
use super::products::{merged_error, unmerged_check};
use super::{
    DynamoStore, Item, TxError, WRITES_IN_FLIGHT, build_err, failed, from_item, get_n, get_s,
    jitter, n, read_units, s, sdk_err, to_item,
};
use crate::adapters::records::{InventoryRecord, MovementRecord, category_path_key};
use crate::adapters::stock::{self, Planned};
use crate::domain::{
    Adjustment, InventoryItem, LedgerPosition, Movement, MovementOrigin, ProductId, StoreId,
    Timestamp, inventory::OPERATION_TTL,
};
use crate::ports::{
    AdjustOutcome, BulkWrite, Expect, InventoryFilter, InventoryOrder, InventorySort,
    InventoryStore, ItemMerge, MAX_BULK_READ, MergedItem, Page, PageQuery, PutOutcome,
    STOCK_WRITE_ATTEMPTS, SetItem, StockWrite, StorageError, StorageResult,
};

const ITEM_PREFIX: &str = "I#";
/// The attribute (the store id) that puts a movement in the `pending-alerts` index until its
/// alerts are announced.
const PENDING_ALERT: &str = "alert_pending";
/// A movement's key: `M#<product>#<ledger position>`, so one item's ledger is one key range.
const MOVEMENT_PREFIX: &str = "M#";
/// Actions per bulk transaction (DynamoDB's limit): each write puts the item and its movement,
/// and one that creates an item checks its product too.
const ACTIONS_PER_TRANSACTION: usize = 100;

fn item_sk(p: &ProductId) -> String {
    format!("{ITEM_PREFIX}{p}")
}

fn item_from(item: Item) -> StorageResult<InventoryItem> {
    from_item::<InventoryRecord>("inventory item", item)?.try_into()
}

fn movement_prefix(p: &ProductId) -> String {
    format!("{MOVEMENT_PREFIX}{p}#")
}

fn movement_sk(m: &Movement) -> String {
    format!("{}{}", movement_prefix(&m.product_id), m.position().key())
}

fn movement_from(item: Item) -> StorageResult<Movement> {
    from_item::<MovementRecord>("stock movement", item)?.try_into()
}

/// The item as stored, on the condition that it is still as `expect` says.
fn item_put(table: &str, item: &InventoryItem, expect: Expect) -> StorageResult<Put> {
    let mut attrs = to_item(&InventoryRecord::of(item))?;
    attrs.insert("sk".into(), s(item_sk(&item.product_id)));
    attrs.insert("entity".into(), s("item"));
    // The by-product index's key: which stores stock a product (only items carry it).
    attrs.insert("item_of".into(), s(item.product_id.to_string()));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(attrs))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    let put = match expect {
        Expect::Anything => put,
        Expect::Absent => put.condition_expression("attribute_not_exists(sk)"),
        Expect::Version(v) => put
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(v)),
    };
    put.build().map_err(build_err)
}

/// A movement, appended: its position is never taken twice. One that crossed a stock alert is
/// marked pending (the sparse `pending-alerts` index is the outbox of announcements).
fn movement_put(table: &str, m: &Movement) -> StorageResult<Put> {
    let mut attrs = to_item(&MovementRecord::from(m))?;
    attrs.insert("sk".into(), s(movement_sk(m)));
    attrs.insert("entity".into(), s("movement"));
    if !m.alerts.is_empty() {
        attrs.insert(PENDING_ALERT.into(), s(m.store_id.as_str()));
    }
    Put::builder()
        .table_name(table)
        .set_item(Some(attrs))
        .condition_expression("attribute_not_exists(sk)")
        .build()
        .map_err(build_err)
}

/// Whether `w` may create its item (and so checks its product is not merged).
fn creates(w: &StockWrite) -> bool {
    matches!(w.expect, Expect::Absent | Expect::Anything)
}

/// `writes` cut into transactions of at most [`ACTIONS_PER_TRANSACTION`] actions, in order.
fn transactions_of(writes: &[StockWrite]) -> Vec<Vec<StockWrite>> {
    let mut out: Vec<Vec<StockWrite>> = Vec::new();
    let mut actions = ACTIONS_PER_TRANSACTION;
    for w in writes {
        let cost = 1 + usize::from(w.movement.is_some()) + usize::from(creates(w));
        if actions + cost > ACTIONS_PER_TRANSACTION {
            out.push(Vec::new());
            actions = 0;
        }
        actions += cost;
        out.last_mut().expect("pushed").push(w.clone());
    }
    out
}

/// A Put as one action of a transaction.
fn put_action(put: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(put).build()
}

/// What the write of a planned change found.
enum Written {
    Done,
    /// The item (or the movement's position) changed since it was read: read and plan again.
    Changed,
    /// The operation key was used already (the marker as it is).
    KeyUsed(Option<Item>),
}

/// Waits a little before reading again after losing a race (more the more often it is lost).
async fn back_off(attempt: u32) {
    tokio::time::sleep(jitter(Duration::from_millis(4 << attempt.min(5)))).await;
}

fn too_busy(store: &StoreId, product: &ProductId) -> StorageError {
    StorageError::Unavailable(
        format!(
            "inventory item {store}/{product} kept changing: {STOCK_WRITE_ATTEMPTS} writes lost the race"
        )
        .into(),
    )
}

impl DynamoStore {
    async fn read_item(
        &self,
        store: &StoreId,
        product: &ProductId,
    ) -> StorageResult<Option<InventoryItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.inventory)
            .key("store_id", s(store.as_str()))
            .key("sk", s(item_sk(product)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter.add(read_units(out.consumed_capacity()), 0.0);
        out.item.map(item_from).transpose()
    }

    /// The life a new item of `product` starts at `at`: after the last one its ledger holds
    /// (one strongly consistent read of one key, only when the item does not exist).
    async fn new_life(
        &self,
        store: &StoreId,
        product: &ProductId,
        at: Timestamp,
    ) -> StorageResult<Timestamp> {
        let prefix = movement_prefix(product);
        let out = self
            .client
            .query()
            .table_name(&self.tables.inventory)
            .key_condition_expression("store_id = :s AND begins_with(sk, :prefix)")
            .expression_attribute_values(":s", s(store.as_str()))
            .expression_attribute_values(":prefix", s(prefix.clone()))
            .projection_expression("sk")
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter.add(read_units(out.consumed_capacity()), 0.0);
        let last = out
            .items()
            .first()
            .and_then(|i| get_s(i, "sk"))
            .and_then(|sk| sk.strip_prefix(prefix.as_str()))
            .and_then(LedgerPosition::parse_key)
            .map(|p| p.stocked_since);
        Ok(stock::new_life(at, last))
    }

    /// The item, then the life a change at `at` would give it.
    async fn read_for_write(
        &self,
        store: &StoreId,
        product: &ProductId,
        at: Timestamp,
    ) -> StorageResult<(Option<InventoryItem>, Timestamp)> {
        let current = self.read_item(store, product).await?;
        let life = match current {
            Some(_) => at,
            None => self.new_life(store, product, at).await?,
        };
        Ok((current, life))
    }

    /// Writes a planned change in one transaction: the operation marker (if any), the item
    /// if it is still the version read (or still absent), and its movement.
    async fn write_planned(
        &self,
        plan: &Planned,
        read: Option<&InventoryItem>,
        marker: Option<Put>,
    ) -> StorageResult<Written> {
        let table = &self.tables.inventory;
        let expect = read.map_or(Expect::Absent, |c| Expect::Version(c.version));
        let has_marker = marker.is_some();
        let mut items: Vec<TransactWriteItem> = marker.into_iter().map(put_action).collect();
        items.push(put_action(item_put(table, &plan.item, expect)?));
        if let Some(m) = &plan.movement {
            items.push(put_action(movement_put(table, m)?));
        }
        // A new item is stock of a product no merge may have swept already.
        let checked = read.is_none().then_some(items.len());
        if checked.is_some() {
            items.push(unmerged_check(
                &self.tables.products,
                &plan.item.product_id,
            )?);
        }
        match self.transact(items).await {
            Ok(_) => Ok(Written::Done),
            Err(TxError::Storage(e)) => Err(e),
            Err(TxError::Canceled(reasons)) => {
                if has_marker && let Some(old) = failed(reasons.first()) {
                    return Ok(Written::KeyUsed(old.cloned()));
                }
                if let Some(i) = checked
                    && let Some(old) = failed(reasons.get(i))
                {
                    return Err(merged_error(&plan.item.product_id, old));
                }
                if reasons.iter().any(|r| failed(Some(r)).is_some()) {
                    return Ok(Written::Changed);
                }
                Err(StorageError::Unavailable(
                    format!("stock write cancelled: {reasons:?}").into(),
                ))
            }
        }
    }

    /// The stored marker of `op`, if the key was used (and has not expired).
    async fn operation_marker(
        &self,
        store: &StoreId,
        op: &crate::domain::Operation,
        at: Timestamp,
    ) -> StorageResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.inventory)
            .key("store_id", s(store.as_str()))
            .key("sk", s(format!("OP#{}", op.key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter.add(read_units(out.consumed_capacity()), 0.0);
        Ok(out
            .item
            .filter(|i| get_n(i, "expires_at").is_none_or(|e| e >= at.unix_seconds())))
    }

    /// A used key's answer: the item as it is now, or `OperationKeyReused`.
    async fn replay(
        &self,
        a: &Adjustment,
        op: &crate::domain::Operation,
        marker: &Item,
    ) -> StorageResult<AdjustOutcome> {
        if get_s(marker, "fingerprint") != Some(op.fingerprint.as_str()) {
            return Err(StorageError::OperationKeyReused);
        }
        let item = self
            .read_item(&a.store_id, &a.product_id)
            .await?
            .ok_or(StorageError::NotFound)?;
        Ok(AdjustOutcome {
            item,
            replayed: true,
            created: false,
            movement: None,
        })
    }

    fn marker(&self, a: &Adjustment, op: &crate::domain::Operation) -> StorageResult<Put> {
        Put::builder()
            .table_name(&self.tables.inventory)
            .item("store_id", s(a.store_id.as_str()))
            .item("sk", s(format!("OP#{}", op.key)))
            .item("entity", s("operation"))
            .item("fingerprint", s(op.fingerprint.clone()))
            .item("expires_at", n(a.at.plus(OPERATION_TTL).unix_seconds()))
            // An expired marker may linger until DynamoDB's TTL sweep removes it.
            .condition_expression("attribute_not_exists(sk) OR expires_at < :now_s")
            .expression_attribute_values(":now_s", n(a.at.unix_seconds()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)
    }

    /// One transaction of a bulk write: the writes that still hold, retried without the ones
    /// found changed. Returns the units consumed, the requests sent and the conflicts.
    async fn write_chunk(
        &self,
        chunk: Vec<StockWrite>,
    ) -> StorageResult<(f64, usize, Vec<ProductId>)> {
        let table = &self.tables.inventory;
        let mut pending = chunk;
        let mut conflicts = Vec::new();
        let mut requests = 0;
        while !pending.is_empty() {
            // Per write, the index of its first action (the item; the movement follows), then
            // one check per product a write may create an item of.
            let mut items = Vec::with_capacity(pending.len() * 3);
            let mut first = Vec::with_capacity(pending.len());
            for w in &pending {
                first.push(items.len());
                items.push(put_action(item_put(table, &w.item, w.expect)?));
                if let Some(m) = &w.movement {
                    items.push(put_action(movement_put(table, m)?));
                }
            }
            let writes_end = items.len();
            let mut checked: Vec<ProductId> = pending
                .iter()
                .filter(|w| creates(w))
                .map(|w| w.item.product_id)
                .collect();
            checked.sort_unstable();
            checked.dedup();
            for p in &checked {
                items.push(unmerged_check(&self.tables.products, p)?);
            }
            requests += 1;
            match self.transact(items).await {
                Ok(units) => return Ok((units, requests, conflicts)),
                Err(TxError::Storage(e)) => return Err(e),
                Err(TxError::Canceled(reasons)) => {
                    let merged: Vec<ProductId> = checked
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| failed(reasons.get(writes_end + i)).is_some())
                        .map(|(_, p)| *p)
                        .collect();
                    let lost: Vec<usize> = first
                        .iter()
                        .enumerate()
                        .filter(|(i, start)| {
                            let end = first.get(i + 1).copied().unwrap_or(writes_end);
                            reasons[**start..end.min(reasons.len())]
                                .iter()
                                .any(|r| failed(Some(r)).is_some())
                                || (creates(&pending[*i])
                                    && merged.contains(&pending[*i].item.product_id))
                        })
                        .map(|(i, _)| i)
                        .collect();
                    if lost.is_empty() {
                        return Err(StorageError::Unavailable(
                            format!("bulk stock write cancelled: {reasons:?}").into(),
                        ));
                    }
                    for i in lost.iter().rev() {
                        conflicts.push(pending.remove(*i).item.product_id);
                    }
                }
            }
        }
        Ok((0.0, requests, conflicts))
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

    async fn put_many(&self, writes: &[StockWrite]) -> StorageResult<BulkWrite> {
        let chunks = transactions_of(writes);
        let results: Vec<StorageResult<(f64, usize, Vec<ProductId>)>> =
            futures::stream::iter(chunks.into_iter().map(|c| self.write_chunk(c)))
                .buffer_unordered(WRITES_IN_FLIGHT)
                .collect()
                .await;
        let mut done = BulkWrite {
            write_units: Some(0.0),
            ..Default::default()
        };
        for r in results {
            let (units, sent, conflicts) = r?;
            done.write_units = done.write_units.map(|w| w + units);
            done.requests += sent;
            done.conflicts.extend(conflicts);
        }
        done.written = writes.len() - done.conflicts.len();
        Ok(done)
    }

    async fn get(
        &self,
        store: &StoreId,
        product: &ProductId,
    ) -> StorageResult<Option<InventoryItem>> {
        self.read_item(store, product).await
    }

    async fn list(
        &self,
        store: &StoreId,
        filter: &InventoryFilter,
        order: InventoryOrder,
        page: &PageQuery,
    ) -> StorageResult<Page<InventoryItem>> {
        // The table in product id order; a store-partitioned index for every other order.
        let (index, sort_attr) = match order.by {
            InventorySort::ProductId => (None, None),
            InventorySort::Name => (Some("by-name"), Some("name_sort")),
            InventorySort::Updated => (Some("by-updated"), Some("updated_sort")),
            InventorySort::Quantity => (Some("by-quantity"), Some("qty_sort")),
        };
        let attrs: Vec<&str> = ["store_id", "sk"].into_iter().chain(sort_attr).collect();
        let after = page.after.as_ref().map(|c| decode(c, &attrs)).transpose()?;
        // The cursor is sealed to this store already; refuse a foreign key all the same.
        if let Some(a) = &after
            && (get_s(a, "store_id") != Some(store.as_str())
                || !get_s(a, "sk").is_some_and(|k| k.starts_with(ITEM_PREFIX)))
        {
            return Err(StorageError::BadContinuation);
        }
        let mut conditions = Vec::new();
        let mut values: Vec<(String, AttributeValue)> = Vec::new();
        if filter.low_stock {
            conditions.push("quantity_milli <= reorder_milli".to_string());
        }
        if filter.out_of_stock {
            conditions.push("quantity_milli = :zero".to_string());
            values.push((":zero".into(), n(0)));
        }
        for (i, w) in filter.words.iter().enumerate() {
            conditions.push(format!("contains(search_text, :w{i})"));
            values.push((format!(":w{i}"), s(w.clone())));
        }
        if let Some(cat) = &filter.category {
            conditions.push("begins_with(category_sort, :cat)".to_string());
            values.push((":cat".into(), s(category_path_key(cat))));
        }
        let filter_expression = (!conditions.is_empty()).then(|| conditions.join(" AND "));
        let (client, table, store_s, meter) = (
            self.client.clone(),
            self.tables.inventory.clone(),
            store.to_string(),
            self.meter.clone(),
        );
        let fetch: Fetch<'_> = Box::new(move |start, limit| {
            let (client, table, store_s) = (client.clone(), table.clone(), store_s.clone());
            let (filter_expression, values) = (filter_expression.clone(), values.clone());
            let meter = meter.clone();
            async move {
                let mut q = client
                    .query()
                    .table_name(table)
                    .set_index_name(index.map(str::to_string))
                    .expression_attribute_values(":s", s(store_s))
                    .scan_index_forward(!order.descending)
                    .set_exclusive_start_key(start)
                    .set_filter_expression(filter_expression)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .limit(limit);
                q = match index {
                    None => q
                        .key_condition_expression("store_id = :s AND begins_with(sk, :prefix)")
                        .expression_attribute_values(":prefix", s(ITEM_PREFIX)),
                    Some(_) => q.key_condition_expression("store_id = :s"),
                };
                for (k, v) in values {
                    q = q.expression_attribute_values(k, v);
                }
                let out = q.send().await.map_err(sdk_err)?;
                meter.add(read_units(out.consumed_capacity()), 0.0);
                Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
            }
            .boxed()
        });
        let (items, next) = collect_page(fetch, after, &attrs, page.limit, filter.is_set()).await?;
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
        set: &SetItem,
    ) -> StorageResult<PutOutcome> {
        for attempt in 0..STOCK_WRITE_ATTEMPTS {
            let (current, life) = self.read_for_write(store, product, set.at).await?;
            let plan = stock::replaced(store, product, set, current.as_ref(), life)?;
            match self.write_planned(&plan, current.as_ref(), None).await? {
                Written::Done => {
                    return Ok(PutOutcome {
                        item: plan.item,
                        created: plan.created,
                        movement: plan.movement,
                    });
                }
                // The next read says whether the expectation still holds.
                Written::Changed | Written::KeyUsed(_) => back_off(attempt).await,
            }
        }
        Err(too_busy(store, product))
    }

    async fn delete(
        &self,
        store: &StoreId,
        product: &ProductId,
        expect_version: Option<u64>,
        origin: &MovementOrigin,
        at: Timestamp,
    ) -> StorageResult<Movement> {
        let table = &self.tables.inventory;
        for attempt in 0..STOCK_WRITE_ATTEMPTS {
            let current = self.read_item(store, product).await?;
            let movement = stock::removed(current.as_ref(), expect_version, origin, at)?;
            let version = current.map_or(0, |c| c.version);
            let delete = Delete::builder()
                .table_name(table)
                .key("store_id", s(store.as_str()))
                .key("sk", s(item_sk(product)))
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version))
                .build()
                .map_err(build_err)?;
            let items = vec![
                TransactWriteItem::builder().delete(delete).build(),
                put_action(movement_put(table, &movement)?),
            ];
            match self.transact(items).await {
                Ok(_) => return Ok(movement),
                Err(TxError::Storage(e)) => return Err(e),
                Err(TxError::Canceled(reasons))
                    if reasons.iter().any(|r| failed(Some(r)).is_some()) =>
                {
                    back_off(attempt).await;
                }
                Err(TxError::Canceled(reasons)) => {
                    return Err(StorageError::Unavailable(
                        format!("removal cancelled: {reasons:?}").into(),
                    ));
                }
            }
        }
        Err(too_busy(store, product))
    }

    async fn adjust(&self, a: &Adjustment) -> StorageResult<AdjustOutcome> {
        let marker = a
            .operation
            .as_ref()
            .map(|op| self.marker(a, op))
            .transpose()?;
        for attempt in 0..STOCK_WRITE_ATTEMPTS {
            let (current, life) = self
                .read_for_write(&a.store_id, &a.product_id, a.at)
                .await?;
            let plan = match stock::adjusted(a, current.as_ref(), life) {
                Ok(plan) => plan,
                // A change refused now may be a retry of one that was applied.
                Err(refused) => {
                    if let Some(op) = &a.operation
                        && let Some(m) = self.operation_marker(&a.store_id, op, a.at).await?
                    {
                        return self.replay(a, op, &m).await;
                    }
                    return Err(refused);
                }
            };
            match self
                .write_planned(&plan, current.as_ref(), marker.clone())
                .await?
            {
                Written::Done => {
                    return Ok(AdjustOutcome {
                        item: plan.item,
                        replayed: false,
                        created: plan.created,
                        movement: plan.movement,
                    });
                }
                Written::Changed => back_off(attempt).await,
                Written::KeyUsed(m) => {
                    let op = a.operation.as_ref().expect("a marker has its operation");
                    return self.replay(a, op, &m.unwrap_or_default()).await;
                }
            }
        }
        Err(too_busy(&a.store_id, &a.product_id))
    }

    async fn stores_stocking(
        &self,
        product: &ProductId,
        limit: usize,
    ) -> StorageResult<Vec<StoreId>> {
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.tables.inventory)
                .index_name("by-product")
                .key_condition_expression("item_of = :p")
                .expression_attribute_values(":p", s(product.to_string()))
                .set_exclusive_start_key(start)
                .limit((limit - out.len()).min(1000) as i32)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(sdk_err)?;
            self.meter.add(read_units(page.consumed_capacity()), 0.0);
            for item in page.items() {
                let id = get_s(item, "store_id").unwrap_or_default();
                out.push(StoreId::parse(id).map_err(|e| {
                    StorageError::Corrupt(format!("inventory store id {id:?}: {e}"))
                })?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn merge_item(
        &self,
        store: &StoreId,
        merge: &ItemMerge,
    ) -> StorageResult<Option<MergedItem>> {
        let table = &self.tables.inventory;
        for attempt in 0..STOCK_WRITE_ATTEMPTS {
            let Some(from) = self.read_item(store, &merge.from).await? else {
                return Ok(None);
            };
            let (into, life) = self.read_for_write(store, &merge.into, merge.at).await?;
            let (gone, plan) = stock::merged(&from, into.as_ref(), merge, life)?;
            let delete = Delete::builder()
                .table_name(table)
                .key("store_id", s(store.as_str()))
                .key("sk", s(item_sk(&merge.from)))
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(from.version))
                .build()
                .map_err(build_err)?;
            let expect = into
                .as_ref()
                .map_or(Expect::Absent, |t| Expect::Version(t.version));
            let mut items = vec![
                TransactWriteItem::builder().delete(delete).build(),
                put_action(movement_put(table, &gone)?),
                put_action(item_put(table, &plan.item, expect)?),
            ];
            if let Some(m) = &plan.movement {
                items.push(put_action(movement_put(table, m)?));
            }
            let checked = into.is_none().then_some(items.len());
            if checked.is_some() {
                items.push(unmerged_check(&self.tables.products, &merge.into)?);
            }
            match self.transact(items).await {
                Err(TxError::Canceled(reasons))
                    if checked.is_some_and(|i| failed(reasons.get(i)).is_some()) =>
                {
                    let old = checked.and_then(|i| failed(reasons.get(i))).flatten();
                    return Err(merged_error(&merge.into, old));
                }
                Ok(_) => {
                    return Ok(Some(MergedItem {
                        item: plan.item,
                        moved: from.details.quantity,
                    }));
                }
                Err(TxError::Storage(e)) => return Err(e),
                Err(TxError::Canceled(reasons))
                    if reasons.iter().any(|r| failed(Some(r)).is_some()) =>
                {
                    back_off(attempt).await;
                }
                Err(TxError::Canceled(reasons)) => {
                    return Err(StorageError::Unavailable(
                        format!("item merge cancelled: {reasons:?}").into(),
                    ));
                }
            }
        }
        Err(too_busy(store, &merge.from))
    }

    async fn unannounced(&self, limit: usize) -> StorageResult<Vec<Movement>> {
        // A Scan of a sparse index: it holds only the movements not announced yet.
        let out = self
            .client
            .scan()
            .table_name(&self.tables.inventory)
            .index_name("pending-alerts")
            .limit(limit.clamp(1, 1000) as i32)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter.add(read_units(out.consumed_capacity()), 0.0);
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(movement_from)
            .collect()
    }

    async fn announced(&self, movements: &[Movement]) -> StorageResult<()> {
        for m in movements {
            let key = Item::from([
                ("store_id".to_string(), s(m.store_id.as_str())),
                ("sk".to_string(), s(movement_sk(m))),
            ]);
            self.take_out_of_outbox(&self.tables.inventory, key, "sk", PENDING_ALERT)
                .await?;
        }
        Ok(())
    }

    async fn movements(
        &self,
        store: &StoreId,
        product: &ProductId,
        page: &PageQuery,
    ) -> StorageResult<Page<Movement>> {
        const ATTRS: &[&str] = &["store_id", "sk"];
        let prefix = movement_prefix(product);
        let after = page.after.as_ref().map(|c| decode(c, ATTRS)).transpose()?;
        if let Some(a) = &after
            && (get_s(a, "store_id") != Some(store.as_str())
                || !get_s(a, "sk").is_some_and(|k| k.starts_with(&prefix)))
        {
            return Err(StorageError::BadContinuation);
        }
        let (client, table, store_s, meter) = (
            self.client.clone(),
            self.tables.inventory.clone(),
            store.to_string(),
            self.meter.clone(),
        );
        let fetch: Fetch<'_> = Box::new(move |start, limit| {
            let (client, table, store_s, prefix) = (
                client.clone(),
                table.clone(),
                store_s.clone(),
                prefix.clone(),
            );
            let meter = meter.clone();
            async move {
                let out = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("store_id = :s AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":s", s(store_s))
                    .expression_attribute_values(":prefix", s(prefix))
                    .scan_index_forward(false)
                    .set_exclusive_start_key(start)
                    .limit(limit)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                meter.add(read_units(out.consumed_capacity()), 0.0);
                Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
            }
            .boxed()
        });
        let (items, next) = collect_page(fetch, after, ATTRS, page.limit, false).await?;
        let items = items
            .into_iter()
            .map(movement_from)
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }
}
