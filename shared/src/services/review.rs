//! The review queue: pending products with what an admin needs to decide in one answer (the
//! record and its quality reasons, where it came from, the matcher's candidates with their
//! evidence, duplicate flags, and how much of it stores hold).

use serde::Serialize;

use super::matching::{MatchRequest, MatchedCandidate};
use super::{Catalog, Listing, PageRequest, ServiceError, ServiceResult};
use crate::auth::{Principal, REVIEWERS};
use crate::domain::inventory::SIZE_ATTRIBUTES;
use crate::domain::{Product, ProductId, ProductSource, Quantity, VerificationStatus};
use crate::matching::BarcodeState;
use crate::ports::{ProductFilter, ReviewOrder};

/// Names at least this close (Jaro-Winkler over folded names, strsim) with the same brand and
/// size flag a likely duplicate.
pub const NEAR_IDENTICAL_NAME: f64 = 0.92;
/// Stores counted per product (a product stocked by more says "at least").
const STORES_COUNTED: usize = 100;

/// Filters of the queue (all given must hold).
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    pub source: Option<ProductSource>,
    pub category: Option<String>,
    /// Only products the matcher finds candidates for (`true`), or none (`false`).
    pub has_candidates: Option<bool>,
    pub order: ReviewOrder,
}

/// Why another product may be this one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DuplicateFlag {
    pub product_id: ProductId,
    pub name: String,
    /// `barcode_one_digit_off`, `near_identical_name` (same brand and size), `same_image`
    /// (the very same image, SHA-256), `near_identical_image` (perceptual hashes at most 10
    /// bits apart: a resized or recompressed copy).
    pub reasons: Vec<&'static str>,
    /// How close the names are (Jaro-Winkler, 0 to 1).
    pub name_similarity: f64,
}

/// How much of the product stores hold.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StockedIn {
    /// Stores with an item of it (at most 100 are counted).
    pub stores: u64,
    /// Their units together.
    pub units: Quantity,
}

/// One pending product with its evidence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewItem {
    /// The record, with `quality_reasons`, `source`, `created_by` and, for an import's
    /// product, the candidates kept when it was created (`match_review`).
    pub product: Product,
    /// What the matcher finds for it in the catalog now (itself left out), best first.
    pub candidates: Vec<MatchedCandidate>,
    pub duplicates: Vec<DuplicateFlag>,
    pub stocked: StockedIn,
}

/// Letters and digits, lower case, single spaces.
fn folded(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn size_of(p: &Product) -> Option<String> {
    SIZE_ATTRIBUTES
        .iter()
        .find_map(|a| p.attributes.get(*a))
        .map(|s| folded(s).replace(' ', ""))
}

/// The duplicate flags `candidate` raises for `p`.
fn flags(p: &Product, c: &MatchedCandidate) -> Option<DuplicateFlag> {
    let other = &c.product;
    let similarity = strsim::jaro_winkler(&folded(&p.name), &folded(&other.name));
    let mut reasons = Vec::new();
    if c.evidence.barcode == BarcodeState::Near {
        reasons.push("barcode_one_digit_off");
    }
    let same_brand = p.brand.as_deref().map(folded) == other.brand.as_deref().map(folded);
    if same_brand && size_of(p) == size_of(other) && similarity >= NEAR_IDENTICAL_NAME {
        reasons.push("near_identical_name");
    }
    reasons.extend(image_flag(p, other));
    (!reasons.is_empty()).then(|| DuplicateFlag {
        product_id: other.product_id,
        name: other.name.clone(),
        reasons,
        name_similarity: (similarity * 1000.0).round() / 1000.0,
    })
}

/// How `p`'s image compares with `other`'s: the very same, a near copy, or neither.
fn image_flag(p: &Product, other: &Product) -> Option<&'static str> {
    if p.image_hash.is_some() && p.image_hash == other.image_hash {
        return Some("same_image");
    }
    let hash = |x: &Product| {
        x.image_perceptual_hash
            .as_deref()
            .and_then(crate::images::Perceptual::parse)
    };
    match (hash(p), hash(other)) {
        (Some(a), Some(b)) if a.is_near(b) => Some("near_identical_image"),
        _ => None,
    }
}

impl Catalog {
    /// Pending products in `filter.order` (oldest first by default), with their evidence.
    /// Admins and reviewers.
    pub async fn review_queue(
        &self,
        who: &Principal,
        filter: ReviewFilter,
        page: &PageRequest,
    ) -> ServiceResult<Listing<ReviewItem>> {
        who.require_role(REVIEWERS)?;
        let scope = format!(
            "review|source={}|category={}|has_candidates={:?}|order={:?}",
            filter.source.map(|s| s.as_str()).unwrap_or(""),
            filter.category.as_deref().unwrap_or(""),
            filter.has_candidates,
            filter.order
        );
        let query = self.open_page(&scope, page)?;
        let found = self
            .products
            .list(
                &ProductFilter {
                    status: Some(VerificationStatus::Pending),
                    category: filter.category.clone(),
                    order: filter.order,
                    ..Default::default()
                },
                &query,
            )
            .await
            .map_err(ServiceError::storage)?;
        let mut items = Vec::with_capacity(found.items.len());
        for product in found.items {
            if filter.source.is_some_and(|s| s != product.source) {
                continue;
            }
            let item = self.evidence(who, product).await?;
            if filter
                .has_candidates
                .is_some_and(|want| want == item.candidates.is_empty())
            {
                continue;
            }
            items.push(item);
        }
        Ok(self.seal_page(
            &scope,
            crate::ports::Page {
                items,
                next: found.next,
            },
            |i| i,
        ))
    }

    /// What an admin needs to decide on `product`.
    async fn evidence(&self, who: &Principal, product: Product) -> ServiceResult<ReviewItem> {
        let matched = match self
            .match_product(
                who,
                MatchRequest {
                    name: product.name.clone(),
                    brand: product.brand.clone().unwrap_or_default(),
                    quantity: size_of(&product).unwrap_or_default(),
                    barcode: product
                        .barcode
                        .as_ref()
                        .map(|b| b.to_string())
                        .unwrap_or_default(),
                    limit: 5,
                },
            )
            .await
        {
            Ok(m) => m.candidates,
            // No index published yet (a fresh deployment): the rest of the evidence stands.
            Err(ServiceError::Unavailable(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let candidates: Vec<MatchedCandidate> = matched
            .into_iter()
            .filter(|c| c.product.product_id != product.product_id)
            .collect();
        let mut duplicates: Vec<DuplicateFlag> = candidates
            .iter()
            .filter_map(|c| flags(&product, c))
            .collect();
        // Products with the very same image or a near copy, whatever their names.
        let unflagged: Vec<ProductId> = product
            .same_image_as
            .iter()
            .chain(&product.similar_image_as)
            .filter(|id| !duplicates.iter().any(|d| d.product_id == **id))
            .copied()
            .collect();
        if !unflagged.is_empty() {
            let others = self
                .products
                .get_many(&unflagged)
                .await
                .map_err(ServiceError::storage)?;
            for other in others.iter().filter(|o| image_flag(&product, o).is_some()) {
                duplicates.push(DuplicateFlag {
                    product_id: other.product_id,
                    name: other.name.clone(),
                    reasons: image_flag(&product, other).into_iter().collect(),
                    name_similarity: (strsim::jaro_winkler(
                        &folded(&product.name),
                        &folded(&other.name),
                    ) * 1000.0)
                        .round()
                        / 1000.0,
                });
            }
        }
        let stores = self
            .inventory
            .stores_stocking(&product.product_id, STORES_COUNTED)
            .await
            .map_err(ServiceError::storage)?;
        let mut units = Quantity::ZERO;
        let mut stocking = 0;
        for store in &stores {
            if let Some(item) = self
                .inventory
                .get(store, &product.product_id)
                .await
                .map_err(ServiceError::storage)?
            {
                stocking += 1;
                units = Quantity::try_from_decimal(
                    units.as_decimal() + item.details.quantity.as_decimal(),
                )
                .unwrap_or(units);
            }
        }
        Ok(ReviewItem {
            product,
            candidates,
            duplicates,
            stocked: StockedIn {
                stores: stocking,
                units,
            },
        })
    }
}
