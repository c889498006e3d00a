//! The decision: link automatically (`match`), ask a person (`review`), or create (`new`).
//!
//! Owns the policy, as explicit rules over the best candidate and its rivals (products of
//! another brand/name/size class). A row is linked on its own only when nothing could make the
//! link wrong that the row itself would reveal:
//! - the size agrees (or the barcode is exact, or neither the row nor the product states one):
//!   a different size is a different product, and a row without a size cannot tell the 50 g
//!   pack from the 100 g one;
//! - without a size on either side, the row names the product's brand, or the product has no
//!   brand and the row is its description word for word (a bare "red chilli sauce" names a
//!   kind, not one of the catalog's sauces; but when the catalog's product is that same bare
//!   description, the row says all it says, and a new product would be its duplicate);
//! - the text explains the query well (almost every word of the row), and clearly better than
//!   any rival that could be the same product;
//! - no sibling in another size explains it better;
//! - no barcode, brand or model number contradicts it, and no variant either: a colour, a
//!   flavour or scent, an audience, a material, a strength or a model code the row and the
//!   product state differently (`search::conflict`).
//!
//! Everything else with a plausible candidate goes to review; weak text means a new product.

use serde::Serialize;

use super::search::{BarcodeState, BrandState, Candidate, QueryBarcode, SizeState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Match,
    Review,
    New,
}

impl Decision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Match => "match",
            Decision::Review => "review",
            Decision::New => "new",
        }
    }
}

/// Text score needed to link without a barcode.
pub const MATCH_TEXT: f32 = 0.78;
/// Lead in score over the best rival needed to link.
pub const MATCH_MARGIN: f32 = 0.03;
/// A rival within this much of the best in both query coverage and text makes it ambiguous.
pub const UNIQUENESS: f32 = 0.05;
/// Share of the row's (IDF-weighted) words the product must explain to link on its own: words
/// the product lacks name something it is not (another flavour, material, model).
pub const MATCH_QUERY_COVERAGE: f32 = 0.85;
/// Share of the product's (IDF-weighted) words the row must name to link on its own (its brand
/// words aside when the row names no brand): a product most of whose name the row leaves
/// unexplained is more specific than the row (a model, a variant, a set) and may be a sibling
/// of the product the row means.
pub const MATCH_CATALOG_COVERAGE: f32 = 0.45;
/// A rival of another size may not explain the text better by more than this.
pub const SIBLING_SLACK: f32 = 0.02;
/// With an exact barcode, the text only has to be this plausible.
pub const BARCODE_TEXT: f32 = 0.4;
/// With a near barcode (one digit off) and an agreeing size, this much text links.
pub const NEAR_BARCODE_TEXT: f32 = 0.6;
/// Both coverages at least this: the row and the product say the same words (after
/// normalisation, synonyms and spelling variants).
pub const COPY_COVERAGE: f32 = 0.99;
/// Below this text score (and without a barcode hit) the row is a new product.
pub const REVIEW_TEXT: f32 = 0.5;

/// The row's exact barcode is this product's, and the text and size do not contradict it: a
/// link whatever the rivals.
pub fn barcode_links(best: &Candidate) -> bool {
    best.barcode == BarcodeState::Exact
        && best.text >= BARCODE_TEXT
        && best.size != SizeState::Conflict
}

/// Decides for the best of `ranked` (sorted best first).
pub fn decide(ranked: &[Candidate], query_barcode: QueryBarcode) -> Decision {
    let Some(best) = ranked.first() else {
        return Decision::New;
    };
    if barcode_links(best) {
        return Decision::Match;
    }
    let size_agrees = best.size == SizeState::Agree;
    // Neither side states a size: nothing the row says is contradicted, but then the row must
    // name the product's brand too (a bare "red chilli sauce" names a kind, not a product),
    // unless the product is that same bare description.
    let copy_of_bare = best.brand == BrandState::None
        && best.q_cov >= COPY_COVERAGE
        && best.c_cov >= COPY_COVERAGE;
    let size_ok = size_agrees
        || (best.size == SizeState::Unstated && (best.brand == BrandState::Hit || copy_of_bare));
    let others = ranked[1..].iter().filter(|c| c.class != best.class);
    let mut best_other_text = 0f32;
    let mut best_other_score = f32::MIN;
    let mut unique = true;
    for o in others {
        best_other_text = best_other_text.max(o.text);
        best_other_score = best_other_score.max(o.score);
        // A rival of another size is another product. One whose size the catalog does not know
        // is weaker evidence than the best's agreeing size: it only blocks if its text is better.
        let could_be_it = match o.size {
            SizeState::Conflict | SizeState::TotalOnly => false,
            SizeState::CatalogMissing | SizeState::CatalogUnknown if size_agrees => {
                o.text > best.text + SIBLING_SLACK
            }
            _ => true,
        };
        if could_be_it && o.q_cov >= best.q_cov - UNIQUENESS && o.text >= best.text - UNIQUENESS {
            unique = false;
        }
    }
    let margin = if best_other_score == f32::MIN {
        1.0
    } else {
        best.score - best_other_score
    };
    let no_better_sibling = best_other_text <= best.text + SIBLING_SLACK;
    let barcode_ok =
        best.barcode != BarcodeState::Conflict && query_barcode != QueryBarcode::UnknownValid;
    let contradicted =
        best.brand == BrandState::Conflict || best.number_conflict || best.conflict.is_some();

    if best.barcode == BarcodeState::Near
        && best.text >= NEAR_BARCODE_TEXT
        && size_agrees
        && !contradicted
    {
        return Decision::Match;
    }
    if size_ok
        && best.text >= MATCH_TEXT
        && best.q_cov >= MATCH_QUERY_COVERAGE
        && best.c_cov >= MATCH_CATALOG_COVERAGE
        && margin >= MATCH_MARGIN
        && unique
        && no_better_sibling
        && barcode_ok
        && !contradicted
    {
        return Decision::Match;
    }
    if best.text >= REVIEW_TEXT || matches!(best.barcode, BarcodeState::Exact | BarcodeState::Near)
    {
        Decision::Review
    } else {
        Decision::New
    }
}
