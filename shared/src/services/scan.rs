//! Barcode scans: a scanner or store owner reports what it scanned into a store.
//!
//! A scan has a mode: `receive` adds to the store's stock (creating the item if needed),
//! `sell` takes away (never below zero), `count` sets the shelf count (a stock-take). An
//! unknown but valid barcode received or counted first creates a pending placeholder product
//! for admins to name. A repeated scan id is a replay and counts once; a scanner that was
//! offline sends its queue as one batch, applied in order.

use serde::Serialize;

use crate::auth::{Principal, Role};
use crate::domain::{
    Adjustment, AdjustmentReason, FieldErrors, Gtin, IdempotencyKey, InventoryItem, MovementKind,
    Operation, Product, ProductSummary, Quantity, QuantityDelta, StockChange, StoreId, Timestamp,
    VerificationStatus,
};
use crate::ports::StorageError;

use super::inventory::origin;
use super::{Catalog, ServiceError, ServiceResult, actor, fingerprint};
use crate::domain::HistoryEntry;

/// What a scan does to the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// Goods in: add the quantity (the default).
    #[default]
    Receive,
    /// Goods out: take the quantity away, never below zero.
    Sell,
    /// A stock-take: the quantity is what is on the shelf.
    Count,
}

impl ScanMode {
    pub const ALL: [ScanMode; 3] = [Self::Receive, Self::Sell, Self::Count];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Sell => "sell",
            Self::Count => "count",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Most scans one batch may carry.
pub const MAX_SCAN_BATCH: usize = 500;

#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub store_id: StoreId,
    pub barcode: Gtin,
    /// How many were scanned (default 1): more than zero, except that a count may be zero.
    pub quantity: Quantity,
    pub mode: ScanMode,
    pub scan_id: Option<IdempotencyKey>,
    /// When the device saw it (an offline queue's scans arrive later).
    pub device_time: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanOutcome {
    pub product: Product,
    pub item: InventoryItem,
    /// The barcode was new to the catalog and a pending product was created for it.
    pub product_created: bool,
    /// This scan id had been seen before; stock did not change now.
    pub replayed: bool,
}

impl Catalog {
    pub async fn scan(&self, who: &Principal, req: ScanRequest) -> ServiceResult<ScanOutcome> {
        who.require_store(
            &[Role::Admin, Role::StoreOwner, Role::Scanner],
            &req.store_id,
        )?;
        if req.quantity.is_zero() && req.mode != ScanMode::Count {
            return Err(
                FieldErrors::single("quantity", "zero", "quantity must be more than zero").into(),
            );
        }
        let (product, product_created) = match req.mode {
            // Nothing can be sold of a product the catalog does not know.
            ScanMode::Sell => (
                self.find_product_by_barcode(who, &req.barcode)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound {
                        what: "product",
                        id: req.barcode.to_string(),
                    })?,
                false,
            ),
            ScanMode::Receive | ScanMode::Count => self.product_for_scan(who, &req.barcode).await?,
        };
        let mut product = if product_created {
            product
        } else {
            self.follow_merge(who, product).await?
        };
        let operation = req.scan_id.as_ref().map(|k| Operation {
            key: format!("scan:{}", k.as_str()),
            fingerprint: fingerprint(&[
                "scan",
                req.barcode.as_str(),
                &req.quantity.to_string(),
                req.mode.as_str(),
            ]),
        });
        let (change, kind, reason) = match req.mode {
            ScanMode::Receive => (
                StockChange::Add(QuantityDelta::from_quantity(req.quantity)),
                MovementKind::Scan,
                Some(AdjustmentReason::Restock),
            ),
            ScanMode::Sell => (
                StockChange::Add(QuantityDelta::from_quantity(req.quantity).negated()),
                MovementKind::Scan,
                Some(AdjustmentReason::Sale),
            ),
            ScanMode::Count => (StockChange::Set(req.quantity), MovementKind::Count, None),
        };
        let mut origin = origin(who, kind);
        origin.reason = reason;
        origin.device_time = req.device_time;
        if let Some(k) = &req.scan_id {
            origin = origin.source(format!("scan:{}", k.as_str()));
        }
        let mut followed = false;
        let outcome = loop {
            let adjustment = Adjustment {
                store_id: req.store_id.clone(),
                product_id: product.product_id,
                change,
                origin: origin.clone(),
                operation: operation.clone(),
                // A sale needs stock; a missing item has none.
                create_if_missing: req.mode != ScanMode::Sell,
                product: Some(ProductSummary::of(&product)),
                at: Timestamp::now(),
            };
            match self.apply_adjustment(&adjustment).await {
                // Selling what the store does not stock: none available.
                Err(ServiceError::NotFound { .. }) if req.mode == ScanMode::Sell => {
                    return Err(ServiceError::InsufficientStock {
                        available: Quantity::ZERO,
                        delta: QuantityDelta::from_quantity(req.quantity).negated(),
                    });
                }
                // Merged since it was read: the scan lands on the product it became.
                Err(e) if e.is_product_merged() && !followed => {
                    followed = true;
                    let now = self.get_product(who, &product.product_id).await?;
                    product = self.follow_merge(who, now).await?;
                }
                other => break other?,
            }
        };
        Ok(ScanOutcome {
            product,
            item: outcome.item,
            product_created,
            replayed: outcome.replayed,
        })
    }

    /// Applies scans queued offline, in order, each once per scan id; one result per scan.
    /// When storage fails (or fails internally), or `until` comes, the scans after are not
    /// tried (an offline queue is ordered: a count must not land before the sales scanned
    /// ahead of it); they answer `Unavailable`, and the device sends them again.
    pub async fn scan_batch(
        &self,
        who: &Principal,
        scans: Vec<ServiceResult<ScanRequest>>,
        until: tokio::time::Instant,
    ) -> Vec<ServiceResult<ScanOutcome>> {
        let mut out = Vec::with_capacity(scans.len());
        let mut halted: Option<&str> = None;
        for scan in scans {
            if halted.is_none() && tokio::time::Instant::now() >= until {
                halted = Some("not tried: the batch ran out of time; send the rest again");
            }
            if let Some(why) = halted {
                out.push(Err(ServiceError::Unavailable(StorageError::Unavailable(
                    why.into(),
                ))));
                continue;
            }
            let result = match scan {
                Ok(req) => self.scan(who, req).await,
                Err(e) => Err(e),
            };
            if matches!(
                result,
                Err(ServiceError::Unavailable(_) | ServiceError::Internal(_))
            ) {
                halted = Some("not tried: an earlier scan of the batch failed in storage");
            }
            out.push(result);
        }
        out
    }

    /// The product behind a barcode, creating a placeholder for an unknown one.
    async fn product_for_scan(
        &self,
        who: &Principal,
        barcode: &Gtin,
    ) -> ServiceResult<(Product, bool)> {
        if let Some(p) = self.find_product_by_barcode(who, barcode).await? {
            return Ok((p, false));
        }
        let placeholder = Product::from_unknown_scan(barcode.clone(), &who.sub, Timestamp::now());
        let history =
            HistoryEntry::created(&placeholder, actor(who), Some(format!("scanned {barcode}")));
        match self.products.insert(&placeholder, &history).await {
            Ok(()) => {
                self.request_enrichment(&[&placeholder]).await;
                Ok((placeholder, true))
            }
            // Another scan of the same new barcode won the race: use its product.
            Err(StorageError::BarcodeTaken { existing, .. }) => {
                Ok((self.get_product(who, &existing).await?, false))
            }
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    /// A product merged into another stands for its target.
    async fn follow_merge(&self, who: &Principal, p: Product) -> ServiceResult<Product> {
        match (p.verification_status, p.merged_into) {
            (VerificationStatus::Merged, Some(target)) => self.get_product(who, &target).await,
            _ => Ok(p),
        }
    }
}
