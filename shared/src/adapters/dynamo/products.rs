//! The products table: products and their barcode guards, and (in the sparse `changes`
//! index, by partition and the time of their last write) the change feed.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, PutRequest, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, WriteRequest,
};
use futures::{FutureExt, StreamExt};

use super::paging::{Fetch, collect_page, decode};
use super::{
    DynamoStore, Item, TxError, build_err, failed, from_item, get_s, read_units, s, sdk_err,
    to_item,
};
use crate::adapters::records::{
    HistoryRecord, ProductRecord, category_path_key, category_root, created_sort_key,
    is_time_place, quality_sort_key, search_text, time_place,
};
use crate::domain::{Actor, Gtin, HistoryEntry, Product, ProductId, Timestamp, VerificationStatus};
use crate::ports::{
    BulkInsert, ChangePage, Continuation, MAX_BULK_READ, Page, PageQuery, ProductFilter,
    ProductStore, ReviewOrder, StorageError, StorageResult, created, import_history,
};

fn product_pk(id: &ProductId) -> String {
    format!("P#{id}")
}

fn barcode_pk(b: &Gtin) -> String {
    format!("B#{b}")
}

/// Partitions of the `changes` index: a product's change goes to one by its id, so writes
/// spread over them (each takes about 1,000 writes a second) and a page reads each.
pub const CHANGE_SHARDS: u8 = 4;

/// Which partition of the `changes` index the product's changes go to.
fn change_shard(id: &ProductId) -> String {
    (id.as_uuid().as_bytes()[15] % CHANGE_SHARDS).to_string()
}

/// A change's place in the feed: the time the adapter wrote it (milliseconds, 15 digits),
/// then the product's id.
fn change_position(at: Timestamp, id: &ProductId) -> String {
    time_place(at, id)
}

/// Whether `p` is a feed position (what a change feed's continuation holds): `0` (the start)
/// or one [`change_position`] wrote.
fn is_change_position(p: &str) -> bool {
    p == "0" || is_time_place(p)
}

/// Moves a product item's place in the change feed to now, as it is sent: an item built a
/// while ago (a bulk write, a batch retried while throttled) must not land behind readers
/// of the feed. Other items are left as they are.
pub(super) fn restamp_change(item: &mut Item) {
    let is_product = matches!(item.get("entity"), Some(AttributeValue::S(e)) if e == "product");
    if !is_product {
        return;
    }
    if let Some(AttributeValue::S(position)) = item.get_mut("change_sort")
        && let Some((_, id)) = position.split_once('#')
    {
        let now = time_place(Timestamp::now(), &id);
        *position = now;
    }
}

/// The product item: its record plus the attributes the table and indexes key on. Every
/// write of the whole item is a change: it moves the product to the end of the change feed.
fn product_item(p: &Product) -> StorageResult<Item> {
    let mut item = to_item(&ProductRecord::from(p))?;
    item.insert("pk".into(), s(product_pk(&p.product_id)));
    item.insert("entity".into(), s("product"));
    item.insert("change_shard".into(), s(change_shard(&p.product_id)));
    item.insert(
        "change_sort".into(),
        s(change_position(Timestamp::now(), &p.product_id)),
    );
    let sort = created_sort_key(&p.created_at, &p.product_id);
    item.insert("status_sort".into(), s(sort.clone()));
    // Only pending products are in the by-quality index (the review queue's sorts).
    if p.verification_status == VerificationStatus::Pending {
        item.insert("quality_sort".into(), s(quality_sort_key(p)));
    }
    if let Some(c) = &p.category {
        let path = category_path_key(c);
        item.insert("category_root".into(), s(category_root(&path)));
        item.insert("category_sort".into(), s(format!("{path}#{sort}")));
    }
    item.insert("search_text".into(), s(search_text(p)));
    // The awaiting-enrichment index's key: only while the product's lookup is queued.
    if let Some(e) = p.enrichment.as_ref().filter(|e| e.is_queued()) {
        item.insert("enrich_queued".into(), s(e.due_at().to_string()));
    }
    // The by-image-q<i> indexes' keys: the quarters of the image's perceptual hash.
    if let Some(h) = p
        .image_perceptual_hash
        .as_deref()
        .and_then(crate::images::Perceptual::parse)
    {
        for (i, q) in h.quarters().into_iter().enumerate() {
            item.insert(format!("image_q{i}"), s(q));
        }
    }
    Ok(item)
}

fn guard_put(b: &Gtin, id: &ProductId, table: &str) -> StorageResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(barcode_pk(b)))
        .item("entity", s("barcode"))
        .item("product_id", s(id.to_string()))
        .condition_expression("attribute_not_exists(pk) OR product_id = :id")
        .expression_attribute_values(":id", s(id.to_string()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// `BarcodeTaken` naming the holder in a failed guard write's old item.
fn barcode_taken(b: &Gtin, old: Option<&Item>) -> StorageError {
    match old
        .and_then(|i| get_s(i, "product_id"))
        .map(ProductId::parse)
    {
        Some(Ok(existing)) => StorageError::BarcodeTaken {
            barcode: b.clone(),
            existing,
        },
        _ => StorageError::Corrupt(format!("barcode guard for {b} without a product id")),
    }
}

fn product_from(item: Item) -> StorageResult<Product> {
    from_item::<ProductRecord>("product", item)?.try_into()
}

/// A history entry's item: `H#<product>#<version>`, listed through the `history` index.
/// Partitions of the `pending-events` index (the product events' outbox), by product id, so a
/// bulk load's entries spread their index writes.
const EVENT_PARTITIONS: u8 = 4;

fn event_partition(n: u8) -> String {
    format!("e#{n}")
}

fn history_pk(id: &ProductId, version: u64) -> String {
    format!("H#{id}#{version:012}")
}

/// A history entry's item; it enters the product events' outbox (`event_pending`, the sparse
/// `pending-events` index's key) with it.
fn history_item(h: &HistoryEntry) -> StorageResult<Item> {
    let mut item = to_item(&HistoryRecord::from(h))?;
    let sort = format!("{:012}", h.version);
    item.insert("pk".into(), s(history_pk(&h.product_id, h.version)));
    item.insert("entity".into(), s("history"));
    item.insert("history_of".into(), s(h.product_id.to_string()));
    item.insert("history_sort".into(), s(sort));
    let n = h.product_id.as_uuid().as_bytes()[15] % EVENT_PARTITIONS;
    item.insert("event_pending".into(), s(event_partition(n)));
    Ok(item)
}

/// A history entry in a product's transaction: its version is new (the product's version
/// condition makes it so), and an entry is never overwritten.
fn history_put(table: &str, h: &HistoryEntry) -> StorageResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(history_item(h)?))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A transaction's check that `product` is not merged (the services check it exists).
pub(super) fn unmerged_check(table: &str, product: &ProductId) -> StorageResult<TransactWriteItem> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .key("pk", s(product_pk(product)))
        .condition_expression("attribute_not_exists(pk) OR verification_status <> :merged")
        .expression_attribute_values(":merged", s(VerificationStatus::Merged.as_str()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

/// What a failed [`unmerged_check`] of `product` found: it was merged.
pub(super) fn merged_error(product: &ProductId, old: Option<&Item>) -> StorageError {
    StorageError::ProductMerged {
        product: *product,
        into: old
            .and_then(|item| get_s(item, "merged_into"))
            .and_then(|i| ProductId::parse(i).ok()),
    }
}

impl DynamoStore {
    async fn get_item(&self, pk: String) -> StorageResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.products)
            .key("pk", s(pk))
            .consistent_read(true)
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_err)?;
        self.meter
            .add(super::read_units(out.consumed_capacity()), 0.0);
        Ok(out.item)
    }

    /// A product's conditional replacement with its history entry (and the barcode guards it
    /// moves), and, with `unmerged`, the check that that product is not merged.
    async fn update_with(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
        unmerged: Option<&ProductId>,
    ) -> StorageResult<()> {
        let table = &self.tables.products;
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(product_item(next)?))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", AttributeValue::N(previous.version.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        let mut claimed = None;
        if previous.barcode != next.barcode {
            if let Some(old) = &previous.barcode {
                let del = Delete::builder()
                    .table_name(table)
                    .key("pk", s(barcode_pk(old)))
                    .condition_expression("attribute_not_exists(pk) OR product_id = :id")
                    .expression_attribute_values(":id", s(next.product_id.to_string()))
                    .build()
                    .map_err(build_err)?;
                items.push(TransactWriteItem::builder().delete(del).build());
            }
            if let Some(new) = &next.barcode {
                claimed = Some((items.len(), new));
                items.push(guard_put(new, &next.product_id, table)?);
            }
        }
        items.push(history_put(table, history)?);
        let checked = unmerged.map(|id| (items.len(), id));
        if let Some((_, id)) = checked {
            items.push(unmerged_check(table, id)?);
        }
        match self.transact(items).await {
            Ok(_) => Ok(()),
            Err(TxError::Storage(e)) => Err(e),
            Err(TxError::Canceled(reasons)) => {
                if let Some(old) = failed(reasons.first()) {
                    return Err(match old.and_then(|i| super::get_n(i, "version")) {
                        Some(v) => StorageError::VersionConflict {
                            current: Some(v as u64),
                        },
                        None => StorageError::NotFound,
                    });
                }
                if let Some((i, b)) = claimed
                    && let Some(old) = failed(reasons.get(i))
                {
                    return Err(barcode_taken(b, old));
                }
                if let Some((i, id)) = checked
                    && let Some(old) = failed(reasons.get(i))
                {
                    return Err(merged_error(id, old));
                }
                Err(StorageError::backend(format!(
                    "product update cancelled: {reasons:?}"
                )))
            }
        }
    }

    /// Inserts a product (with its barcode guard and history entry) and returns the write units
    /// it consumed.
    async fn insert_units(&self, product: &Product, history: &HistoryEntry) -> StorageResult<f64> {
        let table = &self.tables.products;
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(product_item(product)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if let Some(b) = &product.barcode {
            // A new product's id is never a guard's holder, so the guard's "OR product_id = :id"
            // cannot let it through.
            items.push(guard_put(b, &product.product_id, table)?);
        }
        items.push(history_put(table, history)?);
        match self.transact(items).await {
            Ok(units) => Ok(units),
            Err(TxError::Storage(e)) => Err(e),
            Err(TxError::Canceled(reasons)) => {
                if failed(reasons.first()).is_some() {
                    return Err(StorageError::AlreadyExists);
                }
                match (&product.barcode, failed(reasons.get(1))) {
                    (Some(b), Some(old)) => Err(barcode_taken(b, old)),
                    _ => Err(StorageError::backend(format!(
                        "product insert cancelled: {reasons:?}"
                    ))),
                }
            }
        }
    }

    /// Inserts the products `group` picks from `products` in one transaction (each with its
    /// guard and history entry): the write units, or `None` when a condition cancelled it
    /// (nothing was written).
    async fn insert_group(
        &self,
        products: &[Product],
        group: &[usize],
        actor: &Actor,
    ) -> StorageResult<Option<f64>> {
        let table = &self.tables.products;
        let mut items = Vec::with_capacity(group.len() * 3);
        for &i in group {
            let p = &products[i];
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(product_item(p)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().put(put).build());
            if let Some(b) = &p.barcode {
                items.push(guard_put(b, &p.product_id, table)?);
            }
            items.push(history_put(table, &import_history(p, actor))?);
        }
        match self.transact(items).await {
            Ok(units) => Ok(Some(units)),
            Err(TxError::Canceled(_)) => Ok(None),
            Err(TxError::Storage(e)) => Err(e),
        }
    }
}

/// Products written in one transaction by a bulk insert (three items each, of DynamoDB's 100
/// a transaction).
const GROUPED_INSERTS: usize = 33;

/// A copy of a whole-group failure for each of its products (outages and backend failures
/// end the bulk insert anyway; [`created`] passes them on).
fn clone_err(e: &StorageError) -> StorageError {
    match e {
        StorageError::Unavailable(x) => StorageError::Unavailable(x.to_string().into()),
        other => StorageError::Backend(other.to_string().into()),
    }
}

#[async_trait]
impl ProductStore for DynamoStore {
    async fn insert_new(&self, products: &[Product], actor: &Actor) -> StorageResult<BulkInsert> {
        let table = &self.tables.products;
        let mut units = 0.0;
        let mut out: Vec<Option<StorageResult<bool>>> = (0..products.len()).map(|_| None).collect();
        // Without a barcode: read which exist (100 per request), batch-write the rest (25 per
        // request). Ids come from the rows, so an existing one is this product already.
        let plain: Vec<usize> = (0..products.len())
            .filter(|&i| products[i].barcode.is_none())
            .collect();
        if !plain.is_empty() {
            let keys: Vec<Item> = plain
                .iter()
                .map(|&i| Item::from([("pk".to_string(), s(product_pk(&products[i].product_id)))]))
                .collect();
            let existing: std::collections::HashSet<String> = self
                .batch_get(table, keys)
                .await?
                .iter()
                .filter_map(|it| get_s(it, "pk").map(str::to_string))
                .collect();
            let mut puts = Vec::new();
            let mut entries = Vec::new();
            let request = |item: Item| -> StorageResult<WriteRequest> {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(build_err)?;
                Ok(WriteRequest::builder().put_request(put).build())
            };
            for &i in &plain {
                let exists = existing.contains(&product_pk(&products[i].product_id));
                out[i] = Some(Ok(!exists));
                if !exists {
                    puts.push(request(product_item(&products[i])?)?);
                    entries.push(request(history_item(&import_history(
                        &products[i],
                        actor,
                    ))?)?);
                }
            }
            // History first: a product is never stored without its entry (a rerun writes the
            // same entries again).
            for writes in [entries, puts] {
                let batches = super::batches(writes, super::BATCH_WRITE);
                let results: Vec<StorageResult<(f64, usize)>> =
                    futures::stream::iter(batches.into_iter().map(|b| self.write_batch(table, b)))
                        .buffer_unordered(super::WRITES_IN_FLIGHT)
                        .collect()
                        .await;
                for r in results {
                    units += r?.0;
                }
            }
        }
        // With a barcode: groups of products in one transaction each (product, guard and
        // entry, all conditional), a few groups at a time. A group cancelled by one of its
        // products (its barcode taken, or the product made by an earlier run) is tried one
        // product at a time, which tells each one's answer.
        // A product repeating another's barcode or id goes alone, after the groups (one
        // transaction cannot write an item twice): it then gets its own answer.
        let mut seen = std::collections::HashSet::new();
        let (guarded, repeats): (Vec<usize>, Vec<usize>) = (0..products.len())
            .filter(|&i| products[i].barcode.is_some())
            .partition(|&i| {
                let p = &products[i];
                let first_barcode = seen.insert(barcode_pk(p.barcode.as_ref().expect("filtered")));
                let first_id = seen.insert(product_pk(&p.product_id));
                first_barcode && first_id
            });
        let groups: Vec<Vec<usize>> = guarded
            .chunks(GROUPED_INSERTS)
            .map(<[usize]>::to_vec)
            .collect();
        let results: Vec<Vec<(usize, StorageResult<f64>)>> =
            futures::stream::iter(groups.into_iter().map(|group| async move {
                match self.insert_group(products, &group, actor).await {
                    Ok(Some(units)) => {
                        // The group's units, on its first product.
                        let mut all = vec![(group[0], Ok(units))];
                        all.extend(group[1..].iter().map(|&i| (i, Ok(0.0))));
                        all
                    }
                    Ok(None) => {
                        tracing::debug!(
                            products = group.len(),
                            "a grouped insert was cancelled; one at a time"
                        );
                        let mut all = Vec::with_capacity(group.len());
                        for &i in &group {
                            let history = import_history(&products[i], actor);
                            all.push((i, self.insert_units(&products[i], &history).await));
                        }
                        all
                    }
                    Err(e) => group.iter().map(|&i| (i, Err(clone_err(&e)))).collect(),
                }
            }))
            .buffer_unordered(super::WRITES_IN_FLIGHT)
            .collect()
            .await;
        let mut results: Vec<(usize, StorageResult<f64>)> = results.into_iter().flatten().collect();
        for i in repeats {
            let history = import_history(&products[i], actor);
            results.push((i, self.insert_units(&products[i], &history).await));
        }
        for (i, r) in results {
            if let Ok(u) = &r {
                units += u;
            }
            out[i] = Some(created(r.map(|_| ()))?);
        }
        Ok(BulkInsert {
            results: out.into_iter().map(|o| o.unwrap_or(Ok(false))).collect(),
            write_units: Some(units),
        })
    }

    async fn insert(&self, product: &Product, history: &HistoryEntry) -> StorageResult<()> {
        self.insert_units(product, history).await.map(|_| ())
    }

    async fn unannounced_history(&self, limit: usize) -> StorageResult<Vec<HistoryEntry>> {
        // The outbox's keys, a share of each partition, then the entries themselves.
        let limit = limit.clamp(1, 1000);
        let per = limit.div_ceil(EVENT_PARTITIONS as usize);
        let mut keys = Vec::new();
        for n in 0..EVENT_PARTITIONS {
            let out = self
                .client
                .query()
                .table_name(&self.tables.products)
                .index_name("pending-events")
                .key_condition_expression("event_pending = :p")
                .expression_attribute_values(":p", s(event_partition(n)))
                .limit(per as i32)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(sdk_err)?;
            self.meter.add(read_units(out.consumed_capacity()), 0.0);
            for item in out.items.unwrap_or_default() {
                if let Some(pk) = get_s(&item, "pk") {
                    keys.push(Item::from([("pk".to_string(), s(pk))]));
                }
            }
        }
        keys.truncate(limit);
        // Consistent: an entry taken out a moment ago must not be read back as still in.
        self.batch_get_with(&self.tables.products, keys, true)
            .await?
            .into_iter()
            .filter(|i| i.contains_key("event_pending"))
            .map(|i| from_item::<HistoryRecord>("product history entry", i)?.try_into())
            .collect()
    }

    async fn history_announced(&self, entries: &[HistoryEntry]) -> StorageResult<()> {
        for e in entries {
            let key = Item::from([("pk".to_string(), s(history_pk(&e.product_id, e.version)))]);
            self.take_out_of_outbox(&self.tables.products, key, "pk", "event_pending")
                .await?;
        }
        Ok(())
    }

    async fn history(&self, id: &ProductId, page: &PageQuery) -> StorageResult<Page<HistoryEntry>> {
        const ATTRS: &[&str] = &["pk", "history_of", "history_sort"];
        let after = page.after.as_ref().map(|c| decode(c, ATTRS)).transpose()?;
        if let Some(a) = &after
            && get_s(a, "history_of") != Some(id.to_string().as_str())
        {
            return Err(StorageError::BadContinuation);
        }
        let (client, table, id_s, meter) = (
            self.client.clone(),
            self.tables.products.clone(),
            id.to_string(),
            self.meter.clone(),
        );
        let fetch: Fetch<'_> = Box::new(move |start, limit| {
            let (client, table, id_s) = (client.clone(), table.clone(), id_s.clone());
            let meter = meter.clone();
            async move {
                let out = client
                    .query()
                    .table_name(table)
                    .index_name("history")
                    .key_condition_expression("history_of = :id")
                    .expression_attribute_values(":id", s(id_s))
                    .scan_index_forward(false)
                    .set_exclusive_start_key(start)
                    .limit(limit)
                    .return_consumed_capacity(
                        aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total,
                    )
                    .send()
                    .await
                    .map_err(sdk_err)?;
                meter.add(super::read_units(out.consumed_capacity()), 0.0);
                Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
            }
            .boxed()
        });
        let (items, next) = collect_page(fetch, after, ATTRS, page.limit, false).await?;
        let items = items
            .into_iter()
            .map(|i| from_item::<HistoryRecord>("product history entry", i)?.try_into())
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    async fn get(&self, id: &ProductId) -> StorageResult<Option<Product>> {
        self.get_item(product_pk(id))
            .await?
            .map(product_from)
            .transpose()
    }

    async fn get_many(&self, ids: &[ProductId]) -> StorageResult<Vec<Product>> {
        if ids.len() > MAX_BULK_READ {
            return Err(StorageError::backend(format!(
                "get_many takes at most {MAX_BULK_READ} products"
            )));
        }
        let keys = ids
            .iter()
            .map(|id| Item::from([("pk".to_string(), s(product_pk(id)))]))
            .collect();
        self.batch_get_with(&self.tables.products, keys, false)
            .await?
            .into_iter()
            .map(product_from)
            .collect()
    }

    async fn find_by_barcode(&self, barcode: &Gtin) -> StorageResult<Option<Product>> {
        let Some(guard) = self.get_item(barcode_pk(barcode)).await? else {
            return Ok(None);
        };
        let id = get_s(&guard, "product_id")
            .and_then(|i| ProductId::parse(i).ok())
            .ok_or_else(|| {
                StorageError::Corrupt(format!("barcode guard for {barcode} without a product id"))
            })?;
        self.get(&id).await
    }

    async fn update(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
    ) -> StorageResult<()> {
        self.update_with(previous, next, history, None).await
    }

    async fn find_by_barcodes(&self, barcodes: &[Gtin]) -> StorageResult<Vec<Product>> {
        // The guards in one batched read, then their products in another.
        let keys: Vec<Item> = barcodes
            .iter()
            .map(|b| Item::from([("pk".to_string(), s(barcode_pk(b)))]))
            .collect();
        let ids: Vec<ProductId> = self
            .batch_get(&self.tables.products, keys)
            .await?
            .iter()
            .filter_map(|g| get_s(g, "product_id").and_then(|i| ProductId::parse(i).ok()))
            .collect();
        self.get_many(&ids).await
    }

    async fn defer_lookup(
        &self,
        id: &ProductId,
        version: u64,
        due: Timestamp,
    ) -> StorageResult<()> {
        let due = s(due.to_string());
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.products)
            .key("pk", s(product_pk(id)))
            .update_expression("SET enrichment.#due = :due, enrich_queued = :due")
            .condition_expression("version = :v AND enrichment.#status = :queued")
            .expression_attribute_names("#due", "due")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":due", due)
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":queued", s("queued"))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StorageError::VersionConflict { current: None })
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn awaiting_enrichment(
        &self,
        due_before: Timestamp,
        limit: usize,
    ) -> StorageResult<Vec<ProductId>> {
        // A Scan of a sparse index: it holds only the products whose lookup is queued.
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.products)
                .index_name("awaiting-enrichment")
                .filter_expression("enrich_queued < :before")
                .expression_attribute_values(":before", s(due_before.to_string()))
                .limit(limit.clamp(1, 1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for pk in page.items().iter().filter_map(|i| get_s(i, "pk")) {
                let id = pk.strip_prefix("P#").unwrap_or(pk);
                out.push(
                    ProductId::parse(id)
                        .map_err(|e| StorageError::Corrupt(format!("product key {id:?}: {e}")))?,
                );
            }
            match page.last_evaluated_key {
                Some(k) if out.len() < limit => start = Some(k),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn with_image_hash(&self, hash: &str, limit: usize) -> StorageResult<Vec<ProductId>> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.products)
            .index_name("by-image")
            .key_condition_expression("image_hash = :h")
            .expression_attribute_values(":h", s(hash))
            .limit(limit as i32)
            .send()
            .await
            .map_err(sdk_err)?;
        out.items()
            .iter()
            .filter_map(|i| get_s(i, "pk"))
            .filter_map(|pk| pk.strip_prefix("P#"))
            .map(|id| {
                ProductId::parse(id)
                    .map_err(|e| StorageError::Corrupt(format!("product key {id:?}: {e}")))
            })
            .collect()
    }

    async fn with_similar_image(
        &self,
        perceptual: crate::images::Perceptual,
        limit: usize,
    ) -> StorageResult<Vec<ProductId>> {
        let mut out = Vec::new();
        for (i, q) in perceptual.quarters().into_iter().enumerate() {
            let found = self
                .client
                .query()
                .table_name(&self.tables.products)
                .index_name(format!("by-image-q{i}"))
                .key_condition_expression("#q = :q")
                .expression_attribute_names("#q", format!("image_q{i}"))
                .expression_attribute_values(":q", s(q))
                .limit(limit as i32)
                .send()
                .await
                .map_err(sdk_err)?;
            for pk in found.items().iter().filter_map(|i| get_s(i, "pk")) {
                let id = pk.strip_prefix("P#").unwrap_or(pk);
                let id = ProductId::parse(id)
                    .map_err(|e| StorageError::Corrupt(format!("product key {id:?}: {e}")))?;
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    async fn update_merging(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
        into: &ProductId,
    ) -> StorageResult<()> {
        self.update_with(previous, next, history, Some(into)).await
    }

    async fn changes(
        &self,
        after: Option<&Continuation>,
        settled: Timestamp,
        limit: u32,
    ) -> StorageResult<ChangePage> {
        // Each partition from the position on, up to the settled time; the pages are merged,
        // and only what precedes every partition's unread rest is given (so a partition that
        // had more cannot hold a change that belongs before the page's end).
        let from = match after {
            None => String::new(),
            Some(Continuation(p)) if is_change_position(p) => p.clone(),
            Some(_) => return Err(StorageError::BadContinuation),
        };
        let until = time_place(settled, &"");
        let limit = limit.clamp(1, 1000) as usize;
        if !from.is_empty() && from >= until {
            // The cursor is past the settled time (this clock runs behind the one that read
            // the last page): nothing is ready yet.
            return Ok(ChangePage {
                items: Vec::new(),
                next: Continuation(from),
                more: false,
            });
        }
        let mut found: Vec<(String, Product)> = Vec::new();
        let mut bound: Option<String> = None;
        for shard in 0..CHANGE_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.tables.products)
                .index_name("changes")
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .key_condition_expression(
                    "change_shard = :shard AND change_sort BETWEEN :from AND :until",
                )
                .expression_attribute_values(":shard", s(shard.to_string()))
                .expression_attribute_values(":from", s(if from.is_empty() { "0" } else { &from }))
                .expression_attribute_values(":until", s(&until))
                .limit(limit as i32 + 1)
                .send()
                .await
                .map_err(sdk_err)?;
            self.meter.add(read_units(out.consumed_capacity()), 0.0);
            let more = out.last_evaluated_key().is_some_and(|k| !k.is_empty());
            let mut last = None;
            for item in out.items.unwrap_or_default() {
                let Some(position) = get_s(&item, "change_sort").map(str::to_string) else {
                    continue;
                };
                last = Some(position.clone());
                // The lower end is inclusive: the page before ended with it.
                if position == from {
                    continue;
                }
                found.push((position, product_from(item)?));
            }
            if more && let Some(last) = last {
                bound = Some(match bound {
                    Some(b) if b < last => b,
                    _ => last,
                });
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let ready = found.len();
        if let Some(b) = &bound {
            found.retain(|(p, _)| p <= b);
        }
        let more = ready > limit || found.len() < ready;
        found.truncate(limit);
        let next = found
            .last()
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| if from.is_empty() { "0".into() } else { from });
        Ok(ChangePage {
            items: found.into_iter().map(|(_, p)| p).collect(),
            next: Continuation(next),
            more,
        })
    }

    async fn list(&self, filter: &ProductFilter, page: &PageQuery) -> StorageResult<Page<Product>> {
        let table = self.tables.products.clone();
        let client = self.client.clone();
        // Which index serves the listing, and the attributes its continuation holds.
        let by_quality = filter.status == Some(VerificationStatus::Pending)
            && filter.order != ReviewOrder::Oldest;
        let (index, attrs): (Option<&str>, &[&str]) = if by_quality {
            (
                Some("by-quality"),
                &["pk", "verification_status", "quality_sort"],
            )
        } else if filter.category.is_some() {
            (
                Some("by-category"),
                &["pk", "category_root", "category_sort"],
            )
        } else if filter.status.is_some() {
            (
                Some("by-status"),
                &["pk", "verification_status", "status_sort"],
            )
        } else {
            (None, &["pk"])
        };
        let after = page.after.as_ref().map(|c| decode(c, attrs)).transpose()?;

        let mut filters: Vec<String> = Vec::new();
        let mut values: Vec<(String, AttributeValue)> = Vec::new();
        let mut names: Vec<(String, String)> = Vec::new();
        let mut key_cond = None;
        match (index, &filter.category, filter.status) {
            (Some("by-quality"), category, Some(st)) => {
                key_cond = Some("verification_status = :status".to_string());
                values.push((":status".into(), s(st.as_str())));
                if let Some(cat) = category {
                    filters.push("begins_with(category_sort, :path)".into());
                    values.push((":path".into(), s(category_path_key(cat))));
                }
            }
            (Some("by-category"), Some(cat), status) => {
                let path = category_path_key(cat);
                key_cond =
                    Some("category_root = :root AND begins_with(category_sort, :path)".to_string());
                values.push((":root".into(), s(category_root(&path))));
                values.push((":path".into(), s(path)));
                if let Some(st) = status {
                    filters.push("verification_status = :status".into());
                    values.push((":status".into(), s(st.as_str())));
                }
            }
            (Some("by-status"), _, Some(st)) => {
                key_cond = Some("verification_status = :status".to_string());
                values.push((":status".into(), s(st.as_str())));
            }
            _ => {
                filters.push("#entity = :product".into());
                names.push(("#entity".into(), "entity".into()));
                values.push((":product".into(), s("product")));
            }
        }
        for (i, w) in filter.words.iter().enumerate() {
            filters.push(format!("contains(search_text, :w{i})"));
            values.push((format!(":w{i}"), s(w.clone())));
        }
        let filter_expr = (!filters.is_empty()).then(|| filters.join(" AND "));
        let filtered = filter_expr.is_some();
        let index = index.map(str::to_string);
        let forward = filter.order != ReviewOrder::HighestQuality || !by_quality;

        let fetch: Fetch<'_> = Box::new(move |start, limit| {
            let (client, table, index, key_cond, filter_expr, values, names) = (
                client.clone(),
                table.clone(),
                index.clone(),
                key_cond.clone(),
                filter_expr.clone(),
                values.clone(),
                names.clone(),
            );
            async move {
                if let Some(kc) = key_cond {
                    let mut q = client
                        .query()
                        .table_name(table)
                        .set_index_name(index)
                        .key_condition_expression(kc)
                        .set_filter_expression(filter_expr)
                        .set_exclusive_start_key(start)
                        .scan_index_forward(forward)
                        .limit(limit);
                    for (k, v) in values {
                        q = q.expression_attribute_values(k, v);
                    }
                    for (k, v) in names {
                        q = q.expression_attribute_names(k, v);
                    }
                    let out = q.send().await.map_err(sdk_err)?;
                    Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
                } else {
                    let mut q = client
                        .scan()
                        .table_name(table)
                        .set_filter_expression(filter_expr)
                        .set_exclusive_start_key(start)
                        .limit(limit);
                    for (k, v) in values {
                        q = q.expression_attribute_values(k, v);
                    }
                    for (k, v) in names {
                        q = q.expression_attribute_names(k, v);
                    }
                    let out = q.send().await.map_err(sdk_err)?;
                    Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
                }
            }
            .boxed()
        });
        let (items, next) = collect_page(fetch, after, attrs, page.limit, filtered).await?;
        let items = items
            .into_iter()
            .map(product_from)
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }
}
