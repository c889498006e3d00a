//! What a stock write stores, computed from the item as it was read: the next item and the
//! movement that records the change. Both inventory adapters use these, then write the two
//! atomically on the condition that the item is still the one read, so they cannot disagree on
//! versions, lives or alerts.

use crate::domain::QuantityDelta;
use crate::domain::{
    Adjustment, InventoryDetails, InventoryItem, Movement, MovementFacts, MovementKind,
    MovementOrigin, ProductId, ProductSummary, Quantity, StockChange, StoreId, Timestamp,
    movement::ChangeRefused,
};
use crate::ports::{Expect, ItemMerge, SetItem, StorageError, StorageResult};

/// A write to make: the item as it will be stored, the movement beside it, whether it creates
/// the item.
#[derive(Debug, Clone)]
pub struct Planned {
    pub item: InventoryItem,
    pub movement: Option<Movement>,
    pub created: bool,
}

/// The life a new item starts: now, but after the last life of the same item when that one
/// started at the same millisecond or later (a clock that stepped back, or a remove and a
/// re-stock within one millisecond), so ledger positions stay unique and ordered.
pub fn new_life(at: Timestamp, last_life: Option<Timestamp>) -> Timestamp {
    match last_life {
        Some(last) if last >= at => last.plus(time::Duration::milliseconds(1)),
        _ => at,
    }
}

fn refused(e: ChangeRefused) -> StorageError {
    match e {
        ChangeRefused::Insufficient { available } => StorageError::InsufficientStock { available },
        ChangeRefused::Overflow => StorageError::QuantityOverflow,
    }
}

/// An adjustment applied to `current` (`NotFound` for a missing item unless it may be
/// created; a new item starts at zero in the life `life`).
pub fn adjusted(
    a: &Adjustment,
    current: Option<&InventoryItem>,
    life: Timestamp,
) -> StorageResult<Planned> {
    let (before, details, version, stocked_since) = match current {
        Some(c) => (
            Some(c.details.quantity),
            c.details.clone(),
            c.version,
            c.stocked_since,
        ),
        None if a.create_if_missing => (None, InventoryDetails::default(), 0, life),
        None => return Err(StorageError::NotFound),
    };
    let product = a
        .product
        .clone()
        .or_else(|| current.and_then(|c| c.product.clone()));
    let after = a
        .change
        .apply(before.unwrap_or(Quantity::ZERO))
        .map_err(refused)?;
    let details = InventoryDetails {
        quantity: after,
        ..details
    };
    Ok(planned(
        (&a.store_id, &a.product_id, product),
        details,
        (version, stocked_since),
        Some((a.change, before)),
        &a.origin,
        a.at,
    ))
}

/// An item set as `set` says where `current` is what is stored, if its expectation holds. A
/// movement is written when the item is new or its quantity changes.
pub fn replaced(
    store: &StoreId,
    product: &ProductId,
    set: &SetItem,
    current: Option<&InventoryItem>,
    life: Timestamp,
) -> StorageResult<Planned> {
    match (set.expect, current) {
        (Expect::Absent, Some(_)) => return Err(StorageError::AlreadyExists),
        (Expect::Version(_), None) => return Err(StorageError::VersionConflict { current: None }),
        (Expect::Version(v), Some(c)) if c.version != v => {
            return Err(StorageError::VersionConflict {
                current: Some(c.version),
            });
        }
        _ => {}
    }
    let before = current.map(|c| c.details.quantity);
    let quantity = set.details.quantity;
    let change = (before != Some(quantity)).then_some((StockChange::Set(quantity), before));
    let base = current.map_or((0, life), |c| (c.version, c.stocked_since));
    let summary = set
        .product
        .clone()
        .or_else(|| current.and_then(|c| c.product.clone()));
    let mut details = set.details.clone();
    // The store's photo is set only by its processing; every other write keeps it.
    if details.photo.is_none() {
        details.photo = current.and_then(|c| c.details.photo.clone());
    }
    Ok(planned(
        (store, product, summary),
        details,
        base,
        change,
        &set.origin,
        set.at,
    ))
}

/// The movement that removes `current` (its quantity goes to zero; no alert: the item is
/// gone, not out of stock), if its version is the one expected.
pub fn removed(
    current: Option<&InventoryItem>,
    expect_version: Option<u64>,
    origin: &MovementOrigin,
    at: Timestamp,
) -> StorageResult<Movement> {
    let current = current.ok_or(StorageError::NotFound)?;
    if let Some(v) = expect_version
        && current.version != v
    {
        return Err(StorageError::VersionConflict {
            current: Some(current.version),
        });
    }
    let facts = MovementFacts {
        position_version: current.version + 1,
        change: StockChange::Set(Quantity::ZERO),
        before: Some(current.details.quantity),
        after: Quantity::ZERO,
        reorder_level: None,
    };
    let origin = MovementOrigin {
        kind: MovementKind::Delete,
        ..origin.clone()
    };
    let mut movement = Movement::record(
        &current.store_id,
        &current.product_id,
        current.stocked_since,
        facts,
        &origin,
        at,
    );
    movement.alerts.clear();
    Ok(movement)
}

/// A store's item of a merged product moving onto the product it became: the `from` item's
/// removal (a `merge` movement to zero) and the `into` item after the move (with its `merge`
/// movement). The `into` item keeps its fields and takes the `from` item's where it has none;
/// without one, it is the `from` item's fields in a new life (`life`).
pub fn merged(
    from: &InventoryItem,
    into: Option<&InventoryItem>,
    merge: &ItemMerge,
    life: Timestamp,
) -> StorageResult<(Movement, Planned)> {
    let origin = MovementOrigin {
        kind: MovementKind::Merge,
        ..merge.origin.clone()
    };
    let mut gone = removed(Some(from), None, &origin, merge.at)?;
    gone.kind = MovementKind::Merge;
    let moved = from.details.quantity;
    let (details, base, summary) = match into {
        Some(t) => {
            let f = &from.details;
            let mut d = t.details.clone();
            d.quantity = StockChange::Add(QuantityDelta::from_quantity(moved))
                .apply(d.quantity)
                .map_err(refused)?;
            d.cost_price = d.cost_price.or(f.cost_price);
            d.selling_price = d.selling_price.or(f.selling_price);
            d.reorder_level = d.reorder_level.or(f.reorder_level);
            d.supplier = d.supplier.clone().or_else(|| f.supplier.clone());
            d.location = d.location.clone().or_else(|| f.location.clone());
            d.notes = d.notes.clone().or_else(|| f.notes.clone());
            if d.custom_image_urls.is_empty() {
                d.custom_image_urls = f.custom_image_urls.clone();
            }
            d.photo = d.photo.clone().or_else(|| f.photo.clone());
            let summary = t.product.clone().or_else(|| merge.into_summary.clone());
            (d, (t.version, t.stocked_since), summary)
        }
        None => (from.details.clone(), (0, life), merge.into_summary.clone()),
    };
    let before = into.map(|t| t.details.quantity);
    let mut plan = planned(
        (&from.store_id, &merge.into, summary),
        details,
        base,
        Some((
            StockChange::Add(QuantityDelta::from_quantity(moved)),
            before,
        )),
        &origin,
        merge.at,
    );
    // Stock arriving is never an alert.
    if let Some(m) = plan.movement.as_mut() {
        m.alerts.clear();
    }
    Ok((gone, plan))
}

/// The next version of an item (`base`: the current version and life, version 0 for a new
/// item) and, for a change of stock, its movement.
fn planned(
    (store, product, summary): (&StoreId, &ProductId, Option<ProductSummary>),
    details: InventoryDetails,
    base: (u64, Timestamp),
    change: Option<(StockChange, Option<Quantity>)>,
    origin: &MovementOrigin,
    at: Timestamp,
) -> Planned {
    let (version, stocked_since) = (base.0 + 1, base.1);
    let movement = change.map(|(change, before)| {
        let facts = MovementFacts {
            position_version: version,
            change,
            before,
            after: details.quantity,
            reorder_level: details.reorder_level,
        };
        Movement::record(store, product, stocked_since, facts, origin, at)
    });
    Planned {
        item: InventoryItem::new(store.clone(), *product, details, version, at, stocked_since)
            .with_product(summary),
        movement,
        created: base.0 == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::QuantityDelta;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn a_new_life_starts_after_the_last_one() {
        let at = t("2026-12-01T10:00:00.000Z");
        assert_eq!(new_life(at, None), at);
        assert_eq!(new_life(at, Some(t("2026-11-01T00:00:00.000Z"))), at);
        assert_eq!(new_life(at, Some(at)), t("2026-12-01T10:00:00.001Z"));
        assert_eq!(
            new_life(at, Some(t("2026-12-01T10:00:05.000Z"))),
            t("2026-12-01T10:00:05.001Z")
        );
    }

    #[test]
    fn an_adjustment_records_before_and_after() {
        let at = t("2026-12-01T10:00:00.000Z");
        let a = Adjustment {
            store_id: StoreId::parse("s1").unwrap(),
            product_id: ProductId::new(),
            change: StockChange::Add(QuantityDelta::parse("3").unwrap()),
            origin: MovementOrigin::new(MovementKind::Scan, "dev"),
            operation: None,
            create_if_missing: true,
            product: None,
            at,
        };
        let p = adjusted(&a, None, at).unwrap();
        assert!(p.created);
        assert_eq!(p.item.version, 1);
        let m = p.movement.unwrap();
        assert_eq!(
            (m.quantity_before, m.quantity_after),
            (None, Quantity::parse("3").unwrap())
        );
        let again = adjusted(&a, Some(&p.item), at).unwrap();
        assert!(!again.created);
        assert_eq!(again.item.version, 2);
        assert_eq!(again.item.stocked_since, at);
        let missing = Adjustment {
            create_if_missing: false,
            ..a
        };
        assert!(matches!(
            adjusted(&missing, None, at),
            Err(StorageError::NotFound)
        ));
    }

    #[test]
    fn a_put_that_keeps_the_quantity_writes_no_movement() {
        let at = t("2026-12-01T10:00:00.000Z");
        let (s, p) = (StoreId::parse("s1").unwrap(), ProductId::new());
        let origin = MovementOrigin::new(MovementKind::Put, "owner");
        let d = InventoryDetails {
            quantity: Quantity::parse("5").unwrap(),
            ..Default::default()
        };
        let set = |details: &InventoryDetails, expect| SetItem {
            details: details.clone(),
            expect,
            origin: origin.clone(),
            product: None,
            at,
        };
        let first = replaced(&s, &p, &set(&d, Expect::Anything), None, at).unwrap();
        assert!(first.movement.is_some() && first.created);
        let priced = InventoryDetails {
            notes: Some("top shelf".into()),
            ..d.clone()
        };
        let second = replaced(
            &s,
            &p,
            &set(&priced, Expect::Version(1)),
            Some(&first.item),
            at,
        )
        .unwrap();
        assert!(second.movement.is_none());
        assert!(matches!(
            replaced(&s, &p, &set(&d, Expect::Version(7)), Some(&first.item), at),
            Err(StorageError::VersionConflict { current: Some(1) })
        ));
        let gone = removed(Some(&second.item), None, &origin, at).unwrap();
        assert_eq!(gone.kind, MovementKind::Delete);
        assert_eq!(gone.version, 3);
        assert!(gone.alerts.is_empty());
    }
}
