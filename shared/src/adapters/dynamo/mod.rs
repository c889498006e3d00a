//! DynamoDB storage: the products, inventory, jobs and accounts tables.
//!
//! Owns every `AttributeValue`, expression and key layout (nothing outside this module sees
//! them). Records are mapped by serde_dynamo; amounts are integer minor units so that
//! `quantity_milli + :d` is exact. Layout, also created by `schema` for tests and by
//! `infra/template.yaml` in AWS:
//!
//! | table | key | items | GSIs |
//! |---|---|---|---|
//! | products | `pk` | `P#<product_id>` products; `B#<gtin>` barcode guards | `by-status` (verification_status, status_sort), `by-category` (category_root, category_sort) |
//! | inventory | `store_id`, `sk` | `I#<product_id>` items; `OP#<key>` idempotency markers (TTL `expires_at`) | none (one write unit per item write) |
//! | jobs | `job_id` | jobs | `by-store` (store_id, store_sort) |
//! | accounts | `pk`, `sk` | users, phone guards, stores, memberships (both ways), sign-in codes, sessions, request counters (see `accounts`; TTL `expires_epoch`) | none |
//!
//! A barcode is unique because its guard item is written in the same transaction as the
//! product (a GSI cannot be unique).

mod accounts;
mod inventory;
mod jobs;
mod keys;
mod paging;
mod products;
pub mod schema;
mod webhooks;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, KeysAndAttributes, ReturnConsumedCapacity,
    TransactWriteItem, WriteRequest,
};

use crate::ports::StorageError;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Items per BatchWriteItem request (DynamoDB's limit).
const BATCH_WRITE: usize = 25;
/// Keys per BatchGetItem request (DynamoDB's limit).
const BATCH_GET: usize = 100;
/// BatchWriteItem requests in flight at once during a bulk write.
const WRITES_IN_FLIGHT: usize = 8;
/// Tries of a batch's unprocessed items or keys before it is reported unavailable.
const BATCH_ATTEMPTS: u32 = 10;

/// The four table names (from configuration; tests use fresh names per test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub products: String,
    pub inventory: String,
    pub jobs: String,
    pub accounts: String,
}

impl TableNames {
    /// `<prefix>-products`, `<prefix>-inventory`, `<prefix>-jobs`, `<prefix>-accounts`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            products: format!("{prefix}-products"),
            inventory: format!("{prefix}-inventory"),
            jobs: format!("{prefix}-jobs"),
            accounts: format!("{prefix}-accounts"),
        }
    }
}

/// Products, inventory, jobs and accounts in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    meter: std::sync::Arc<Meter>,
}

/// Capacity units consumed so far (what DynamoDB reports with `ReturnConsumedCapacity`), read
/// and write, in thousandths. `bench-inventory` reads it around each operation.
#[derive(Debug, Default)]
pub struct Meter {
    read_milli: std::sync::atomic::AtomicU64,
    write_milli: std::sync::atomic::AtomicU64,
}

/// Read and write capacity units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl Meter {
    fn add(&self, read: f64, write: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.read_milli
            .fetch_add((read * 1000.0).round() as u64, Relaxed);
        self.write_milli
            .fetch_add((write * 1000.0).round() as u64, Relaxed);
    }

    pub fn units(&self) -> Units {
        use std::sync::atomic::Ordering::Relaxed;
        Units {
            read: self.read_milli.load(Relaxed) as f64 / 1000.0,
            write: self.write_milli.load(Relaxed) as f64 / 1000.0,
        }
    }
}

/// Read units of one call's answer (a Query, GetItem or BatchGetItem).
fn read_units<'a>(
    consumed: impl IntoIterator<Item = &'a aws_sdk_dynamodb::types::ConsumedCapacity>,
) -> f64 {
    consumed
        .into_iter()
        .map(|c| {
            c.read_capacity_units()
                .or(c.capacity_units())
                .unwrap_or(0.0)
        })
        .sum()
}

/// `items` in batches of at most `n`, moved rather than cloned (a write request's attribute
/// maps are most of what it is).
fn batches<T>(items: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(items.len().div_ceil(n.max(1)));
    let mut rest = items.into_iter();
    loop {
        let batch: Vec<T> = rest.by_ref().take(n.max(1)).collect();
        if batch.is_empty() {
            return out;
        }
        out.push(batch);
    }
}

impl DynamoStore {
    /// Takes the item at `key` out of a sparse index's outbox: removes its `mark` attribute
    /// (one write). An item that is gone (no `key_attr`) has nothing left to take out.
    pub(super) async fn take_out_of_outbox(
        &self,
        table: &str,
        key: Item,
        key_attr: &str,
        mark: &str,
    ) -> Result<(), StorageError> {
        let out = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key))
            .update_expression("REMOVE #mark")
            .condition_expression("attribute_exists(#key)")
            .expression_attribute_names("#mark", mark)
            .expression_attribute_names("#key", key_attr)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(o) => {
                let units = o.consumed_capacity().and_then(|c| c.capacity_units());
                self.meter.add(0.0, units.unwrap_or(0.0));
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// One BatchWriteItem of at most 25 requests to `table`, retrying unprocessed items with
    /// backoff. Returns the write units consumed and the requests sent.
    async fn write_batch(
        &self,
        table: &str,
        mut batch: Vec<WriteRequest>,
    ) -> Result<(f64, usize), StorageError> {
        let (mut units, mut sent) = (0.0, 0);
        let mut delay = Duration::from_millis(25);
        for attempt in 1.. {
            sent += 1;
            for request in &mut batch {
                if let Some(put) = request.put_request.as_mut() {
                    products::restamp_change(&mut put.item);
                }
            }
            let res = self
                .client
                .batch_write_item()
                .request_items(table, batch)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(sdk_err)?;
            let consumed = res
                .consumed_capacity()
                .iter()
                .filter_map(|c| c.capacity_units())
                .sum::<f64>();
            self.meter.add(0.0, consumed);
            units += consumed;
            batch = res
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            if attempt >= BATCH_ATTEMPTS {
                return Err(StorageError::Unavailable(
                    format!("writes to {table} stayed unprocessed (throttled)").into(),
                ));
            }
            tokio::time::sleep(jitter(delay)).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        Ok((units, sent))
    }

    /// The items of `table` under `keys` (any number; 100 per request, consistent reads),
    /// retrying unprocessed keys with backoff. Missing items are absent from the answer.
    async fn batch_get(&self, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, StorageError> {
        self.batch_get_with(table, keys, true).await
    }

    /// [`DynamoStore::batch_get`], with eventually consistent reads unless `consistent` (half
    /// the read units, for what a listing shows).
    async fn batch_get_with(
        &self,
        table: &str,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StorageError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET) {
            let mut keys = chunk.to_vec();
            let mut delay = Duration::from_millis(25);
            for attempt in 1.. {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(consistent)
                    .build()
                    .map_err(build_err)?;
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                self.meter.add(read_units(res.consumed_capacity()), 0.0);
                if let Some(mut found) = res.responses {
                    out.extend(found.remove(table).unwrap_or_default());
                }
                keys = res
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if keys.is_empty() {
                    break;
                }
                if attempt >= BATCH_ATTEMPTS {
                    return Err(StorageError::Unavailable(
                        format!("reads of {table} stayed unprocessed (throttled)").into(),
                    ));
                }
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
        Ok(out)
    }

    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            meter: Default::default(),
        }
    }

    /// The capacity this store's calls have consumed so far.
    pub fn consumed(&self) -> Units {
        self.meter.units()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// Runs a transaction, retrying while it only lost a race with another transaction
    /// (`TransactionConflict`); any other cancellation is returned with its reasons. Returns
    /// the write units the applied transaction consumed.
    async fn transact(&self, mut items: Vec<TransactWriteItem>) -> Result<f64, TxError> {
        let mut delay = Duration::from_millis(20);
        for attempt in 0.. {
            for item in &mut items {
                if let Some(put) = item.put.as_mut() {
                    products::restamp_change(&mut put.item);
                }
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let units = out
                        .consumed_capacity()
                        .iter()
                        .filter_map(|c| c.capacity_units())
                        .sum();
                    self.meter.add(0.0, units);
                    return Ok(units);
                }
                Err(SdkError::ServiceError(e)) => match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        let reasons = c.cancellation_reasons().to_vec();
                        let conflict_only = reasons.iter().all(|r| {
                            matches!(r.code(), None | Some("None") | Some("TransactionConflict"))
                        });
                        if conflict_only && attempt < 8 {
                            tokio::time::sleep(jitter(delay)).await;
                            delay = (delay * 2).min(Duration::from_millis(500));
                            continue;
                        }
                        return Err(TxError::Canceled(reasons));
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) if attempt < 8 => {
                        tokio::time::sleep(jitter(delay)).await;
                        delay = (delay * 2).min(Duration::from_millis(500));
                    }
                    other => return Err(TxError::Storage(service_err(other))),
                },
                Err(e) => return Err(TxError::Storage(sdk_err(e))),
            }
        }
        unreachable!("the loop returns")
    }
}

/// Why a transaction did not apply.
enum TxError {
    /// Cancelled; one reason per item, in order (`ConditionalCheckFailed` with the old item).
    Canceled(Vec<CancellationReason>),
    Storage(StorageError),
}

fn failed(reason: Option<&CancellationReason>) -> Option<Option<&Item>> {
    reason
        .filter(|r| r.code() == Some("ConditionalCheckFailed"))
        .map(|r| r.item())
}

pub(crate) fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + Duration::from_nanos(u64::from(nanos) % d.as_nanos().max(1) as u64)
}

const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    // SNS (sign-in SMS, `adapters::sms`).
    "Throttled",
    "InternalError",
    "KMSThrottling",
];

/// Maps an SDK error: throttling and transport failures are `Unavailable`, the rest `Backend`.
pub(crate) fn sdk_err<E, R>(e: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e {
        SdkError::ServiceError(s) => service_err(s.into_err()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StorageError::Unavailable(Box::new(e))
        }
        other => StorageError::Backend(Box::new(other)),
    }
}

fn service_err<E>(e: E) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if e.code().is_some_and(|c| RETRYABLE_CODES.contains(&c)) {
        StorageError::Unavailable(Box::new(e))
    } else {
        StorageError::Backend(Box::new(e))
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn to_item<T: serde::Serialize>(record: &T) -> Result<Item, StorageError> {
    serde_dynamo::to_item(record).map_err(StorageError::backend)
}

fn from_item<T: serde::de::DeserializeOwned>(what: &str, item: Item) -> Result<T, StorageError> {
    serde_dynamo::from_item(item).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

fn build_err(e: aws_smithy_types::error::operation::BuildError) -> StorageError {
    StorageError::backend(e)
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_keep_order_and_size() {
        let b = batches((0..53).collect(), 25);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 3]);
        assert_eq!(b.concat(), (0..53).collect::<Vec<_>>());
        assert!(batches(Vec::<u8>::new(), 25).is_empty());
        assert_eq!(batches(vec![1, 2], 0), [[1], [2]]);
    }
}
