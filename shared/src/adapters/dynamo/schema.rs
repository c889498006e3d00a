//! Table definitions, for tests and local runs against DynamoDB Local. In AWS the same tables
//! come from `infra/template.yaml` (a test checks the two agree).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::{DynamoStore, build_err, sdk_err};
use crate::ports::StorageError;

/// A table's key schema and GSIs, as data (the template check reads this too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Logical name: `products`, `inventory`, `jobs` or `accounts`.
    pub logical: &'static str,
    pub hash_key: &'static str,
    pub range_key: Option<&'static str>,
    /// (name, hash key, range key, projection ALL?)
    pub indexes: Vec<(&'static str, &'static str, &'static str, bool)>,
    pub ttl_attribute: Option<&'static str>,
}

pub fn specs() -> Vec<TableSpec> {
    vec![
        TableSpec {
            logical: "products",
            hash_key: "pk",
            range_key: None,
            indexes: vec![
                ("by-status", "verification_status", "status_sort", true),
                ("by-category", "category_root", "category_sort", true),
                // A product's history entries (only they carry these keys).
                ("history", "history_of", "history_sort", true),
                // Pending products by quality score (sparse: only they carry `quality_sort`).
                ("by-quality", "verification_status", "quality_sort", true),
                // Products by image (sparse: only products with one): the same image on two.
                ("by-image", "image_hash", "pk", false),
                // Products by each quarter of their image's perceptual hash (near copies).
                ("by-image-q0", "image_q0", "pk", false),
                ("by-image-q1", "image_q1", "pk", false),
                ("by-image-q2", "image_q2", "pk", false),
                ("by-image-q3", "image_q3", "pk", false),
                // Products whose Open Food Facts lookup is queued (sparse: the enrichment
                // sweep's outbox; keys only, and written only while a lookup is queued).
                ("awaiting-enrichment", "enrich_queued", "pk", false),
                // The change feed: every product by the time of its last write, in
                // CHANGE_SHARDS partitions (only products carry the keys; the whole product,
                // so a page is one read per partition). Each product write writes it too.
                ("changes", "change_shard", "change_sort", true),
                // The product events' outbox: history entries whose event is not announced
                // yet (sparse, keys only, 4 partitions by product id).
                ("pending-events", "event_pending", "pk", false),
            ],
            ttl_attribute: None,
        },
        TableSpec {
            logical: "inventory",
            hash_key: "store_id",
            range_key: Some("sk"),
            // A store's items by product name, last update and quantity (the listing's sorts).
            // Only items carry their keys, so movements and markers stay out. Each costs a
            // write unit per item write that changes its key or projection.
            indexes: vec![
                ("by-name", "store_id", "name_sort", true),
                ("by-updated", "store_id", "updated_sort", true),
                ("by-quantity", "store_id", "qty_sort", true),
                // Movements whose stock alerts are not announced yet (sparse: the outbox).
                ("pending-alerts", "alert_pending", "sk", true),
                // Which stores stock a product (a merge moves their items): keys only, so an
                // item's stock changes never write it.
                ("by-product", "item_of", "store_id", false),
            ],
            ttl_attribute: Some("expires_at"),
        },
        TableSpec {
            logical: "jobs",
            hash_key: "job_id",
            range_key: None,
            indexes: vec![("by-store", "store_id", "store_sort", true)],
            ttl_attribute: None,
        },
        TableSpec {
            logical: "accounts",
            hash_key: "pk",
            range_key: Some("sk"),
            // Webhook deliveries due for an attempt (sparse: only pending ones carry the
            // keys), by when they are due: the delivery sweep's reading.
            indexes: vec![("due-deliveries", "delivery_due", "due_sort", true)],
            // Sign-in codes, sessions and request counters end by themselves.
            ttl_attribute: Some("expires_epoch"),
        },
    ]
}

fn key(name: &str, t: KeyType) -> Result<KeySchemaElement, StorageError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .map_err(build_err)
}

impl DynamoStore {
    /// Creates the four tables (on-demand) with their indexes and TTL.
    pub async fn create_tables(&self) -> Result<(), StorageError> {
        for spec in specs() {
            let name = match spec.logical {
                "products" => &self.tables.products,
                "inventory" => &self.tables.inventory,
                "jobs" => &self.tables.jobs,
                _ => &self.tables.accounts,
            };
            let mut attrs: Vec<&str> = vec![spec.hash_key];
            attrs.extend(spec.range_key);
            for (_, h, r, _) in &spec.indexes {
                attrs.push(h);
                attrs.push(r);
            }
            attrs.sort();
            attrs.dedup();
            let mut req = self
                .client
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key(spec.hash_key, KeyType::Hash)?);
            if let Some(r) = spec.range_key {
                req = req.key_schema(key(r, KeyType::Range)?);
            }
            for a in attrs {
                req = req.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(a)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(build_err)?,
                );
            }
            for (index, h, r, all) in &spec.indexes {
                let projection = Projection::builder()
                    .projection_type(if *all {
                        ProjectionType::All
                    } else {
                        ProjectionType::KeysOnly
                    })
                    .build();
                req = req.global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(*index)
                        .key_schema(key(h, KeyType::Hash)?)
                        .key_schema(key(r, KeyType::Range)?)
                        .projection(projection)
                        .build()
                        .map_err(build_err)?,
                );
            }
            req.send().await.map_err(sdk_err)?;
            if let Some(ttl) = spec.ttl_attribute {
                self.client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .attribute_name(ttl)
                            .enabled(true)
                            .build()
                            .map_err(build_err)?,
                    )
                    .send()
                    .await
                    .map_err(sdk_err)?;
            }
        }
        Ok(())
    }
}
