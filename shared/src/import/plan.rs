//! One row's fate: the catalog product it is, the pending product it makes, or the earlier row
//! it repeats.
//!
//! Owns the import's matching rules, and nothing of storage (the run writes what a plan says):
//! - a valid barcode the catalog has links to its product, whatever the name says (the barcode
//!   guard would refuse a second product with it anyway);
//! - otherwise the matching engine decides: `match` links; `review` and `new` make a pending
//!   product that keeps the candidates for the admin review queue;
//! - a row going to a product an earlier row already went to is a duplicate: counted, reported,
//!   not applied (the first row's values stand; stock is never counted twice).
//!
//! New products get ids derived from the job and the row, so a re-run of the same rows makes
//! the same products, never second ones.

use sha2::{Digest, Sha256};

use super::reader::ImportRow;
pub use super::reader::RowValues;
use super::state::ImportState;
use crate::domain::{
    CsvJob, InventoryDetails, MAX_REVIEW_CANDIDATES, MatchReview, Product, ProductContent,
    ProductId, ProductSource, ReviewCandidate, Timestamp,
};
use crate::matching::LoadedIndex;
use crate::matching::{BarcodeState, Decision, MatchQuery};

impl RowValues {
    /// The item's details after this row: what the row says, and the rest as it was (a new item
    /// starts at zero stock). The owner's notes and images are never touched by an import.
    pub fn apply(&self, existing: Option<&InventoryDetails>) -> InventoryDetails {
        let mut d = existing.cloned().unwrap_or_default();
        if let Some(q) = self.quantity {
            d.quantity = q;
        }
        if self.selling_price.is_some() {
            d.selling_price = self.selling_price;
        }
        if self.cost_price.is_some() {
            d.cost_price = self.cost_price;
        }
        if self.reorder_level.is_some() {
            d.reorder_level = self.reorder_level;
        }
        if self.supplier.is_some() {
            d.supplier = self.supplier.clone();
        }
        if self.location.is_some() {
            d.location = self.location.clone();
        }
        if self.notes.is_some() {
            d.notes = self.notes.clone();
        }
        d
    }
}

/// A row to write.
#[derive(Debug, Clone)]
pub struct RowPlan {
    pub row: u64,
    /// The catalog product the row's stock goes to (the new one, when `create` is set).
    pub product: ProductId,
    /// A pending product this row makes.
    pub create: Option<Box<Product>>,
    pub values: RowValues,
    /// Linked by the matching engine (not by barcode).
    pub matched_by_name: bool,
    /// Linked by the row's `catalog_product_id` (the write checks the product exists).
    pub by_id: bool,
}

#[derive(Debug, Clone)]
pub enum Plan {
    Write(RowPlan),
    /// Goes to the same product as `first_row`.
    Duplicate {
        row: u64,
        first_row: u64,
    },
}

/// Plans rows of one job against one index.
pub struct Planner<'a> {
    pub index: &'a LoadedIndex,
    pub job: &'a CsvJob,
    pub now: Timestamp,
}

impl Planner<'_> {
    pub fn plan(&self, row: ImportRow, state: &mut ImportState) -> Plan {
        let barcode = row.barcode.as_ref().map(|b| b.as_str()).unwrap_or("");
        // Barcode first: a product the catalog has under it is the one, without reading the text.
        // What an earlier run of this job created is new to this job, as it was then (the
        // first run's index never holds it; a resumed run's may).
        let ours = |i: &_| {
            ProductId::parse(self.index.index.product_id(*i))
                .is_ok_and(|id| created_by(self.job, &id))
        };
        let by_barcode = self
            .index
            .index
            .products_with_barcode(barcode)
            .find(|i| !ours(i));
        let mut outcome = None;
        // A row that names its catalog product by id (an export read back) is that product;
        // the write checks it exists.
        let by_id = row.product_id.filter(|id| !created_by(self.job, id));
        let linked = match by_barcode {
            _ if by_id.is_some() => None,
            Some(i) => Some((i, false)),
            None => {
                let q = MatchQuery {
                    name: &row.name,
                    brand: row.brand.as_deref().unwrap_or(""),
                    quantity: row.size.as_deref().unwrap_or(""),
                    barcode,
                };
                let o = outcome.insert(self.index.match_row(&q));
                match o.decision {
                    Decision::Match => o
                        .candidates
                        .first()
                        .filter(|c| c.barcode != BarcodeState::Conflict && !ours(&c.product))
                        .map(|c| (c.product, true)),
                    _ => None,
                }
            }
        };
        let linked = linked
            .and_then(|(i, by_name)| {
                ProductId::parse(self.index.index.product_id(i))
                    .ok()
                    .map(|id| (id, by_name))
            })
            .or(by_id.map(|id| (id, false)));
        let values = row.values;
        let (key, plan) = match linked {
            Some((product, matched_by_name)) => (
                identity(&["p", &product.to_string()]),
                RowPlan {
                    row: row.row,
                    product,
                    create: None,
                    values,
                    matched_by_name,
                    by_id: by_id == Some(product),
                },
            ),
            None => {
                let key = match &row.barcode {
                    Some(b) => identity(&["b", b.as_str()]),
                    None => identity(&[
                        "n",
                        &fold(&row.name),
                        &fold(row.brand.as_deref().unwrap_or("")),
                        &fold(row.size.as_deref().unwrap_or("")),
                    ]),
                };
                let id = new_product_id(self.job, row.row);
                let outcome = outcome.unwrap_or_else(|| {
                    let q = MatchQuery {
                        name: &row.name,
                        brand: row.brand.as_deref().unwrap_or(""),
                        quantity: row.size.as_deref().unwrap_or(""),
                        barcode,
                    };
                    self.index.match_row(&q)
                });
                let candidates = outcome
                    .candidates
                    .iter()
                    .filter_map(|c| {
                        let product_id =
                            ProductId::parse(self.index.index.product_id(c.product)).ok()?;
                        Some(ReviewCandidate {
                            product_id,
                            confidence: (c.probability * 100.0).round() as u8,
                        })
                    })
                    .take(MAX_REVIEW_CANDIDATES)
                    .collect();
                let review = MatchReview {
                    decision: if outcome.decision == Decision::New {
                        "new"
                    } else {
                        "review"
                    }
                    .to_string(),
                    candidates,
                    job_id: Some(self.job.job_id),
                    row: Some(row.row),
                };
                let mut attributes = std::collections::BTreeMap::new();
                if let Some(size) = &row.size {
                    attributes.insert("pack_size".to_string(), size.clone());
                }
                let content = ProductContent {
                    name: row.name.clone(),
                    brand: row.brand.clone(),
                    category: row.category.clone(),
                    barcode: row.barcode.clone(),
                    regional_names: Default::default(),
                    attributes,
                };
                let mut product = Product::create(
                    id,
                    content,
                    ProductSource::Import,
                    &self.job.created_by,
                    self.now,
                );
                product.match_review = Some(review);
                (
                    key,
                    RowPlan {
                        row: row.row,
                        product: id,
                        create: Some(Box::new(product)),
                        values,
                        matched_by_name: false,
                        by_id: false,
                    },
                )
            }
        };
        match state.first(key, plan.row) {
            Some(first_row) => Plan::Duplicate {
                row: plan.row,
                first_row,
            },
            None => Plan::Write(plan),
        }
    }
}

/// The id of the product row `row` of `job` creates (the same on every run of the job): a
/// version 8 UUID of a digest of the job id (10 bytes) and the row number (6 bytes), so that
/// [`created_by`] can tell this job's products from the id alone.
pub fn new_product_id(job: &CsvJob, row: u64) -> ProductId {
    let mut bytes = [0u8; 16];
    bytes[..10].copy_from_slice(&job_digest(job));
    bytes[10..].copy_from_slice(&row.to_be_bytes()[2..]);
    ProductId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// Whether `product` is one that `job` creates. A resumed run reads an index that may hold the
/// products its earlier runs created; the first run's index never does, so the resumed run
/// treats them as unknown to decide each row as the first run would have.
pub fn created_by(job: &CsvJob, product: &ProductId) -> bool {
    let ours = new_product_id(job, 0);
    product.as_uuid().as_bytes()[..10] == ours.as_uuid().as_bytes()[..10]
}

fn job_digest(job: &CsvJob) -> [u8; 10] {
    let d = Sha256::digest(job.job_id.as_uuid().as_bytes());
    let mut out = [0u8; 10];
    out.copy_from_slice(&d[..10]);
    out
}

/// Letters and digits only, lower case: "Tata  Salt-1kg" and "tata salt 1KG" fold alike.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A stable 64-bit key for a row's identity (saved with checkpoints, so it must not change
/// between runs or builds).
fn identity(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, StoreId};

    #[test]
    fn a_job_knows_the_products_it_creates_by_their_ids() {
        let store = StoreId::parse("s1").unwrap();
        let job = CsvJob::new(JobId::new(), store.clone(), "owner", Timestamp::now());
        let other = CsvJob::new(JobId::new(), store, "owner", Timestamp::now());
        let id = new_product_id(&job, 123_456);
        assert_eq!(id, new_product_id(&job, 123_456), "the same on every run");
        assert_ne!(id, new_product_id(&job, 123_457));
        assert_eq!(id.as_uuid().get_version_num(), 8);
        assert!(created_by(&job, &id));
        assert!(!created_by(&other, &id));
        assert!(!created_by(&job, &ProductId::new()));
    }
}
