//! Barcode scans: a scanner or store owner reports what it scanned into a store.
//!
//! A known barcode adds to the store's stock (creating the item if needed); an unknown but
//! valid barcode first creates a pending placeholder product for admins to name. A repeated
//! scan id is a replay and counts once.

use serde::Serialize;

use crate::auth::{Principal, Role};
use crate::domain::{
    Adjustment, AdjustmentReason, FieldErrors, Gtin, IdempotencyKey, InventoryItem, Operation,
    Product, Quantity, QuantityDelta, StoreId, Timestamp, VerificationStatus,
};
use crate::ports::StorageError;

use super::{Catalog, ServiceError, ServiceResult, fingerprint};

#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub store_id: StoreId,
    pub barcode: Gtin,
    /// How many were scanned (default 1); must be more than zero.
    pub quantity: Quantity,
    pub scan_id: Option<IdempotencyKey>,
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
        if req.quantity.is_zero() {
            return Err(
                FieldErrors::single("quantity", "zero", "quantity must be more than zero").into(),
            );
        }
        let (product, product_created) = self.product_for_scan(who, &req.barcode).await?;
        let operation = req.scan_id.as_ref().map(|k| Operation {
            key: format!("scan:{}", k.as_str()),
            fingerprint: fingerprint(&["scan", req.barcode.as_str(), &req.quantity.to_string()]),
        });
        let adjustment = Adjustment {
            store_id: req.store_id.clone(),
            product_id: product.product_id,
            delta: QuantityDelta::from_quantity(req.quantity),
            reason: AdjustmentReason::Scan,
            operation,
            create_if_missing: true,
            at: Timestamp::now(),
        };
        let outcome = self.apply_adjustment(&adjustment).await?;
        Ok(ScanOutcome {
            product,
            item: outcome.item,
            product_created,
            replayed: outcome.replayed,
        })
    }

    /// The product behind a barcode, creating a placeholder for an unknown one. A product
    /// merged into another stands for its target.
    async fn product_for_scan(
        &self,
        who: &Principal,
        barcode: &Gtin,
    ) -> ServiceResult<(Product, bool)> {
        if let Some(p) = self.find_product_by_barcode(who, barcode).await? {
            return Ok((self.follow_merge(who, p).await?, false));
        }
        let placeholder = Product::from_unknown_scan(barcode.clone(), &who.sub, Timestamp::now());
        match self.products.insert(&placeholder).await {
            Ok(()) => Ok((placeholder, true)),
            // Another scan of the same new barcode won the race: use its product.
            Err(StorageError::BarcodeTaken { existing, .. }) => {
                Ok((self.get_product(who, &existing).await?, false))
            }
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    async fn follow_merge(&self, who: &Principal, p: Product) -> ServiceResult<Product> {
        match (p.verification_status, p.merged_into) {
            (VerificationStatus::Merged, Some(target)) => self.get_product(who, &target).await,
            _ => Ok(p),
        }
    }
}
