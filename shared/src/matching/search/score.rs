//! Stage 2: the features of one candidate for the query (text coverage both ways, brand, size,
//! barcode, numbers), which the decision reads.

use serde::Serialize;

use super::conflict::Variants;
use super::*;
use crate::matching::index::{MatchIndex, WEIGHT_FULL};
use crate::matching::quantity::Size;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SizeState {
    Agree,
    /// Same total in another packing (2 x 500 g vs 1 kg): another product.
    TotalOnly,
    Conflict,
    QueryMissing,
    /// Neither the row nor the product states a size.
    Unstated,
    CatalogMissing,
    /// The catalog states a pack that is not a size ("Combo").
    CatalogUnknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BrandState {
    Hit,
    Miss,
    Conflict,
    /// The product has no brand.
    None,
}

/// Score added for a product whose brand the row names.
pub(super) const BRAND_HIT_BONUS: f32 = 0.08;
/// Score taken from a product whose variant the row contradicts.
pub(super) const CONFLICT_PENALTY: f32 = 0.05;
/// Score added for a product whose size agrees with the row's.
pub(super) const SIZE_AGREE_BONUS: f32 = 0.10;
/// The most a product without the row's exact barcode can score: full text, brand and size
/// (a near barcode is looked for only when no product has the exact one), and a little for
/// float rounding.
pub(super) const MAX_SCORE_WITHOUT_EXACT_BARCODE: f32 =
    1.0 + BRAND_HIT_BONUS + SIZE_AGREE_BONUS + 0.001;

/// A scored candidate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Index of the product in the index (its id is `MatchIndex::product_id`).
    #[serde(skip)]
    pub product: u32,
    pub score: f32,
    /// 0.7 q_cov + 0.3 c_cov.
    pub text: f32,
    /// Share of the query's (IDF-weighted) words the product explains.
    pub q_cov: f32,
    /// Share of the product's (IDF- and position-weighted) words the query covers; when the
    /// query names no brand (`brand` is `Miss`), of its words other than the brand's.
    pub c_cov: f32,
    pub size: SizeState,
    pub brand: BrandState,
    pub barcode: BarcodeState,
    /// The query has a number (model, SPF) the product lacks while the product has another.
    pub number_conflict: bool,
    /// A variant (colour, flavour or scent, audience, material, strength, model code) the row
    /// and the product state differently: the row is not linked to this product on its own.
    pub conflict: Option<Conflict>,
    /// A variant the product names and the row leaves out: the row may mean a sibling the
    /// catalog does not hold. Shown for a person to judge; it does not block a link.
    // Blocking it on held-out rows cost about ten correct links for each wrong one it stopped
    // (`search::conflict`).
    pub unstated: Option<Unstated>,
    /// The probability, 0 to 1, that this is the row's product: the evidence above weighed by
    /// the model the index learnt from its own catalog (`matching::calibrate`).
    pub probability: f32,
    #[serde(skip)]
    pub class: u32,
}

impl MatchIndex {
    /// Stage 2: the features of product `p` for this query.
    pub(super) fn score(
        &self,
        parsed: &Parsed,
        p: u32,
        barcode: BarcodeState,
        scratch: &mut Scratch,
    ) -> Candidate {
        let span = self.prod_terms.span(p);
        let terms = self.prod_terms.get(p);
        let weights = &self.prod_weight[span];
        let mut matched = [0f32; 64];
        let nterms = terms.len().min(64);
        let mut locals = [0u32; 64];
        for (k, t) in terms.iter().take(nterms).enumerate() {
            locals[k] = scratch.local[t];
        }
        let width = scratch.local_terms.len();
        let (mut num, mut den) = (0f32, 0f32);
        // How well the product explains each of the query's edge brand words.
        let mut edge_best = [0f32; 2];
        // How well the product explains each query word (the first 64), and with which of its
        // words (u8::MAX: none).
        let mut bests = [(0f32, u8::MAX); 64];
        for (qi, q) in parsed.tokens.iter().enumerate() {
            let mut best = 0f32;
            let mut at = usize::MAX;
            let row = qi * width;
            for (k, &t) in terms.iter().take(nterms).enumerate() {
                let cell = &mut scratch.sims[row + locals[k] as usize];
                if *cell < 0.0 {
                    *cell = self.word_similarity(q, t);
                }
                let s = *cell;
                if s > best {
                    best = s;
                    at = k;
                    if s >= 1.0 {
                        break;
                    }
                }
            }
            if let Some(b) = bests.get_mut(qi) {
                *b = (best, u8::try_from(at).unwrap_or(u8::MAX));
            }
            if let Some(j) = parsed.edge_brands.iter().position(|&e| e == qi) {
                edge_best[j] = best;
            }
            num += q.weight * best;
            den += q.weight;
            if best >= 0.7 && at != usize::MAX {
                matched[at] = matched[at].max(best);
            }
        }
        let q_cov = if den > 0.0 { num / den } else { 0.0 };

        let nb = usize::from(self.prod_nbrand[p as usize]).min(nterms);
        let brand = if nb == 0 {
            BrandState::None
        } else if matched[..nb].iter().all(|&m| m >= 0.7) || matched[0] >= 0.75 {
            BrandState::Hit
        } else if parsed.has_brand
            || edge_best[..parsed.edge_brands.len()]
                .iter()
                .any(|&b| b < 0.7)
        {
            // The row's brand column, or a brand word opening or closing its name, names
            // another brand.
            BrandState::Conflict
        } else {
            BrandState::Miss
        };
        // A row that names no brand says nothing about the product's: its brand words count
        // neither for nor against how much of the product the row covers (the brand state
        // carries that evidence). Other words still do.
        let from = if brand == BrandState::Miss && nb < nterms {
            nb
        } else {
            0
        };
        let (mut cn, mut cd) = (0f32, 0f32);
        for k in from..nterms {
            let w = self.idf(terms[k]) * f32::from(weights[k]) / f32::from(WEIGHT_FULL);
            cd += w;
            cn += w * matched[k];
        }
        let c_cov = if cd > 0.0 { cn / cd } else { 0.0 };
        let text = 0.7 * q_cov + 0.3 * c_cov;

        // The query names a number (model, SPF) the product lacks while the product names another.
        let mut product_has_number = false;
        let mut query_numbers_found = 0usize;
        for (k, &t) in terms.iter().enumerate() {
            if self.term_numeric[t as usize] && weights[k] > 0 {
                let w = self.terms.get(t);
                if parsed.numbers.iter().any(|n| n == w) {
                    query_numbers_found += 1;
                } else {
                    product_has_number = true;
                }
            }
        }
        let number_conflict = product_has_number && query_numbers_found < parsed.numbers.len();

        let size = self.size_state(parsed, p);
        let nq = parsed.tokens.len().min(bests.len());
        let Variants { conflict, unstated } =
            self.variants(parsed, p, &bests[..nq], &matched[..nterms], nb);
        let mut score = text;
        score += match brand {
            BrandState::Hit => BRAND_HIT_BONUS,
            BrandState::Miss => -0.02,
            BrandState::Conflict => -0.10,
            BrandState::None => 0.0,
        };
        score += match size {
            SizeState::Agree => SIZE_AGREE_BONUS,
            SizeState::Conflict => -0.15,
            SizeState::CatalogMissing => -0.05,
            SizeState::CatalogUnknown => -0.03,
            SizeState::TotalOnly | SizeState::QueryMissing | SizeState::Unstated => 0.0,
        };
        if number_conflict {
            score -= 0.10;
        }
        // A sibling that contradicts the row ranks below one that only leaves a variant out.
        if conflict.is_some() {
            score -= CONFLICT_PENALTY;
        }
        score += match barcode {
            BarcodeState::Exact => 0.5,
            BarcodeState::Near => 0.4,
            BarcodeState::Conflict => -0.05,
            BarcodeState::None => 0.0,
        };
        Candidate {
            product: p,
            score,
            text,
            q_cov,
            c_cov,
            size,
            brand,
            barcode,
            number_conflict,
            conflict,
            unstated,
            probability: 0.0,
            class: self.prod_class[p as usize],
        }
    }

    pub(super) fn size_state(&self, parsed: &Parsed, p: u32) -> SizeState {
        let qty_text = self.prod_qty_text.get(p);
        let others = self.prod_sizes.get(p);
        let own = self.pack_size(p);
        if parsed.sizes.is_empty() {
            return if !qty_text.is_empty()
                && own.is_none()
                && parsed.words.iter().any(|w| w == qty_text)
            {
                SizeState::Agree
            } else if own.is_none() && others.is_empty() && qty_text.is_empty() {
                SizeState::Unstated
            } else {
                SizeState::QueryMissing
            };
        }
        let stated = |q: &Size| others.iter().any(|o| o.agrees(q));
        match own {
            None => {
                if !others.is_empty() && parsed.sizes.iter().all(stated) {
                    SizeState::Agree
                } else if qty_text.is_empty() {
                    SizeState::CatalogMissing
                } else {
                    SizeState::CatalogUnknown
                }
            }
            Some(c) if parsed.sizes.iter().any(|q| q.agrees(&c)) => SizeState::Agree,
            Some(c) if parsed.sizes.iter().any(|q| q.same_total(&c)) => SizeState::TotalOnly,
            // The pack is in the row's unit and is another size: that the name states the
            // row's size too (a multipack's unit, "2 x 175 g" named "175 g") does not make it
            // the row's pack.
            Some(c) if parsed.sizes.iter().any(|q| q.unit == c.unit) => SizeState::Conflict,
            Some(_) if parsed.sizes.iter().all(stated) => SizeState::Agree,
            Some(_) => SizeState::Conflict,
        }
    }
}
