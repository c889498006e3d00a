//! A store's inventory: read, list, set, remove, atomic stock adjustments, and each item's
//! ledger of movements.
//!
//! Access: admins and the store's owners change stock; its scanners may also read it. Stock
//! only moves through conditional writes in the adapters, each with its movement; here we
//! decide what may be asked of them, and announce the stock alerts a change crosses.

use crate::auth::{Principal, Role};
use crate::domain::{
    Adjustment, AdjustmentReason, FieldErrors, IdempotencyKey, InventoryDetails, InventoryItem,
    Movement, MovementKind, MovementOrigin, Operation, ProductId, ProductSummary, QuantityDelta,
    StockChange, StoreId, Timestamp, VerificationStatus,
};
use crate::ports::{
    AdjustOutcome, Expect, InventoryFilter, InventoryOrder, PutOutcome, SetItem, StorageError,
};

use super::{Catalog, Listing, PageRequest, ServiceError, ServiceResult, fingerprint};

const OWNERS: &[Role] = &[Role::Admin, Role::StoreOwner];
/// Who may read a store's inventory: its owners, and its scanners (read-only).
const READERS: &[Role] = &[Role::Admin, Role::StoreOwner, Role::Scanner];

/// The origin of a change `who` makes now.
pub(super) fn origin(who: &Principal, kind: MovementKind) -> MovementOrigin {
    MovementOrigin::new(kind, &who.sub).request(who.request_id.as_deref())
}

/// Setting an item: its details and what the caller expects to replace.
#[derive(Debug, Clone)]
pub struct PutRequest {
    pub details: InventoryDetails,
    /// `Some(v)`: replace only version `v` (`If-Match`); `None`: create or replace.
    pub expect_version: Option<u64>,
    /// Create only (`If-None-Match: *`).
    pub create_only: bool,
}

#[derive(Debug, Clone)]
pub struct AdjustRequest {
    pub delta: QuantityDelta,
    pub reason: AdjustmentReason,
    pub key: Option<IdempotencyKey>,
}

impl Catalog {
    pub async fn get_inventory_item(
        &self,
        who: &Principal,
        store: &StoreId,
        product: &ProductId,
    ) -> ServiceResult<InventoryItem> {
        who.require_store(READERS, store)?;
        let item = self
            .inventory
            .get(store, product)
            .await
            .map_err(ServiceError::storage)?
            .ok_or_else(|| not_stocked(store, product))?;
        let mut items = self.with_products(vec![item]).await?;
        Ok(items.pop().expect("one item in, one out"))
    }

    /// `items` with their products' current summaries, read at once (one batched read of at
    /// most [`MAX_PAGE_SIZE`](crate::ports::MAX_PAGE_SIZE) products). An item whose product is
    /// gone keeps the summary it stored.
    pub(super) async fn with_products(
        &self,
        items: Vec<InventoryItem>,
    ) -> ServiceResult<Vec<InventoryItem>> {
        let ids: Vec<ProductId> = items.iter().map(|i| i.product_id).collect();
        let mut found: std::collections::HashMap<ProductId, ProductSummary> = self
            .products
            .summaries(&ids)
            .await
            .map_err(ServiceError::storage)?
            .into_iter()
            .collect();
        Ok(items
            .into_iter()
            .map(|i| {
                let fresh = found.remove(&i.product_id);
                match fresh {
                    Some(p) => i.with_product(Some(p)),
                    None => i,
                }
            })
            .collect())
    }

    pub async fn list_inventory(
        &self,
        who: &Principal,
        store: &StoreId,
        filter: InventoryFilter,
        order: InventoryOrder,
        page: &PageRequest,
    ) -> ServiceResult<Listing<InventoryItem>> {
        who.require_store(READERS, store)?;
        // A cursor serves only the listing it came from (same filters, same order).
        let scope = format!(
            "inventory|store={store}|low_stock={}|out_of_stock={}|words={}|category={}|order={:?}",
            filter.low_stock,
            filter.out_of_stock,
            filter.words.join(" "),
            filter.category.as_deref().unwrap_or(""),
            order,
        );
        let query = self.open_page(&scope, page)?;
        let mut found = self
            .inventory
            .list(store, &filter, order, &query)
            .await
            .map_err(ServiceError::storage)?;
        found.items = self.with_products(found.items).await?;
        Ok(self.seal_page(&scope, found, |i| i))
    }

    /// An item's movements, newest first (the item need not be stocked now: a removed item's
    /// ledger stays readable).
    pub async fn list_movements(
        &self,
        who: &Principal,
        store: &StoreId,
        product: &ProductId,
        page: &PageRequest,
    ) -> ServiceResult<Listing<Movement>> {
        who.require_store(READERS, store)?;
        let scope = format!("movements|store={store}|product={product}");
        let query = self.open_page(&scope, page)?;
        let found = self
            .inventory
            .movements(store, product, &query)
            .await
            .map_err(ServiceError::storage)?;
        Ok(self.seal_page(&scope, found, |m| m))
    }

    /// Creates or replaces a store's item for a catalog product (an explicit count). Returns
    /// the item and whether it was created.
    pub async fn put_inventory_item(
        &self,
        who: &Principal,
        store: &StoreId,
        product: &ProductId,
        req: PutRequest,
    ) -> ServiceResult<(InventoryItem, bool)> {
        who.require_store(OWNERS, store)?;
        let stocked = self.require_stockable(who, product).await?;
        let expect = match (req.create_only, req.expect_version) {
            (true, _) => Expect::Absent,
            (false, Some(v)) => Expect::Version(v),
            (false, None) => Expect::Anything,
        };
        let set = SetItem {
            details: req.details,
            expect,
            origin: origin(who, MovementKind::Put),
            product: Some(ProductSummary::of(&stocked)),
            at: Timestamp::now(),
        };
        match self.inventory.put(store, product, &set).await {
            Ok(PutOutcome {
                item,
                created,
                movement,
            }) => {
                if let Some(m) = &movement {
                    self.announce(m).await;
                }
                Ok((item, created))
            }
            Err(StorageError::AlreadyExists) => Err(ServiceError::AlreadyExists {
                what: "this inventory item",
            }),
            Err(StorageError::VersionConflict { current: None }) => {
                Err(not_stocked(store, product))
            }
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    pub async fn delete_inventory_item(
        &self,
        who: &Principal,
        store: &StoreId,
        product: &ProductId,
        expect_version: Option<u64>,
    ) -> ServiceResult<()> {
        who.require_store(OWNERS, store)?;
        let origin = origin(who, MovementKind::Delete);
        match self
            .inventory
            .delete(store, product, expect_version, &origin, Timestamp::now())
            .await
        {
            Ok(_) => Ok(()),
            Err(StorageError::NotFound) => Err(not_stocked(store, product)),
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    /// Moves stock by `delta`, atomically; refused if it would go below zero. With a key, a
    /// retry is applied once.
    pub async fn adjust_inventory(
        &self,
        who: &Principal,
        store: &StoreId,
        product: &ProductId,
        req: AdjustRequest,
    ) -> ServiceResult<AdjustOutcome> {
        who.require_store(OWNERS, store)?;
        if req.delta.is_zero() {
            return Err(FieldErrors::single("delta", "zero", "delta must not be zero").into());
        }
        let operation = req.key.as_ref().map(|k| Operation {
            key: format!("adjust:{}", k.as_str()),
            fingerprint: fingerprint(&[
                "adjust",
                store.as_str(),
                &product.to_string(),
                &req.delta.to_string(),
                req.reason.as_str(),
            ]),
        });
        let mut origin = origin(who, MovementKind::Adjust).reason(req.reason);
        if let Some(k) = &req.key {
            origin = origin.source(format!("key:{}", k.as_str()));
        }
        let adjustment = Adjustment {
            store_id: store.clone(),
            product_id: *product,
            change: StockChange::Add(req.delta),
            origin,
            operation,
            create_if_missing: false,
            product: None,
            at: Timestamp::now(),
        };
        self.apply_adjustment(&adjustment).await
    }

    /// Applies a change of stock and announces the alerts it crossed.
    pub(super) async fn apply_adjustment(
        &self,
        adjustment: &Adjustment,
    ) -> ServiceResult<AdjustOutcome> {
        match self.inventory.adjust(adjustment).await {
            Ok(o) => {
                if let Some(m) = &o.movement {
                    self.announce(m).await;
                }
                Ok(o)
            }
            Err(StorageError::NotFound) => {
                Err(not_stocked(&adjustment.store_id, &adjustment.product_id))
            }
            Err(StorageError::InsufficientStock { available }) => {
                let delta = match adjustment.change {
                    StockChange::Add(d) => d,
                    StockChange::Set(q) => QuantityDelta::from_quantity(q),
                };
                Err(ServiceError::InsufficientStock { available, delta })
            }
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    /// Announces the stock alerts `movement` crossed, right after its change: once sent, the
    /// movement leaves the outbox. The change is stored already, so a failure here is logged,
    /// not the caller's: the movement stays pending and [`Catalog::announce_pending`] sends it.
    pub(super) async fn announce(&self, movement: &Movement) {
        if movement.alerts.is_empty() {
            return;
        }
        if let Err(e) = self.announce_all(std::slice::from_ref(movement)).await {
            tracing::warn!(
                error = %e,
                store = %movement.store_id,
                product = %movement.product_id,
                "stock alert not announced yet; the sweep will"
            );
        }
    }

    /// Announces the stock alerts of movements still in the outbox (a change whose process
    /// died before its announcement, or whose announcement failed), at least once each (the
    /// event id tells a repeat). Returns how many movements were announced. The local server
    /// runs it every few seconds; in AWS the `stock-alerts` function every minute.
    pub async fn announce_pending(&self) -> ServiceResult<usize> {
        let pending = self
            .inventory
            .unannounced(100)
            .await
            .map_err(ServiceError::storage)?;
        self.announce_all(&pending).await?;
        Ok(pending.len())
    }

    /// Publishes every alert of `movements`, then marks them announced.
    async fn announce_all(&self, movements: &[Movement]) -> ServiceResult<()> {
        for m in movements {
            for alert in &m.alerts {
                self.events
                    .publish(&crate::domain::Event::stock_alert(m, *alert))
                    .await
                    .map_err(ServiceError::storage)?;
            }
        }
        self.inventory
            .announced(movements)
            .await
            .map_err(ServiceError::storage)
    }

    /// A store may stock any catalog product except one merged into another.
    async fn require_stockable(
        &self,
        who: &Principal,
        product: &ProductId,
    ) -> ServiceResult<crate::domain::Product> {
        let p = self.get_product(who, product).await?;
        if p.verification_status == VerificationStatus::Merged {
            return Err(super::merged_product(product, p.merged_into));
        }
        Ok(p)
    }
}

fn not_stocked(store: &StoreId, product: &ProductId) -> ServiceError {
    ServiceError::NotFound {
        what: "inventory item",
        id: format!("{store}/{product}"),
    }
}
