//! A store's inventory of catalog products: stock, prices and the store's own notes.
//!
//! Owns the inventory rules: stock never goes below zero through an adjustment (only an explicit
//! count may set it, and a count is itself never negative), prices are exact money, and an item
//! is low on stock when its quantity is at or below its reorder level.

use serde::Serialize;

use super::movement::{MovementOrigin, StockChange};
use super::{
    Gtin, ImageState, ImageUrls, Money, Product, ProductId, Quantity, StoreId, Timestamp,
    VerificationStatus,
};

pub const MAX_SUPPLIER_CHARS: usize = 200;
pub const MAX_LOCATION_CHARS: usize = 100;
pub const MAX_NOTES_CHARS: usize = 2000;
pub const MAX_CUSTOM_IMAGES: usize = 10;
pub const MAX_REASON_NOTE_CHARS: usize = 500;

/// What the store owner sets on an inventory item (everything but the keys and bookkeeping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
pub struct InventoryDetails {
    pub quantity: Quantity,
    pub cost_price: Option<Money>,
    pub selling_price: Option<Money>,
    pub reorder_level: Option<Quantity>,
    pub supplier: Option<String>,
    pub location: Option<String>,
    pub custom_image_urls: Vec<String>,
    pub notes: Option<String>,
    /// The store's own photo of the item (`POST .../inventory/{product_id}/images`): set only
    /// by its processing; every other write keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<ItemPhoto>,
}

/// A store's photo of an item, processed as a product's image is (upright, without
/// metadata, content-addressed in the images bucket), and what became of its last upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ItemPhoto {
    /// SHA-256 of the kept original; absent until an upload succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<ImageUrls>,
    /// The last upload's outcome (`failed` keeps the photo before it).
    pub state: ImageState,
}

impl ItemPhoto {
    /// The photo after upload `upload_id`: its image when it was one (`Ok(hash, urls)`), else
    /// the photo `before` it with why the upload failed (`Err(code, detail)`).
    pub fn after(
        before: Option<&ItemPhoto>,
        upload_id: &str,
        outcome: Result<(String, ImageUrls), (&str, &str)>,
        at: Timestamp,
    ) -> Self {
        match outcome {
            Ok((hash, urls)) => ItemPhoto {
                image_hash: Some(hash),
                urls: Some(urls),
                state: ImageState::ready(upload_id, at),
            },
            Err((code, detail)) => ItemPhoto {
                image_hash: before.and_then(|p| p.image_hash.clone()),
                urls: before.and_then(|p| p.urls.clone()),
                state: ImageState::failed(upload_id, code, detail, at),
            },
        }
    }
}

/// What a screen shows of an item's product: enough to list it without reading the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// The pack size (`500 g`), from the product's `pack_size`, `quantity`, `weight` or
    /// `volume` attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<Gtin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub verification_status: VerificationStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// Attributes that may hold a product's pack size, in the order they are read.
pub const SIZE_ATTRIBUTES: [&str; 4] = ["pack_size", "quantity", "weight", "volume"];

impl ProductSummary {
    pub fn of(p: &Product) -> Self {
        Self {
            name: p.name.clone(),
            brand: p.brand.clone(),
            size: SIZE_ATTRIBUTES
                .iter()
                .find_map(|a| p.attributes.get(*a))
                .cloned(),
            barcode: p.barcode.clone(),
            category: p.category.clone(),
            verification_status: p.verification_status,
            thumbnail_url: p.canonical_image_urls.as_ref().map(|u| u.thumbnail.clone()),
        }
    }
}

/// One product in one store's inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InventoryItem {
    pub store_id: StoreId,
    pub product_id: ProductId,
    /// The product as it is now (lists read every product of a page at once). The item also
    /// keeps the product's name, brand, barcode and category as they were at its last write,
    /// to sort and search a store's items by them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductSummary>,
    #[serde(flatten)]
    pub details: InventoryDetails,
    pub low_stock: bool,
    pub version: u64,
    pub last_updated: Timestamp,
    /// When the store started stocking the product: a new time when an item that was removed
    /// is stocked again (its ledger starts a new life).
    pub stocked_since: Timestamp,
}

impl InventoryItem {
    pub fn new(
        store_id: StoreId,
        product_id: ProductId,
        details: InventoryDetails,
        version: u64,
        last_updated: Timestamp,
        stocked_since: Timestamp,
    ) -> Self {
        let low_stock = is_low_stock(&details);
        Self {
            store_id,
            product_id,
            product: None,
            details,
            low_stock,
            version,
            last_updated,
            stocked_since,
        }
    }

    /// The same item, keeping `product` as its product's summary.
    pub fn with_product(mut self, product: Option<ProductSummary>) -> Self {
        self.product = product;
        self
    }
}

/// At or below the reorder level (items without a reorder level are never low).
pub fn is_low_stock(d: &InventoryDetails) -> bool {
    d.reorder_level.is_some_and(|r| d.quantity <= r)
}

/// Why stock changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    Sale,
    Restock,
    Return,
    Damage,
    Expiry,
    Correction,
    Scan,
    Import,
    Other,
}

impl AdjustmentReason {
    pub const ALL: [AdjustmentReason; 9] = [
        Self::Sale,
        Self::Restock,
        Self::Return,
        Self::Damage,
        Self::Expiry,
        Self::Correction,
        Self::Scan,
        Self::Import,
        Self::Other,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::Restock => "restock",
            Self::Return => "return",
            Self::Damage => "damage",
            Self::Expiry => "expiry",
            Self::Correction => "correction",
            Self::Scan => "scan",
            Self::Import => "import",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A change of stock to apply atomically, with the movement that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub store_id: StoreId,
    pub product_id: ProductId,
    pub change: StockChange,
    /// Who asked and why (the ledger's movement).
    pub origin: MovementOrigin,
    /// When set, the adjustment is applied once per key (a retried request is a replay).
    pub operation: Option<Operation>,
    /// Create the item (from a quantity of zero) if the store does not stock it yet. Scans do
    /// this; owners' adjustments need an existing item.
    pub create_if_missing: bool,
    /// The product's summary, when the caller has it: kept on the item (a new item needs it
    /// to be found by name); `None` keeps what the item has.
    pub product: Option<ProductSummary>,
    pub at: Timestamp,
}

/// One logical client operation, for idempotency: its key and a fingerprint of the request, so
/// a reused key with a different request is refused rather than silently replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub key: String,
    pub fingerprint: String,
}

/// How long an operation key is remembered: long enough for a scanner that was offline for a
/// week to sync without counting twice.
pub const OPERATION_TTL: time::Duration = time::Duration::days(8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_stock_needs_a_reorder_level() {
        let mut d = InventoryDetails {
            quantity: Quantity::parse("3").unwrap(),
            ..Default::default()
        };
        assert!(!is_low_stock(&d));
        d.reorder_level = Some(Quantity::parse("3").unwrap());
        assert!(is_low_stock(&d));
        d.quantity = Quantity::parse("3.001").unwrap();
        assert!(!is_low_stock(&d));
    }
}
