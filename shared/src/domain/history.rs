//! A product's audit history: one entry per change, written in the same atomic write as the
//! change itself, so no change is stored without it.
//!
//! Owns what an entry records (who with which role, when, from which request, the action, why,
//! and the before/after of every field that changed) and how the changes are found: the two
//! versions of the product are compared field by field as the API shows them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Product, ProductId, Timestamp};

/// What was done to the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductAction {
    /// Created (through the API, by a scan, by an import).
    Created,
    /// Edited (a `PATCH`).
    Updated,
    Approved,
    Rejected,
    /// Folded into another product.
    Merged,
    /// An uploaded image processed (set, or failed).
    Image,
    /// Looked up in Open Food Facts: filled from it, or marked not found or failed (or the
    /// lookup asked for again).
    Enriched,
}

impl ProductAction {
    pub const ALL: [ProductAction; 7] = [
        Self::Created,
        Self::Updated,
        Self::Approved,
        Self::Rejected,
        Self::Merged,
        Self::Image,
        Self::Enriched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Merged => "merged",
            Self::Image => "image",
            Self::Enriched => "enriched",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who made a change, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// The token's `sub` (`cli` for the operator's commands).
    pub sub: String,
    /// `admin`, `store_owner`, `scanner`, `reviewer`; `system` for the catalog's own work
    /// (image processing, Open Food Facts enrichment).
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Actor {
    /// The catalog's own work, by the part that did it (`image-process`, `openfoodfacts`).
    pub fn system(sub: &str) -> Self {
        Actor {
            sub: sub.to_string(),
            role: "system".into(),
            request_id: None,
        }
    }
}

/// A field's value before and after a change (`null`: not set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// Any JSON value (the field's type).
    #[schema(value_type = Value)]
    pub before: serde_json::Value,
    #[schema(value_type = Value)]
    pub after: serde_json::Value,
}

/// One change of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub product_id: ProductId,
    /// The product version the change produced (1 for the creation).
    pub version: u64,
    pub action: ProductAction,
    pub actor: Actor,
    pub at: Timestamp,
    /// Why (a rejection's reason, the import job and row that created it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every field that changed, by name (a creation: every field set, from `null`).
    pub changes: BTreeMap<String, FieldChange>,
}

/// Fields that change with every write, or follow from the others, and say nothing new.
const BOOKKEEPING: [&str; 4] = ["version", "updated_at", "created_at", "quality_reasons"];

fn fields(p: Option<&Product>) -> serde_json::Map<String, serde_json::Value> {
    match p.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    }
}

impl HistoryEntry {
    /// The entry of a change from `previous` (none: a creation) to `next`.
    pub fn of(
        previous: Option<&Product>,
        next: &Product,
        action: ProductAction,
        actor: Actor,
        reason: Option<String>,
    ) -> Self {
        let (before, after) = (fields(previous), fields(Some(next)));
        let mut changes = BTreeMap::new();
        for name in before.keys().chain(after.keys()) {
            if BOOKKEEPING.contains(&name.as_str()) || changes.contains_key(name) {
                continue;
            }
            let (b, a) = (
                before.get(name).cloned().unwrap_or_default(),
                after.get(name).cloned().unwrap_or_default(),
            );
            let empty = |v: &serde_json::Value| {
                v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty())
            };
            if b != a && !(empty(&b) && empty(&a)) {
                changes.insert(
                    name.clone(),
                    FieldChange {
                        before: b,
                        after: a,
                    },
                );
            }
        }
        Self {
            product_id: next.product_id,
            version: next.version,
            action,
            actor,
            at: next.updated_at,
            reason,
            changes,
        }
    }

    /// The entry of `product`'s creation.
    pub fn created(product: &Product, actor: Actor, reason: Option<String>) -> Self {
        Self::of(None, product, ProductAction::Created, actor, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProductContent, ProductSource, VerificationStatus};

    fn actor() -> Actor {
        Actor {
            sub: "admin-1".into(),
            role: "admin".into(),
            request_id: Some("req-1".into()),
        }
    }

    #[test]
    fn an_entry_holds_what_changed_and_nothing_else() {
        let at = Timestamp::now();
        let content = ProductContent {
            name: "Tata Salt".into(),
            brand: Some("Tata".into()),
            ..Default::default()
        };
        let p = Product::create(ProductId::new(), content, ProductSource::Api, "owner", at);
        let created = HistoryEntry::created(&p, actor(), None);
        assert_eq!(created.version, 1);
        assert!(created.changes.contains_key("name"));
        assert!(!created.changes.contains_key("version"));
        assert!(
            !created.changes.contains_key("regional_names"),
            "empty stays empty"
        );
        let mut next = p.clone();
        next.verification_status = VerificationStatus::Approved;
        next.version = 2;
        let approved = HistoryEntry::of(Some(&p), &next, ProductAction::Approved, actor(), None);
        assert_eq!(
            approved.changes.keys().collect::<Vec<_>>(),
            ["verification_status"]
        );
        assert_eq!(approved.changes["verification_status"].before, "pending");
        assert_eq!(approved.changes["verification_status"].after, "approved");
    }
}
