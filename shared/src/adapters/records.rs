//! Storage records: the one flat, versioned shape of each entity at rest, shared by every
//! adapter (serde_dynamo maps it to DynamoDB items, the SQLite adapter stores it as JSON).
//!
//! Owns the conversion between domain values and stored fields, including the derived keys
//! adapters index on (category path, search text, sort keys). Amounts are stored as integer
//! minor units (paise, thousandths) so that DynamoDB's arithmetic on them is exact. Reading a
//! record that does not parse is `StorageError::Corrupt`, never a panic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{
    Actor, AdjustmentReason, Attribution, ColumnUse, CsvJob, Enrichment, EnrichmentStatus,
    FieldChange, Gtin, HistoryEntry, ImageState, ImageUrls, InventoryDetails, InventoryItem,
    ItemPhoto, JobCheckpoint, JobCounters, JobId, JobKind, JobStatus, MatchReview, Money, Movement,
    MovementKind, Product, ProductAction, ProductId, ProductSource, ProductSummary, Quantity,
    QuantityDelta, RegionCode, ReviewCandidate, StockAlert, StoreId, Timestamp, VerificationStatus,
};
use crate::ports::{StorageError, StorageResult};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {detail}"))
}

fn ts(what: &str, s: &str) -> Result<Timestamp, StorageError> {
    Timestamp::parse(s).map_err(|e| corrupt(what, e))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrlsRecord {
    pub original: String,
    pub thumbnail: String,
    pub medium: String,
}

impl From<&ImageUrls> for ImageUrlsRecord {
    fn from(u: &ImageUrls) -> Self {
        ImageUrlsRecord {
            original: u.original.clone(),
            thumbnail: u.thumbnail.clone(),
            medium: u.medium.clone(),
        }
    }
}

impl From<ImageUrlsRecord> for ImageUrls {
    fn from(u: ImageUrlsRecord) -> Self {
        ImageUrls {
            original: u.original,
            thumbnail: u.thumbnail,
            medium: u.medium,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchReviewRecord {
    pub decision: String,
    #[serde(default)]
    pub candidates: Vec<(String, u8)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageStateRecord {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub upload_id: String,
    pub at: String,
}

impl From<&ImageState> for ImageStateRecord {
    fn from(s: &ImageState) -> Self {
        ImageStateRecord {
            status: s.status.clone(),
            code: s.code.clone(),
            detail: s.detail.clone(),
            upload_id: s.upload_id.clone(),
            at: s.at.to_string(),
        }
    }
}

impl ImageStateRecord {
    fn read(self, what: &str) -> Result<ImageState, StorageError> {
        Ok(ImageState {
            status: self.status,
            code: self.code,
            detail: self.detail,
            upload_id: self.upload_id,
            at: ts(what, &self.at)?,
        })
    }
}

/// A product's Open Food Facts lookup at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichmentRecord {
    pub status: String,
    pub queued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looked_up_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filled: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The source's product page (found only; the licence and notice follow from the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

impl From<&Enrichment> for EnrichmentRecord {
    fn from(e: &Enrichment) -> Self {
        EnrichmentRecord {
            status: e.status.as_str().to_string(),
            queued_at: e.queued_at.to_string(),
            due: e.due.map(|t| t.to_string()),
            looked_up_at: e.looked_up_at.map(|t| t.to_string()),
            filled: e.filled.clone(),
            detail: e.detail.clone(),
            source_url: e.attribution.as_ref().map(|a| a.url.clone()),
        }
    }
}

impl EnrichmentRecord {
    fn read(self, what: &str) -> Result<Enrichment, StorageError> {
        Ok(Enrichment {
            status: EnrichmentStatus::parse(&self.status)
                .ok_or_else(|| corrupt(what, format!("enrichment status {}", self.status)))?,
            queued_at: ts(what, &self.queued_at)?,
            due: self.due.as_deref().map(|t| ts(what, t)).transpose()?,
            looked_up_at: self
                .looked_up_at
                .as_deref()
                .map(|t| ts(what, t))
                .transpose()?,
            filled: self.filled,
            detail: self.detail,
            attribution: self.source_url.as_deref().map(Attribution::open_food_facts),
        })
    }
}

/// A store's photo of an item at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<ImageUrlsRecord>,
    pub state: ImageStateRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub product_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_urls: Option<ImageUrlsRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_perceptual_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_state: Option<ImageStateRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_image_as: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub similar_image_as: Vec<String>,
    #[serde(default)]
    pub regional_names: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub verification_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    pub quality_score: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_review: Option<MatchReviewRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<EnrichmentRecord>,
    pub source: String,
    pub created_by: String,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Product> for ProductRecord {
    fn from(p: &Product) -> Self {
        ProductRecord {
            product_id: p.product_id.to_string(),
            name: p.name.clone(),
            brand: p.brand.clone(),
            category: p.category.clone(),
            barcode: p.barcode.as_ref().map(|b| b.to_string()),
            image_hash: p.image_hash.clone(),
            canonical_image_urls: p.canonical_image_urls.as_ref().map(Into::into),
            image_perceptual_hash: p.image_perceptual_hash.clone(),
            image_state: p.image_state.as_ref().map(Into::into),
            same_image_as: p.same_image_as.iter().map(ToString::to_string).collect(),
            similar_image_as: p.similar_image_as.iter().map(ToString::to_string).collect(),
            regional_names: p
                .regional_names
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect(),
            attributes: p.attributes.clone(),
            verification_status: p.verification_status.as_str().to_string(),
            merged_into: p.merged_into.map(|m| m.to_string()),
            match_review: p.match_review.as_ref().map(|m| MatchReviewRecord {
                decision: m.decision.clone(),
                candidates: m
                    .candidates
                    .iter()
                    .map(|c| (c.product_id.to_string(), c.confidence))
                    .collect(),
                job_id: m.job_id.as_ref().map(ToString::to_string),
                row: m.row,
            }),
            quality_score: p.quality_score,
            enrichment: p.enrichment.as_ref().map(Into::into),
            source: p.source.as_str().to_string(),
            created_by: p.created_by.clone(),
            version: p.version,
            created_at: p.created_at.to_string(),
            updated_at: p.updated_at.to_string(),
        }
    }
}

fn stored_barcode(what: &str, barcode: Option<&str>) -> Result<Option<Gtin>, StorageError> {
    barcode
        .map(Gtin::parse)
        .transpose()
        .map_err(|e| corrupt(what, e))
}

fn stored_status(what: &str, status: &str) -> Result<VerificationStatus, StorageError> {
    VerificationStatus::parse(status).ok_or_else(|| corrupt(what, format!("status {status}")))
}

/// The fields of a stored product a [`ProductSummary`] is made of, read from a
/// [`ProductRecord`]'s shape without the rest (an inventory page reads 25 of these; reading
/// whole products also checked every id, time and candidate, and rescored each).
#[derive(Debug, Deserialize)]
pub struct ProductSummaryRecord {
    pub product_id: String,
    pub name: String,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub canonical_image_urls: Option<ThumbnailRecord>,
    #[serde(default)]
    pub attributes: SizeAttributesRecord,
    pub verification_status: String,
}

/// A stored product's image URLs, of which a summary shows the thumbnail.
#[derive(Debug, Deserialize)]
pub struct ThumbnailRecord {
    pub thumbnail: String,
}

/// The attributes that may hold a product's pack size ([`crate::domain::inventory::SIZE_ATTRIBUTES`]);
/// the others are passed over.
#[derive(Debug, Default, Deserialize)]
pub struct SizeAttributesRecord {
    #[serde(default)]
    pack_size: Option<String>,
    #[serde(default)]
    quantity: Option<String>,
    #[serde(default)]
    weight: Option<String>,
    #[serde(default)]
    volume: Option<String>,
}

impl SizeAttributesRecord {
    /// The first one present, in `SIZE_ATTRIBUTES`' order.
    fn size(self) -> Option<String> {
        self.pack_size
            .or(self.quantity)
            .or(self.weight)
            .or(self.volume)
    }
}

impl TryFrom<ProductSummaryRecord> for (ProductId, ProductSummary) {
    type Error = StorageError;

    fn try_from(r: ProductSummaryRecord) -> Result<Self, StorageError> {
        let what = "product";
        let id = ProductId::parse(&r.product_id).map_err(|e| corrupt(what, e))?;
        let summary = ProductSummary {
            name: r.name,
            brand: r.brand,
            size: r.attributes.size(),
            barcode: stored_barcode(what, r.barcode.as_deref())?,
            category: r.category,
            verification_status: stored_status(what, &r.verification_status)?,
            thumbnail_url: r.canonical_image_urls.map(|u| u.thumbnail),
        };
        Ok((id, summary))
    }
}

impl TryFrom<ProductRecord> for Product {
    type Error = StorageError;

    fn try_from(r: ProductRecord) -> Result<Self, StorageError> {
        let what = "product";
        let mut regional_names = BTreeMap::new();
        for (k, v) in r.regional_names {
            regional_names.insert(RegionCode::parse(&k).map_err(|e| corrupt(what, e))?, v);
        }
        let mut p = Product {
            product_id: ProductId::parse(&r.product_id).map_err(|e| corrupt(what, e))?,
            name: r.name,
            brand: r.brand,
            category: r.category,
            barcode: stored_barcode(what, r.barcode.as_deref())?,
            image_hash: r.image_hash,
            canonical_image_urls: r.canonical_image_urls.map(Into::into),
            image_perceptual_hash: r.image_perceptual_hash,
            image_state: r.image_state.map(|s| s.read(what)).transpose()?,
            same_image_as: r
                .same_image_as
                .iter()
                .map(|i| ProductId::parse(i))
                .collect::<Result<_, _>>()
                .map_err(|e| corrupt(what, e))?,
            similar_image_as: r
                .similar_image_as
                .iter()
                .map(|i| ProductId::parse(i))
                .collect::<Result<_, _>>()
                .map_err(|e| corrupt(what, e))?,
            regional_names,
            attributes: r.attributes,
            verification_status: stored_status(what, &r.verification_status)?,
            merged_into: r
                .merged_into
                .as_deref()
                .map(ProductId::parse)
                .transpose()
                .map_err(|e| corrupt(what, e))?,
            quality_score: r.quality_score,
            quality_reasons: Vec::new(),
            match_review: r
                .match_review
                .map(|m| -> Result<MatchReview, StorageError> {
                    Ok(MatchReview {
                        decision: m.decision,
                        candidates: m
                            .candidates
                            .into_iter()
                            .map(|(id, confidence)| {
                                Ok(ReviewCandidate {
                                    product_id: ProductId::parse(&id)
                                        .map_err(|e| corrupt(what, e))?,
                                    confidence,
                                })
                            })
                            .collect::<Result<_, StorageError>>()?,
                        job_id: m
                            .job_id
                            .as_deref()
                            .map(JobId::parse)
                            .transpose()
                            .map_err(|e| corrupt(what, e))?,
                        row: m.row,
                    })
                })
                .transpose()?,
            enrichment: r.enrichment.map(|e| e.read(what)).transpose()?,
            source: ProductSource::parse(&r.source)
                .ok_or_else(|| corrupt(what, format!("source {}", r.source)))?,
            created_by: r.created_by,
            version: r.version,
            created_at: ts(what, &r.created_at)?,
            updated_at: ts(what, &r.updated_at)?,
        };
        // The score and its reasons, by today's rule.
        p.rescore();
        Ok(p)
    }
}

/// The key products sort by within a status: creation time, then id.
pub fn created_sort_key(created_at: &Timestamp, id: &impl std::fmt::Display) -> String {
    format!("{created_at}#{id}")
}

/// The key pending products sort by in the review queue: quality score, then creation.
pub fn quality_sort_key(p: &Product) -> String {
    format!(
        "{:03}#{}",
        p.quality_score,
        created_sort_key(&p.created_at, &p.product_id)
    )
}

/// A category path in comparable form: segments trimmed, lower-cased, each followed by `>`
/// ("Foodgrains > Dal" -> "foodgrains>dal>"), so that a prefix of segments is a text prefix.
pub fn category_path_key(category: &str) -> String {
    let mut out = String::new();
    for seg in category.split('>') {
        let seg = seg
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if !seg.is_empty() {
            out.push_str(&seg);
            out.push('>');
        }
    }
    out
}

/// The first segment of a category path key (DynamoDB partitions the category index by it).
pub fn category_root(path_key: &str) -> &str {
    path_key.split('>').next().unwrap_or("")
}

/// Lower-case text that word filters search: name, brand and barcode.
pub fn search_text(p: &Product) -> String {
    let mut s = p.name.to_lowercase();
    if let Some(b) = &p.brand {
        s.push(' ');
        s.push_str(&b.to_lowercase());
    }
    if let Some(b) = &p.barcode {
        s.push(' ');
        s.push_str(b.as_str());
    }
    s
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryRecord {
    pub store_id: String,
    pub product_id: String,
    /// Thousandths of a unit.
    pub quantity_milli: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_paise: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selling_paise: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_milli: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default)]
    pub custom_image_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoRecord>,
    pub version: u64,
    pub last_updated: String,
    /// Absent in items stored before the ledger: read as the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stocked_since: Option<String>,
    /// The product as it was at the item's last write (absent in items stored before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<SummaryRecord>,
    // Derived keys the store's listings sort and filter on (each ends in the product id, so
    // every key is unique and a cursor is one value).
    /// Folded product name (`~` without one, to sort last).
    #[serde(default)]
    pub name_sort: String,
    /// Zero-padded thousandths.
    #[serde(default)]
    pub qty_sort: String,
    #[serde(default)]
    pub updated_sort: String,
    /// Lower-case name, brand and barcode, for word filters.
    #[serde(default)]
    pub search_text: String,
    /// The product's category path key (see [`category_path_key`]), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_sort: Option<String>,
}

/// A product summary at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

impl From<&ProductSummary> for SummaryRecord {
    fn from(p: &ProductSummary) -> Self {
        SummaryRecord {
            name: p.name.clone(),
            brand: p.brand.clone(),
            size: p.size.clone(),
            barcode: p.barcode.as_ref().map(|b| b.to_string()),
            category: p.category.clone(),
            status: p.verification_status.as_str().to_string(),
            thumbnail_url: p.thumbnail_url.clone(),
        }
    }
}

impl TryFrom<SummaryRecord> for ProductSummary {
    type Error = StorageError;

    fn try_from(r: SummaryRecord) -> Result<Self, StorageError> {
        let what = "inventory item's product";
        Ok(ProductSummary {
            name: r.name,
            brand: r.brand,
            size: r.size,
            barcode: stored_barcode(what, r.barcode.as_deref())?,
            category: r.category,
            verification_status: stored_status(what, &r.status)?,
            thumbnail_url: r.thumbnail_url,
        })
    }
}

/// Letters and digits only, lower case (`Tata  Salt-1kg` -> `tatasalt1kg`), for name order.
fn fold_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a summary that a store's word filter searches: name, brand, barcode.
pub fn summary_search_text(p: &ProductSummary) -> String {
    let mut s = p.name.to_lowercase();
    for extra in [p.brand.as_deref(), p.barcode.as_ref().map(|b| b.as_str())]
        .into_iter()
        .flatten()
    {
        s.push(' ');
        s.push_str(&extra.to_lowercase());
    }
    s
}

/// The `stocked_since` of items stored before the ledger existed.
const LEGACY_STOCKED_SINCE: &str = "1970-01-01T00:00:00.000Z";

impl InventoryRecord {
    pub fn of(i: &InventoryItem) -> Self {
        let mut r = Self::new(
            &i.store_id,
            &i.product_id,
            &i.details,
            i.version,
            i.last_updated,
            i.stocked_since,
        );
        if let Some(p) = &i.product {
            r.name_sort = format!("{}#{}", fold_name(&p.name), i.product_id);
            r.search_text = summary_search_text(p);
            r.category_sort = p.category.as_deref().map(category_path_key);
            r.product = Some(p.into());
        }
        r
    }

    pub fn new(
        store: &StoreId,
        product: &ProductId,
        d: &InventoryDetails,
        version: u64,
        at: Timestamp,
        stocked_since: Timestamp,
    ) -> Self {
        InventoryRecord {
            store_id: store.to_string(),
            product_id: product.to_string(),
            quantity_milli: d.quantity.to_minor(),
            cost_paise: d.cost_price.map(Money::to_minor),
            selling_paise: d.selling_price.map(Money::to_minor),
            reorder_milli: d.reorder_level.map(Quantity::to_minor),
            supplier: d.supplier.clone(),
            location: d.location.clone(),
            custom_image_urls: d.custom_image_urls.clone(),
            notes: d.notes.clone(),
            photo: d.photo.as_ref().map(|p| PhotoRecord {
                image_hash: p.image_hash.clone(),
                urls: p.urls.as_ref().map(Into::into),
                state: (&p.state).into(),
            }),
            version,
            last_updated: at.to_string(),
            stocked_since: Some(stocked_since.to_string()),
            product: None,
            name_sort: format!("~#{product}"),
            qty_sort: format!("{:013}#{product}", d.quantity.to_minor()),
            updated_sort: format!("{at}#{product}"),
            search_text: String::new(),
            category_sort: None,
        }
    }

    pub fn stocked_since(&self) -> StorageResult<Timestamp> {
        ts(
            "inventory item",
            self.stocked_since
                .as_deref()
                .unwrap_or(LEGACY_STOCKED_SINCE),
        )
    }
}

impl TryFrom<InventoryRecord> for InventoryItem {
    type Error = StorageError;

    fn try_from(r: InventoryRecord) -> Result<Self, StorageError> {
        let what = "inventory item";
        let c = |e| corrupt(what, e);
        let stocked_since = r.stocked_since()?;
        let product = r.product.map(ProductSummary::try_from).transpose()?;
        let details = InventoryDetails {
            quantity: Quantity::from_minor(r.quantity_milli).map_err(c)?,
            cost_price: r.cost_paise.map(Money::from_minor).transpose().map_err(c)?,
            selling_price: r
                .selling_paise
                .map(Money::from_minor)
                .transpose()
                .map_err(c)?,
            reorder_level: r
                .reorder_milli
                .map(Quantity::from_minor)
                .transpose()
                .map_err(c)?,
            supplier: r.supplier,
            location: r.location,
            custom_image_urls: r.custom_image_urls,
            notes: r.notes,
            photo: r
                .photo
                .map(|p| -> Result<ItemPhoto, StorageError> {
                    Ok(ItemPhoto {
                        image_hash: p.image_hash,
                        urls: p.urls.map(Into::into),
                        state: p.state.read(what)?,
                    })
                })
                .transpose()?,
        };
        Ok(InventoryItem::new(
            StoreId::parse(&r.store_id).map_err(|e| corrupt(what, e))?,
            ProductId::parse(&r.product_id).map_err(|e| corrupt(what, e))?,
            details,
            r.version,
            ts(what, &r.last_updated)?,
            stocked_since,
        )
        .with_product(product))
    }
}

/// A product history entry at rest (the changes as JSON text: any field's values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub product_id: String,
    pub version: u64,
    pub action: String,
    pub actor_sub: String,
    pub actor_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub changes: String,
}

impl From<&HistoryEntry> for HistoryRecord {
    fn from(h: &HistoryEntry) -> Self {
        let changes: serde_json::Map<String, serde_json::Value> = h
            .changes
            .iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    serde_json::json!({"before": c.before, "after": c.after}),
                )
            })
            .collect();
        HistoryRecord {
            product_id: h.product_id.to_string(),
            version: h.version,
            action: h.action.as_str().to_string(),
            actor_sub: h.actor.sub.clone(),
            actor_role: h.actor.role.clone(),
            request_id: h.actor.request_id.clone(),
            at: h.at.to_string(),
            reason: h.reason.clone(),
            changes: serde_json::Value::Object(changes).to_string(),
        }
    }
}

impl TryFrom<HistoryRecord> for HistoryEntry {
    type Error = StorageError;

    fn try_from(r: HistoryRecord) -> Result<Self, StorageError> {
        let what = "product history entry";
        let changes: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&r.changes).map_err(|e| corrupt(what, e))?;
        Ok(HistoryEntry {
            product_id: ProductId::parse(&r.product_id).map_err(|e| corrupt(what, e))?,
            version: r.version,
            action: ProductAction::parse(&r.action)
                .ok_or_else(|| corrupt(what, format!("action {}", r.action)))?,
            actor: Actor {
                sub: r.actor_sub,
                role: r.actor_role,
                request_id: r.request_id,
            },
            at: ts(what, &r.at)?,
            reason: r.reason,
            changes: changes
                .into_iter()
                .map(|(k, v)| {
                    let c = FieldChange {
                        before: v.get("before").cloned().unwrap_or_default(),
                        after: v.get("after").cloned().unwrap_or_default(),
                    };
                    (k, c)
                })
                .collect(),
        })
    }
}

/// A stock movement at rest. Quantities are thousandths, like the item's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovementRecord {
    pub store_id: String,
    pub product_id: String,
    pub stocked_since: String,
    pub version: u64,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_milli: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_milli: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_milli: Option<i64>,
    pub after_milli: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub actor: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_milli: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

impl From<&Movement> for MovementRecord {
    fn from(m: &Movement) -> Self {
        MovementRecord {
            store_id: m.store_id.to_string(),
            product_id: m.product_id.to_string(),
            stocked_since: m.stocked_since.to_string(),
            version: m.version,
            kind: m.kind.as_str().to_string(),
            delta_milli: m.delta.map(QuantityDelta::to_minor),
            count_milli: m.count.map(Quantity::to_minor),
            before_milli: m.quantity_before.map(Quantity::to_minor),
            after_milli: m.quantity_after.to_minor(),
            reason: m.reason.map(|r| r.as_str().to_string()),
            actor: m.actor.clone(),
            at: m.at.to_string(),
            source_id: m.source_id.clone(),
            request_id: m.request_id.clone(),
            device_time: m.device_time.map(|t| t.to_string()),
            reorder_milli: m.reorder_level.map(Quantity::to_minor),
            alerts: m.alerts.iter().map(|a| a.as_str().to_string()).collect(),
        }
    }
}

impl TryFrom<MovementRecord> for Movement {
    type Error = StorageError;

    fn try_from(r: MovementRecord) -> Result<Self, StorageError> {
        let what = "stock movement";
        let c = |e| corrupt(what, e);
        let delta = r
            .delta_milli
            .map(|d| {
                QuantityDelta::try_from_decimal(rust_decimal::Decimal::new(d, Quantity::SCALE))
            })
            .transpose()
            .map_err(c)?;
        Ok(Movement {
            store_id: StoreId::parse(&r.store_id).map_err(|e| corrupt(what, e))?,
            product_id: ProductId::parse(&r.product_id).map_err(|e| corrupt(what, e))?,
            stocked_since: ts(what, &r.stocked_since)?,
            version: r.version,
            kind: MovementKind::parse(&r.kind)
                .ok_or_else(|| corrupt(what, format!("kind {}", r.kind)))?,
            delta,
            count: r
                .count_milli
                .map(Quantity::from_minor)
                .transpose()
                .map_err(c)?,
            quantity_before: r
                .before_milli
                .map(Quantity::from_minor)
                .transpose()
                .map_err(c)?,
            quantity_after: Quantity::from_minor(r.after_milli).map_err(c)?,
            reason: r
                .reason
                .map(|s| {
                    AdjustmentReason::parse(&s).ok_or_else(|| corrupt(what, format!("reason {s}")))
                })
                .transpose()?,
            actor: r.actor,
            at: ts(what, &r.at)?,
            source_id: r.source_id,
            request_id: r.request_id,
            device_time: r.device_time.as_deref().map(|t| ts(what, t)).transpose()?,
            reorder_level: r
                .reorder_milli
                .map(Quantity::from_minor)
                .transpose()
                .map_err(c)?,
            alerts: r
                .alerts
                .iter()
                .map(|a| StockAlert::parse(a).ok_or_else(|| corrupt(what, format!("alert {a}"))))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub store_id: String,
    pub status: String,
    pub total_rows: u64,
    pub processed: u64,
    pub successful: u64,
    pub failed: u64,
    pub duplicates_found: u64,
    pub upload_key: String,
    #[serde(default)]
    pub upload_bytes: u64,
    #[serde(default)]
    pub bytes_read: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnUse>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_notes: Vec<String>,
    /// `import` (absent in jobs stored before exports) or `export`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_stats: Option<crate::domain::job::OffImportStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<String>,
    pub created_by: String,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// A job's resume point, with the counters as they stood there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub next_row: u64,
    pub bytes_read: u64,
    pub total_rows: u64,
    pub processed: u64,
    pub successful: u64,
    pub failed: u64,
    pub duplicates_found: u64,
}

impl From<&CsvJob> for JobRecord {
    fn from(j: &CsvJob) -> Self {
        JobRecord {
            job_id: j.job_id.to_string(),
            store_id: j.store_id.to_string(),
            status: j.status.as_str().to_string(),
            total_rows: j.counters.total_rows,
            processed: j.counters.processed,
            successful: j.counters.successful,
            failed: j.counters.failed,
            duplicates_found: j.counters.duplicates_found,
            upload_key: j.upload_key.clone(),
            upload_bytes: j.upload_bytes,
            bytes_read: j.bytes_read,
            report_key: j.report_key.clone(),
            failure_reason: j.failure_reason.clone(),
            failure_code: j.failure_code.clone(),
            columns: j.columns.clone(),
            column_notes: j.column_notes.clone(),
            kind: (j.kind != JobKind::Import).then(|| j.kind.as_str().to_string()),
            export_key: j.export_key.clone(),
            off_stats: j.off_stats.clone(),
            checkpoint: j.checkpoint.map(|c| CheckpointRecord {
                next_row: c.next_row,
                bytes_read: c.bytes_read,
                total_rows: c.counters.total_rows,
                processed: c.counters.processed,
                successful: c.counters.successful,
                failed: c.counters.failed,
                duplicates_found: c.counters.duplicates_found,
            }),
            lease_until: j.lease_until.map(|t| t.to_string()),
            created_by: j.created_by.clone(),
            version: j.version,
            created_at: j.created_at.to_string(),
            updated_at: j.updated_at.to_string(),
            completed_at: j.completed_at.map(|t| t.to_string()),
        }
    }
}

impl TryFrom<JobRecord> for CsvJob {
    type Error = StorageError;

    fn try_from(r: JobRecord) -> Result<Self, StorageError> {
        let what = "job";
        let checkpoint = r.checkpoint.map(|c| JobCheckpoint {
            next_row: c.next_row,
            bytes_read: c.bytes_read,
            counters: JobCounters {
                total_rows: c.total_rows,
                processed: c.processed,
                successful: c.successful,
                failed: c.failed,
                duplicates_found: c.duplicates_found,
            },
        });
        Ok(CsvJob {
            job_id: JobId::parse(&r.job_id).map_err(|e| corrupt(what, e))?,
            store_id: StoreId::parse(&r.store_id).map_err(|e| corrupt(what, e))?,
            status: JobStatus::parse(&r.status)
                .ok_or_else(|| corrupt(what, format!("status {}", r.status)))?,
            counters: JobCounters {
                total_rows: r.total_rows,
                processed: r.processed,
                successful: r.successful,
                failed: r.failed,
                duplicates_found: r.duplicates_found,
            },
            upload_key: r.upload_key,
            upload_bytes: r.upload_bytes,
            bytes_read: r.bytes_read,
            report_key: r.report_key,
            failure_reason: r.failure_reason,
            failure_code: r.failure_code,
            columns: r.columns,
            column_notes: r.column_notes,
            kind: match r.kind.as_deref() {
                None => JobKind::Import,
                Some(k) => JobKind::parse(k).ok_or_else(|| corrupt(what, format!("kind {k}")))?,
            },
            export_key: r.export_key,
            off_stats: r.off_stats,
            checkpoint,
            lease_until: r.lease_until.as_deref().map(|s| ts(what, s)).transpose()?,
            created_by: r.created_by,
            version: r.version,
            created_at: ts(what, &r.created_at)?,
            updated_at: ts(what, &r.updated_at)?,
            completed_at: r.completed_at.as_deref().map(|s| ts(what, s)).transpose()?,
        })
    }
}

/// A place in a time-ordered key: the time in milliseconds (15 digits), `#`, then `tail` (an
/// id, or `""`/`"~"` for the bounds of a millisecond), so text order is time order. The change
/// feed, webhook deliveries and the due deliveries' index key on it.
pub fn time_place(at: crate::domain::Timestamp, tail: &impl std::fmt::Display) -> String {
    format!("{:015}#{tail}", at.unix_millis().max(0))
}

/// Whether `s` is a [`time_place`] with a UUID for its tail (a continuation a client sent
/// back must be one before it becomes a key).
pub fn is_time_place(s: &str) -> bool {
    s.split_once('#').is_some_and(|(ms, id)| {
        ms.len() == 15
            && ms.bytes().all(|b| b.is_ascii_digit())
            && uuid::Uuid::try_parse(id).is_ok()
    })
}

/// A webhook delivery's place among its webhook's deliveries, in key order (newest first is
/// this, descending): the event's time, then the delivery's id.
pub fn delivery_place(d: &crate::domain::Delivery) -> String {
    time_place(d.event_time, &d.delivery_id)
}

/// When a webhook delivery is due, while it is pending: what the adapters index to find the
/// due ones without reading the rest.
pub fn delivery_due(d: &crate::domain::Delivery) -> Option<crate::domain::Timestamp> {
    (d.status == crate::domain::DeliveryStatus::Pending)
        .then_some(d.next_attempt_at)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary's size comes from the attributes `SIZE_ATTRIBUTES` names, the first
    /// present in its order, as `ProductSummary::of` reads them.
    #[test]
    fn summary_sizes_follow_the_size_attributes() {
        let size = |attrs: &[&str]| {
            let attributes: serde_json::Map<String, serde_json::Value> = attrs
                .iter()
                .map(|a| (a.to_string(), serde_json::Value::from(format!("{a} value"))))
                .chain([("colour".to_string(), serde_json::Value::from("red"))])
                .collect();
            serde_json::from_value::<SizeAttributesRecord>(attributes.into())
                .unwrap()
                .size()
        };
        let all = crate::domain::inventory::SIZE_ATTRIBUTES;
        for (i, a) in all.iter().enumerate() {
            assert_eq!(size(&[a]), Some(format!("{a} value")), "{a} alone");
            // With every later one present too, this one still wins.
            assert_eq!(size(&all[i..]), Some(format!("{a} value")), "{a} first");
        }
        assert_eq!(size(&[]), None);
    }

    #[test]
    fn category_keys_compare_by_segment() {
        assert_eq!(
            category_path_key(" Foodgrains >  Dal  & Pulses "),
            "foodgrains>dal & pulses>"
        );
        assert!(
            category_path_key("Foodgrains > Dal").starts_with(&category_path_key("foodgrains"))
        );
        assert!(
            !category_path_key("Beauty > Face Care")
                .starts_with(&category_path_key("Beauty > Face"))
        );
        assert_eq!(category_root("foodgrains>dal>"), "foodgrains");
    }
}
