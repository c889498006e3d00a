//! Domain events: what the catalog announces when something others care about happens, in one
//! envelope whatever the event (its id, type, time, store and a versioned payload).
//!
//! Owns the envelope and each event's payload. Where events go (EventBridge in AWS, the local
//! bus, webhooks) is the ports' and services' business, not this module's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CsvJob, HistoryEntry, Movement, ProductAction, StockAlert, StoreId, Timestamp};

/// The version of every payload below. A change that removes or renames a field makes a new
/// version (and a new `version` in the envelope); a new field does not.
pub const EVENT_VERSION: u32 = 1;

/// The types of events (`type` in the envelope; EventBridge's `detail-type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum EventType {
    /// An import, export or Open Food Facts load ended (`completed` or `failed`).
    #[serde(rename = "job.completed")]
    JobCompleted,
    /// An item's quantity fell to or below its reorder level.
    #[serde(rename = "inventory.low_stock")]
    InventoryLowStock,
    /// An item's quantity fell to zero.
    #[serde(rename = "inventory.out_of_stock")]
    InventoryOutOfStock,
    /// A product was added to the catalog (through the API, a scan, an import or an Open Food
    /// Facts load): a catalog event (`_catalog`).
    #[serde(rename = "product.created")]
    ProductCreated,
    /// A product was edited, its image processed, or filled from Open Food Facts.
    #[serde(rename = "product.updated")]
    ProductUpdated,
    #[serde(rename = "product.approved")]
    ProductApproved,
    #[serde(rename = "product.rejected")]
    ProductRejected,
    /// A product was folded into another (`merged_into` in the changes).
    #[serde(rename = "product.merged")]
    ProductMerged,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::JobCompleted,
        EventType::InventoryLowStock,
        EventType::InventoryOutOfStock,
        EventType::ProductCreated,
        EventType::ProductUpdated,
        EventType::ProductApproved,
        EventType::ProductRejected,
        EventType::ProductMerged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobCompleted => "job.completed",
            EventType::InventoryLowStock => "inventory.low_stock",
            EventType::InventoryOutOfStock => "inventory.out_of_stock",
            EventType::ProductCreated => "product.created",
            EventType::ProductUpdated => "product.updated",
            EventType::ProductApproved => "product.approved",
            EventType::ProductRejected => "product.rejected",
            EventType::ProductMerged => "product.merged",
        }
    }

    /// Whether events of this type are announced under the catalog (`_catalog`: its products,
    /// and its own jobs' `job.completed`) when `catalog`, or under a store otherwise (its jobs
    /// and its stock): where a webhook for them can be subscribed.
    pub fn announced_under(self, catalog: bool) -> bool {
        match self {
            EventType::JobCompleted => true,
            EventType::InventoryLowStock | EventType::InventoryOutOfStock => !catalog,
            EventType::ProductCreated
            | EventType::ProductUpdated
            | EventType::ProductApproved
            | EventType::ProductRejected
            | EventType::ProductMerged => catalog,
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Every type's name, for error messages and docs.
    pub fn names() -> String {
        Self::ALL.map(EventType::as_str).join(", ")
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as announced and as webhooks receive it (the body of a delivery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// The same on every announcement of the same happening (an announcement is retried until
    /// it is known to be sent), so a consumer that sees an id twice can tell.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened.
    pub timestamp: Timestamp,
    /// The store it happened in (`_catalog` for the catalog's own jobs).
    pub store_id: StoreId,
    /// The payload's version ([`EVENT_VERSION`]).
    pub version: u32,
    /// The payload: what `type` says happened (see the README's "Events").
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Names event ids (UUIDv5 of what happened), so a repeat has the same id.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6b1d_0e64_2f4c_4d1a_9a52_7d3c_e0a1_5e77);

impl Event {
    fn new(
        kind: EventType,
        name: &str,
        timestamp: Timestamp,
        store_id: StoreId,
        data: serde_json::Value,
    ) -> Self {
        Event {
            id: Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes()),
            kind,
            timestamp,
            store_id,
            version: EVENT_VERSION,
            data,
        }
    }

    /// `job.completed`: a job ended (`completed` or `failed`). A job ends once, so its id names
    /// the event.
    pub fn job_completed(job: &CsvJob) -> Self {
        let data = serde_json::json!({
            "job_id": job.job_id,
            "kind": job.kind.as_str(),
            "store_id": job.store_id,
            "status": job.status,
            "total_rows": job.counters.total_rows,
            "processed": job.counters.processed,
            "successful": job.counters.successful,
            "failed": job.counters.failed,
            "duplicates_found": job.counters.duplicates_found,
            "failure_code": job.failure_code,
            "failure_reason": job.failure_reason,
            "has_report": job.report_key.is_some(),
            "completed_at": job.completed_at,
        });
        Event::new(
            EventType::JobCompleted,
            &format!("job.completed/{}", job.job_id),
            // Deterministic, so an announcement repeated is the same event (a job that ended
            // has its completed_at).
            job.completed_at.unwrap_or(job.created_at),
            job.store_id.clone(),
            data,
        )
    }

    /// `product.*`: the change a product's history entry records (its data is the entry:
    /// `product_id`, `version`, `action`, `actor`, `at`, `reason`, `changes`), under the
    /// catalog (`_catalog`). The product and version name the event.
    pub fn product_change(entry: &HistoryEntry) -> Self {
        let kind = match entry.action {
            ProductAction::Created => EventType::ProductCreated,
            ProductAction::Approved => EventType::ProductApproved,
            ProductAction::Rejected => EventType::ProductRejected,
            ProductAction::Merged => EventType::ProductMerged,
            ProductAction::Updated | ProductAction::Image | ProductAction::Enriched => {
                EventType::ProductUpdated
            }
        };
        Event::new(
            kind,
            &format!("product/{}/{}", entry.product_id, entry.version),
            entry.at,
            StoreId::catalog(),
            serde_json::to_value(entry).unwrap_or_default(),
        )
    }

    /// `inventory.low_stock` or `inventory.out_of_stock`: `movement` crossed into `alert`.
    pub fn stock_alert(movement: &Movement, alert: StockAlert) -> Self {
        let kind = match alert {
            StockAlert::LowStock => EventType::InventoryLowStock,
            StockAlert::OutOfStock => EventType::InventoryOutOfStock,
        };
        Event::new(
            kind,
            &movement.event_id(alert),
            movement.at,
            movement.store_id.clone(),
            movement.alert_detail(alert),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_through_their_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(EventType::parse("job.started"), None);
    }

    #[test]
    fn product_events_are_the_catalogs_and_stock_events_a_stores() {
        use EventType::*;
        for t in EventType::ALL {
            let (catalog, store) = (t.announced_under(true), t.announced_under(false));
            match t {
                JobCompleted => assert!(catalog && store),
                InventoryLowStock | InventoryOutOfStock => assert!(!catalog && store),
                _ => assert!(catalog && !store, "{t}"),
            }
        }
    }

    #[test]
    fn a_repeat_has_the_same_id() {
        let job = |id: &str| {
            let at = Timestamp::from_unix_seconds(1_796_428_860).unwrap();
            let mut j = CsvJob::new(
                crate::domain::JobId::parse(id).unwrap(),
                StoreId::parse("s1").unwrap(),
                "test",
                at,
            );
            j.counters.successful = 1;
            j.completed_at = Some(at);
            j
        };
        let a = Event::job_completed(&job("0190f1a2-8000-7000-8000-000000000001"));
        let b = Event::job_completed(&job("0190f1a2-8000-7000-8000-000000000001"));
        let c = Event::job_completed(&job("0190f1a2-8000-7000-8000-000000000002"));
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        let body = serde_json::to_value(&a).unwrap();
        assert_eq!(body["type"], "job.completed");
        assert_eq!(body["version"], 1);
        assert_eq!(body["data"]["successful"], 1);
    }
}
