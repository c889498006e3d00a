//! Stock movements: the ledger of an inventory item, one entry per change of its quantity.
//!
//! Owns what a change of stock is (an addition or a count), what it records (who, why, from
//! what request, scan or import job), how the ledger replays to the quantity, and when a change
//! crosses a stock alert. A movement is written in the same atomic write as the change it
//! records, so the ledger and the quantity cannot disagree.

use serde::Serialize;

use super::{AdjustmentReason, ProductId, Quantity, QuantityDelta, StoreId, Timestamp};

/// How the quantity changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// Add (or, negative, take away) this much: never below zero, never above the maximum.
    Add(QuantityDelta),
    /// Set the quantity to this (a count, a PUT, an import row, a removal).
    Set(Quantity),
}

/// Why a change cannot be applied to the current quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefused {
    /// Taking away more than is there.
    Insufficient { available: Quantity },
    /// Above the largest quantity allowed.
    Overflow,
}

impl StockChange {
    /// The quantity after this change to `current`.
    pub fn apply(self, current: Quantity) -> Result<Quantity, ChangeRefused> {
        match self {
            StockChange::Set(q) => Ok(q),
            StockChange::Add(d) => d.apply(current).ok_or({
                if d.as_decimal().is_sign_negative() {
                    ChangeRefused::Insufficient { available: current }
                } else {
                    ChangeRefused::Overflow
                }
            }),
        }
    }

    /// Whether applying this changes nothing whatever the quantity (a zero addition).
    pub fn is_noop(self) -> bool {
        matches!(self, StockChange::Add(d) if d.is_zero())
    }
}

/// What made the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// `POST .../adjustments` (its `reason` says why).
    Adjust,
    /// A scan that received or sold stock.
    Scan,
    /// A stock-take: a scan in `count` mode.
    Count,
    /// `PUT .../inventory/{product}`: the owner set the item.
    Put,
    /// A CSV import row.
    Import,
    /// The item was removed from the store (the quantity goes to zero).
    Delete,
    /// Stock moved here from a product merged into this one.
    Merge,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adjust => "adjust",
            Self::Scan => "scan",
            Self::Count => "count",
            Self::Put => "put",
            Self::Import => "import",
            Self::Delete => "delete",
            Self::Merge => "merge",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Adjust,
            Self::Scan,
            Self::Count,
            Self::Put,
            Self::Import,
            Self::Delete,
            Self::Merge,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A stock alert a change can cross into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockAlert {
    /// The quantity fell to or below the reorder level (from above it).
    LowStock,
    /// The quantity fell to zero (from above it).
    OutOfStock,
}

impl StockAlert {
    /// The event type announced when a change crosses into this alert.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::LowStock => "inventory.low_stock",
            Self::OutOfStock => "inventory.out_of_stock",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowStock => "low_stock",
            Self::OutOfStock => "out_of_stock",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::LowStock, Self::OutOfStock]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// The alerts a change from `before` to `after` crosses downward: once per crossing, never on
/// a change that stays below the line (a second sale while low is not a new alert) and never
/// on the first stocking of an item (`before` is `None`: nothing fell).
pub fn crossed(
    before: Option<Quantity>,
    after: Quantity,
    reorder_level: Option<Quantity>,
) -> Vec<StockAlert> {
    let Some(before) = before else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(r) = reorder_level
        && before > r
        && after <= r
    {
        out.push(StockAlert::LowStock);
    }
    if !before.is_zero() && after.is_zero() {
        out.push(StockAlert::OutOfStock);
    }
    out
}

/// Who asked for a change and on whose behalf: what the ledger records beside the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementOrigin {
    pub kind: MovementKind,
    /// An adjustment's reason (`sale`, `restock`, ...); scans say `scan`, imports `import`.
    pub reason: Option<AdjustmentReason>,
    /// The caller's `sub` (a user, a scanner device, `cli`).
    pub actor: String,
    /// The API request that made the change (`x-request-id`).
    pub request_id: Option<String>,
    /// What the change came from: a scan id, an import job and row (`job:<id>#<row>`).
    pub source_id: Option<String>,
    /// When the device saw it, as the device tells (a scan queued offline arrives later).
    pub device_time: Option<Timestamp>,
}

impl MovementOrigin {
    pub fn new(kind: MovementKind, actor: &str) -> Self {
        Self {
            kind,
            reason: None,
            actor: actor.to_string(),
            request_id: None,
            source_id: None,
            device_time: None,
        }
    }

    pub fn reason(mut self, reason: AdjustmentReason) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn request(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_string);
        self
    }

    pub fn source(mut self, source_id: impl Into<String>) -> Self {
        self.source_id = Some(source_id.into());
        self
    }
}

/// Where a movement sits in its item's ledger: the item's life (`stocked_since`, a new one
/// each time the store starts stocking the product again after removing it) and the item
/// version the change produced. Ordered oldest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LedgerPosition {
    pub stocked_since: Timestamp,
    pub version: u64,
}

impl LedgerPosition {
    /// The fixed-width text that sorts like the position (storage keys use it).
    pub fn key(&self) -> String {
        format!("{}#{:012}", self.stocked_since, self.version)
    }

    pub fn parse_key(s: &str) -> Option<Self> {
        let (since, version) = s.rsplit_once('#')?;
        Some(Self {
            stocked_since: Timestamp::parse(since).ok()?,
            version: version.parse().ok()?,
        })
    }
}

/// One change of an item's stock, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Movement {
    pub store_id: StoreId,
    pub product_id: ProductId,
    /// When the store started stocking the product (this life of the item).
    pub stocked_since: Timestamp,
    /// The item version this change produced.
    pub version: u64,
    pub kind: MovementKind,
    /// The change, for an addition or removal of stock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<QuantityDelta>,
    /// The quantity set, for a count, a PUT, an import row or a removal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<Quantity>,
    /// The quantity before the change (absent when the change created the item).
    pub quantity_before: Option<Quantity>,
    pub quantity_after: Quantity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<AdjustmentReason>,
    /// Who made it (the caller's `sub`).
    pub actor: String,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the scanning device saw it (its own clock), for scans sent later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_time: Option<Timestamp>,
    /// The item's reorder level when the change was made (what `low_stock` is measured by).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorder_level: Option<Quantity>,
    /// The stock alerts this change crossed into (each announced as an event, at least once:
    /// see [`Movement::event_id`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<StockAlert>,
}

/// What a movement needs besides its origin: where it sits and the numbers.
#[derive(Debug, Clone, Copy)]
pub struct MovementFacts {
    pub position_version: u64,
    pub change: StockChange,
    pub before: Option<Quantity>,
    pub after: Quantity,
    pub reorder_level: Option<Quantity>,
}

impl Movement {
    /// The movement of `change` on an item of `store` and `product` in its life since
    /// `stocked_since`, with the alerts it crosses.
    pub fn record(
        store_id: &StoreId,
        product_id: &ProductId,
        stocked_since: Timestamp,
        facts: MovementFacts,
        origin: &MovementOrigin,
        at: Timestamp,
    ) -> Self {
        let (delta, count) = match facts.change {
            StockChange::Add(d) => (Some(d), None),
            StockChange::Set(q) => (None, Some(q)),
        };
        Self {
            store_id: store_id.clone(),
            product_id: *product_id,
            stocked_since,
            version: facts.position_version,
            kind: origin.kind,
            delta,
            count,
            quantity_before: facts.before,
            quantity_after: facts.after,
            reason: origin.reason,
            actor: origin.actor.clone(),
            at,
            source_id: origin.source_id.clone(),
            request_id: origin.request_id.clone(),
            device_time: origin.device_time,
            reorder_level: facts.reorder_level,
            alerts: crossed(facts.before, facts.after, facts.reorder_level),
        }
    }

    /// The id of the event announcing `alert` of this movement: the same on every delivery,
    /// so a consumer that sees it twice (an announcement is retried until it is known to be
    /// sent) can tell.
    pub fn event_id(&self, alert: StockAlert) -> String {
        format!(
            "{}/{}/{}/{}",
            self.store_id,
            self.product_id,
            self.position().key(),
            alert.as_str()
        )
    }

    /// The detail of the event announcing `alert` (`inventory.low_stock`,
    /// `inventory.out_of_stock`): the item's store, product, quantity and reorder level after
    /// the change, and the movement.
    pub fn alert_detail(&self, alert: StockAlert) -> serde_json::Value {
        serde_json::json!({
            "event_id": self.event_id(alert),
            "alert": alert,
            "store_id": self.store_id,
            "product_id": self.product_id,
            "quantity": self.quantity_after,
            "reorder_level": self.reorder_level,
            "movement": self,
        })
    }

    pub fn position(&self) -> LedgerPosition {
        LedgerPosition {
            stocked_since: self.stocked_since,
            version: self.version,
        }
    }
}

/// The quantity a ledger adds up to: the last count (or removal) and every addition after it.
/// `movements` are in any order; `None` for an empty ledger or one that does not add up (an
/// addition that would take the running quantity below zero).
pub fn replay(movements: &[Movement]) -> Option<Quantity> {
    let mut ordered: Vec<&Movement> = movements.iter().collect();
    ordered.sort_by_key(|m| m.position());
    let start = ordered.iter().rposition(|m| m.count.is_some());
    let (mut q, rest) = match start {
        Some(i) => (ordered[i].count?, &ordered[i + 1..]),
        None => (Quantity::ZERO, &ordered[..]),
    };
    if ordered.is_empty() {
        return None;
    }
    for m in rest {
        q = m.delta?.apply(q)?;
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    fn d(s: &str) -> QuantityDelta {
        QuantityDelta::parse(s).unwrap()
    }

    #[test]
    fn alerts_fire_once_per_downward_crossing() {
        let r = Some(q("5"));
        assert_eq!(crossed(Some(q("6")), q("5"), r), vec![StockAlert::LowStock]);
        assert_eq!(crossed(Some(q("5")), q("4"), r), vec![]);
        assert_eq!(
            crossed(Some(q("9")), q("0"), r),
            vec![StockAlert::LowStock, StockAlert::OutOfStock]
        );
        assert_eq!(
            crossed(Some(q("3")), q("0"), r),
            vec![StockAlert::OutOfStock]
        );
        assert_eq!(crossed(Some(q("0")), q("0"), r), vec![]);
        assert_eq!(
            crossed(Some(q("2")), q("0"), None),
            vec![StockAlert::OutOfStock]
        );
        assert_eq!(crossed(Some(q("2")), q("8"), r), vec![]);
        // Stocking an item is not a fall, whatever it starts at.
        assert_eq!(crossed(None, q("0"), r), vec![]);
    }

    #[test]
    fn changes_never_go_below_zero_or_above_the_maximum() {
        assert_eq!(StockChange::Add(d("-2")).apply(q("5")), Ok(q("3")));
        assert_eq!(
            StockChange::Add(d("-6")).apply(q("5")),
            Err(ChangeRefused::Insufficient { available: q("5") })
        );
        assert_eq!(
            StockChange::Add(d("1")).apply(q("10000000")),
            Err(ChangeRefused::Overflow)
        );
        assert_eq!(StockChange::Set(q("7")).apply(q("5")), Ok(q("7")));
    }

    #[test]
    fn positions_sort_as_their_keys() {
        let t1 = Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap();
        let t2 = Timestamp::parse("2026-01-02T00:00:00.000Z").unwrap();
        let a = LedgerPosition {
            stocked_since: t1,
            version: 9,
        };
        let b = LedgerPosition {
            stocked_since: t1,
            version: 10,
        };
        let c = LedgerPosition {
            stocked_since: t2,
            version: 1,
        };
        assert!(a < b && b < c);
        assert!(a.key() < b.key() && b.key() < c.key());
        assert_eq!(LedgerPosition::parse_key(&b.key()), Some(b));
    }

    #[test]
    fn a_ledger_replays_from_its_last_count() {
        let store = StoreId::parse("s1").unwrap();
        let product = ProductId::new();
        let since = Timestamp::now();
        let origin = MovementOrigin::new(MovementKind::Adjust, "u");
        let mut v = 0;
        let mut m = |change, before, after: &str| {
            v += 1;
            let facts = MovementFacts {
                position_version: v,
                change,
                before,
                after: q(after),
                reorder_level: None,
            };
            Movement::record(&store, &product, since, facts, &origin, since)
        };
        let ledger = vec![
            m(StockChange::Add(d("4")), None, "4"),
            m(StockChange::Add(d("-1")), Some(q("4")), "3"),
            m(StockChange::Set(q("10")), Some(q("3")), "10"),
            m(StockChange::Add(d("-2.5")), Some(q("10")), "7.5"),
        ];
        assert_eq!(replay(&ledger), Some(q("7.5")));
        let mut shuffled = ledger.clone();
        shuffled.reverse();
        assert_eq!(replay(&shuffled), Some(q("7.5")));
        assert_eq!(replay(&ledger[..2]), Some(q("3")));
        assert_eq!(replay(&[]), None);
    }
}
