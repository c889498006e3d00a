//! Enrichment: a product filled from Open Food Facts (OFF). Where a product's lookup stands,
//! what the catalog takes from OFF's record, and how it says where the data came from.
//!
//! Owns the fill rule: OFF fills only what the product lacks (a scan's placeholder name counts
//! as lacking), never overwrites what a person or an import wrote, and never decides the
//! review: an enriched product stays as it was (`pending` for a new one). Knows nothing of
//! HTTP or OFF's JSON (`crate::off` reads that into [`OffFacts`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Gtin, Product, ProductContent, ProductId, ProductSource, RegionCode, Timestamp};

/// Where a product's Open Food Facts lookup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrichmentStatus {
    /// Waiting for its lookup (or for the next try after OFF failed to answer).
    Queued,
    /// OFF knows the barcode: what the product lacked was filled.
    Found,
    /// OFF does not know the barcode.
    NotFound,
    /// OFF did not answer for as long as the lookup was retried (`detail` says what it said
    /// last); an admin may ask again.
    Failed,
}

impl EnrichmentStatus {
    pub const ALL: [EnrichmentStatus; 4] =
        [Self::Queued, Self::Found, Self::NotFound, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Found => "found",
            Self::NotFound => "not_found",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The source's name on a product's enrichment and on products an OFF export created.
pub const OFF_SOURCE: &str = "openfoodfacts";
/// What OFF's licence asks of whoever reuses its data.
pub const OFF_LICENCE: &str = "ODbL-1.0";
pub const OFF_NOTICE: &str = "Product data from Open Food Facts (https://world.openfoodfacts.org), \
     by the Open Food Facts contributors, available under the Open Database License (ODbL 1.0); \
     product images under CC BY-SA 3.0.";

/// Where enriched data came from, as its licence asks it to be said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Attribution {
    /// `openfoodfacts`.
    pub source: String,
    /// The product's page at the source.
    pub url: String,
    /// `ODbL-1.0`.
    pub licence: String,
    pub notice: String,
}

impl Attribution {
    /// OFF's attribution for its product page `url`.
    pub fn open_food_facts(url: &str) -> Self {
        Attribution {
            source: OFF_SOURCE.into(),
            url: url.to_string(),
            licence: OFF_LICENCE.into(),
            notice: OFF_NOTICE.into(),
        }
    }
}

/// A product's lookup in Open Food Facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Enrichment {
    pub status: EnrichmentStatus,
    /// When the lookup was asked for.
    pub queued_at: Timestamp,
    /// While OFF does not answer: when the next try is due (a try's bookkeeping, written
    /// without a new version: the enrichment sweep reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    /// When OFF answered (found, not found) or the lookup was given up (failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub looked_up_at: Option<Timestamp>,
    /// The product's fields that were filled from OFF, by this lookup and earlier ones
    /// (`name`, `brand`, `category`, `attributes.quantity`, `regional_names.IN-TN`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filled: Vec<String>,
    /// Why the lookup failed (failed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Set once OFF knew the product (kept by later lookups: the data stays OFF's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
}

impl Enrichment {
    /// A lookup asked for at `at`.
    pub fn queued(at: Timestamp) -> Self {
        Enrichment {
            status: EnrichmentStatus::Queued,
            queued_at: at,
            due: None,
            looked_up_at: None,
            filled: Vec::new(),
            detail: None,
            attribution: None,
        }
    }

    /// When the sweep may take the lookup for lost: its next try's due time, else when it
    /// was asked for.
    pub fn due_at(&self) -> Timestamp {
        self.due.unwrap_or(self.queued_at)
    }

    pub fn is_queued(&self) -> bool {
        self.status == EnrichmentStatus::Queued
    }
}

/// What Open Food Facts says of a barcode, read and cleaned (`crate::off` makes it): each
/// field already within the catalog's limits, absent when OFF has nothing usable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffFacts {
    pub name: Option<String>,
    pub brand: Option<String>,
    /// The net content as OFF states it (`500 g`, `1 L`).
    pub quantity: Option<String>,
    /// A catalog category path (`Beverages > Tea`), from OFF's categories.
    pub category: Option<String>,
    /// Names in the regions' languages (`product_name_ta` under `IN-TN`).
    pub regional_names: BTreeMap<RegionCode, Vec<String>>,
    /// The front image's URL at OFF.
    pub image_url: Option<String>,
    /// The product's page at OFF.
    pub url: String,
}

/// Who creates the products an OFF export brings (`created_by`, the history's actor).
pub const OFF_IMPORTER: &str = "off-import";
/// The namespace of the ids of products made from OFF records (UUIDv5 of the barcode).
const OFF_PRODUCT_NAMESPACE: uuid::Uuid = uuid::uuid!("0c8f6a7e-3d52-5b1e-9a44-6e2f1d7c9b30");

/// The attribute the net content goes in (the first of the size attributes the matcher reads).
pub const QUANTITY_ATTRIBUTE: &str = "quantity";

impl Product {
    /// Whether the name is still a scan's placeholder (`Unidentified product <barcode>`).
    pub fn has_placeholder_name(&self) -> bool {
        self.source == ProductSource::Scan && self.name.starts_with("Unidentified product ")
    }

    /// The next version of this product filled from `facts` where it lacks a field, its
    /// lookup `found` with OFF's attribution, rescored, and the fields this filled (none:
    /// OFF had nothing to add). Its review status stays.
    pub fn enriched(&self, facts: &OffFacts, now: Timestamp) -> (Product, Vec<String>) {
        let mut next = self.clone();
        let mut filled = Vec::new();
        if let Some(name) = &facts.name
            && (self.has_placeholder_name() || self.name.trim().is_empty())
        {
            next.name = name.clone();
            filled.push("name".to_string());
        }
        if let (None, Some(brand)) = (&self.brand, &facts.brand) {
            next.brand = Some(brand.clone());
            filled.push("brand".into());
        }
        if let (None, Some(category)) = (&self.category, &facts.category) {
            next.category = Some(category.clone());
            filled.push("category".into());
        }
        let has_size = super::product::SIZE_KEYS
            .iter()
            .any(|k| self.attributes.contains_key(*k));
        if let (false, Some(q)) = (has_size, &facts.quantity)
            && self.attributes.len() < super::product::MAX_ATTRIBUTES
        {
            next.attributes
                .insert(QUANTITY_ATTRIBUTE.to_string(), q.clone());
            filled.push(format!("attributes.{QUANTITY_ATTRIBUTE}"));
        }
        for (region, names) in &facts.regional_names {
            if names.is_empty()
                || next.regional_names.len() >= super::product::MAX_REGIONS
                    && !next.regional_names.contains_key(region)
            {
                continue;
            }
            let own = next.regional_names.entry(region.clone()).or_default();
            if own.is_empty() {
                own.extend(
                    names
                        .iter()
                        .take(super::product::MAX_NAMES_PER_REGION)
                        .cloned(),
                );
                filled.push(format!("regional_names.{}", region.as_str()));
            }
        }
        let mut all = self.earlier_filled();
        all.extend(
            filled
                .iter()
                .filter(|f| !all.contains(f))
                .cloned()
                .collect::<Vec<_>>(),
        );
        next.enrichment = Some(Enrichment {
            status: EnrichmentStatus::Found,
            queued_at: self.queued_at_or(now),
            due: None,
            looked_up_at: Some(now),
            filled: all,
            detail: None,
            attribution: Some(Attribution::open_food_facts(&facts.url)),
        });
        next.version = self.version + 1;
        next.updated_at = now;
        next.rescore();
        (next, filled)
    }

    /// A new product made from OFF's record of `barcode` (an export's line): pending review,
    /// its lookup `found` with OFF's attribution, its id derived from the barcode (a rerun
    /// of the same export makes the same product). `None` without a name.
    pub fn from_open_food_facts(
        barcode: Gtin,
        facts: &OffFacts,
        now: Timestamp,
    ) -> Option<Product> {
        let name = facts.name.clone()?;
        let mut attributes = BTreeMap::new();
        if let Some(q) = &facts.quantity {
            attributes.insert(QUANTITY_ATTRIBUTE.to_string(), q.clone());
        }
        let id = ProductId::from_uuid(uuid::Uuid::new_v5(
            &OFF_PRODUCT_NAMESPACE,
            barcode.as_str().as_bytes(),
        ));
        let content = ProductContent {
            name,
            brand: facts.brand.clone(),
            category: facts.category.clone(),
            barcode: Some(barcode),
            regional_names: facts.regional_names.clone(),
            attributes,
        };
        let mut p = Product::create(id, content, ProductSource::OpenFoodFacts, OFF_IMPORTER, now);
        let mut filled = vec!["name".to_string()];
        filled.extend(p.brand.as_ref().map(|_| "brand".to_string()));
        filled.extend(p.category.as_ref().map(|_| "category".to_string()));
        filled.extend(p.attributes.keys().map(|k| format!("attributes.{k}")));
        filled.extend(
            p.regional_names
                .keys()
                .map(|r| format!("regional_names.{}", r.as_str())),
        );
        p.enrichment = Some(Enrichment {
            status: EnrichmentStatus::Found,
            queued_at: now,
            due: None,
            looked_up_at: Some(now),
            filled,
            detail: None,
            attribution: Some(Attribution::open_food_facts(&facts.url)),
        });
        Some(p)
    }

    /// The next version of this product saying OFF does not know its barcode.
    pub fn not_found_upstream(&self, now: Timestamp) -> Product {
        self.with_lookup(EnrichmentStatus::NotFound, None, now)
    }

    /// The next version of this product saying its lookup was given up (`detail`: why).
    pub fn lookup_failed(&self, detail: &str, now: Timestamp) -> Product {
        self.with_lookup(EnrichmentStatus::Failed, Some(detail.to_string()), now)
    }

    /// The next version of this product with its lookup asked for again (a reviewer's
    /// request); what earlier lookups filled, and OFF's attribution for it, stay.
    pub fn lookup_queued(&self, now: Timestamp) -> Product {
        let mut next = self.clone();
        next.enrichment = Some(Enrichment {
            filled: self.earlier_filled(),
            attribution: self.earlier_attribution(),
            ..Enrichment::queued(now)
        });
        next.version = self.version + 1;
        next.updated_at = now;
        next
    }

    fn queued_at_or(&self, now: Timestamp) -> Timestamp {
        self.enrichment.as_ref().map_or(now, |e| e.queued_at)
    }

    fn earlier_filled(&self) -> Vec<String> {
        self.enrichment
            .as_ref()
            .map(|e| e.filled.clone())
            .unwrap_or_default()
    }

    fn earlier_attribution(&self) -> Option<Attribution> {
        self.enrichment.as_ref().and_then(|e| e.attribution.clone())
    }

    fn with_lookup(
        &self,
        status: EnrichmentStatus,
        detail: Option<String>,
        now: Timestamp,
    ) -> Product {
        let mut next = self.clone();
        next.enrichment = Some(Enrichment {
            status,
            queued_at: self.queued_at_or(now),
            due: None,
            looked_up_at: Some(now),
            filled: self.earlier_filled(),
            detail,
            attribution: self.earlier_attribution(),
        });
        next.version = self.version + 1;
        next.updated_at = now;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VerificationStatus;

    fn facts() -> OffFacts {
        OffFacts {
            name: Some("Good Day Cashew Cookies".into()),
            brand: Some("Britannia".into()),
            quantity: Some("200 g".into()),
            category: Some("Snacks & Branded Foods > Biscuits & Cookies".into()),
            regional_names: BTreeMap::from([(
                RegionCode::parse("IN-TN").unwrap(),
                vec!["குட் டே".to_string()],
            )]),
            image_url: None,
            url: "https://world.openfoodfacts.org/product/8901063093287".into(),
        }
    }

    #[test]
    fn a_scan_placeholder_is_filled_and_stays_pending() {
        let barcode = Gtin::parse("8901063093287").unwrap();
        let p = Product::from_unknown_scan(barcode, "scanner-1", Timestamp::now());
        assert!(p.enrichment.as_ref().is_some_and(Enrichment::is_queued));
        let (next, _) = p.enriched(&facts(), Timestamp::now());
        assert_eq!(next.name, "Good Day Cashew Cookies");
        assert_eq!(next.brand.as_deref(), Some("Britannia"));
        assert_eq!(next.attributes["quantity"], "200 g");
        assert_eq!(next.verification_status, VerificationStatus::Pending);
        assert_eq!(next.version, p.version + 1);
        assert!(next.quality_score > p.quality_score);
        let e = next.enrichment.unwrap();
        assert_eq!(e.status, EnrichmentStatus::Found);
        assert_eq!(
            e.filled,
            [
                "name",
                "brand",
                "category",
                "attributes.quantity",
                "regional_names.IN-TN"
            ]
        );
        assert_eq!(e.attribution.unwrap().licence, "ODbL-1.0");
    }

    #[test]
    fn what_a_person_wrote_is_never_overwritten() {
        let content = ProductContent {
            name: "Britannia Good Day Cashew 200g".into(),
            brand: Some("Britannia Industries".into()),
            barcode: Some(Gtin::parse("8901063093287").unwrap()),
            attributes: BTreeMap::from([("pack_size".to_string(), "200 g".to_string())]),
            ..Default::default()
        };
        let p = Product::create(
            ProductId::new(),
            content,
            ProductSource::Api,
            "u",
            Timestamp::now(),
        );
        let (next, _) = p.enriched(&facts(), Timestamp::now());
        assert_eq!(next.name, p.name);
        assert_eq!(next.brand, p.brand);
        assert!(!next.attributes.contains_key("quantity"));
        assert_eq!(
            next.enrichment.unwrap().filled,
            ["category", "regional_names.IN-TN"]
        );
    }

    #[test]
    fn an_export_record_makes_the_same_found_product_every_time() {
        let barcode = Gtin::parse("8901063093287").unwrap();
        let at = Timestamp::now();
        let a = Product::from_open_food_facts(barcode.clone(), &facts(), at).unwrap();
        let b = Product::from_open_food_facts(barcode, &facts(), at).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.source, ProductSource::OpenFoodFacts);
        assert_eq!(a.verification_status, VerificationStatus::Pending);
        let e = a.enrichment.as_ref().unwrap();
        assert_eq!(e.status, EnrichmentStatus::Found);
        assert!(e.filled.contains(&"brand".to_string()));
        // Nothing left to fill: enriching it again changes no field.
        let (again, filled) = a.enriched(&facts(), at);
        assert!(filled.is_empty());
        assert_eq!(
            again.enrichment.unwrap().filled,
            a.enrichment.as_ref().unwrap().filled
        );
        // Asked for again and not found this time: OFF's data and attribution stay.
        let missed = a.lookup_queued(at).not_found_upstream(at);
        let e = missed.enrichment.unwrap();
        assert_eq!(e.status, EnrichmentStatus::NotFound);
        assert_eq!(e.filled, a.enrichment.as_ref().unwrap().filled);
        assert!(e.attribution.is_some());
        let nameless = OffFacts {
            name: None,
            ..facts()
        };
        assert!(
            Product::from_open_food_facts(Gtin::parse("8901063093287").unwrap(), &nameless, at)
                .is_none()
        );
    }

    #[test]
    fn only_products_with_a_barcode_are_queued() {
        let p = Product::create(
            ProductId::new(),
            ProductContent {
                name: "Loose turmeric".into(),
                ..Default::default()
            },
            ProductSource::Api,
            "u",
            Timestamp::now(),
        );
        assert_eq!(p.enrichment, None);
    }
}
