//! Variants: what makes siblings different products, compared between the row and a
//! candidate.
//! - A conflict blocks a link on its own (the row goes to review), whatever the text says:
//!   - each side names a word of one variant class (`variants.tsv`: colour, flavour or scent,
//!     audience, material) that the other does not: `green` against `black`, `lavender`
//!     against `rose`;
//!   - a strength: an amount the row states that the product's name states otherwise in the
//!     same unit, other than the pack (a pack of another size is `SizeState::Conflict`):
//!     `500 mg` tablets, 60 of them, against `250 mg` capsules, 60 of them; `28 cm` against
//!     `25 cm`;
//!   - a model code: the row names codes (`dc50w`), the product others (`dc50b`), none the same.
//! - An unstated variant is evidence, not a block: the product names a variant word and the
//!   row names none of that class that the product lacks. The row may mean a sibling the
//!   catalog does not hold, or may just leave the colour out; blocking it on held-out rows
//!   cost about ten correct links for each wrong one it stopped.
//!
//! Words are compared as stage 2 aligned them, so a typo (`bluwe`) or a synonym (`kesar`,
//! `saffron`) of the product's own word is no conflict.

use serde::Serialize;

use super::*;
use crate::matching::analyze::is_code;
use crate::matching::lexicon::WordClass;
use crate::matching::quantity::Size;

/// Stage 2's alignment threshold: a word pair this similar is the same word.
const ALIGNED: f32 = 0.7;

/// The same word but for a plural ending (`grapes`, `grape`).
fn same_word(a: &str, b: &str) -> bool {
    let stem = |w: &'_ str| -> String {
        let w = w
            .strip_suffix("es")
            .filter(|s| s.ends_with(['s', 'x', 'h']))
            .unwrap_or(w);
        w.strip_suffix('s').unwrap_or(w).to_string()
    };
    stem(a) == stem(b)
}

/// What makes siblings different products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VariantKind {
    Colour,
    /// A flavour, scent or variety (`mango`, `lavender`, `chicken`).
    Flavour,
    /// Who it is for (`men`, `women`, `kids`, `baby`).
    Audience,
    Material,
    /// An amount with a unit inside the name (`400 mg`, `28 cm`).
    Strength,
    /// A model code (`kx-ts208w`, `cch1b`).
    Model,
}

impl From<WordClass> for VariantKind {
    fn from(c: WordClass) -> VariantKind {
        match c {
            WordClass::Colour => VariantKind::Colour,
            WordClass::Flavour => VariantKind::Flavour,
            WordClass::Audience => VariantKind::Audience,
            WordClass::Material => VariantKind::Material,
        }
    }
}

/// A variant the row and the product state differently: the candidate is not linked on its
/// own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    pub kind: VariantKind,
    /// What the row says (`green`, `0.4g`, `dc50w`).
    pub row: String,
    /// What the product says (`black`, `0.25g`, `dc50b`).
    pub product: String,
}

/// A variant the product names and the row leaves out (`green`, when the row names no
/// colour the product lacks): the row may mean a sibling the catalog does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unstated {
    pub kind: VariantKind,
    /// The product's word.
    pub product: String,
}

/// What the variants say about one candidate.
#[derive(Debug, Default)]
pub(super) struct Variants {
    pub(super) conflict: Option<Conflict>,
    pub(super) unstated: Option<Unstated>,
}

impl MatchIndex {
    /// The variants of product `p` against the row. `best[qi]` is how well the product
    /// explains query word `qi`, and with which of its words; `matched[k]` how well the row
    /// explains the product's word `k` (its first `nb` are the brand's, which name no variant).
    pub(super) fn variants(
        &self,
        parsed: &Parsed,
        p: u32,
        best: &[(f32, u8)],
        matched: &[f32],
        nb: usize,
    ) -> Variants {
        const CLASSES: usize = WordClass::ALL.len();
        let terms = self.prod_terms.get(p);
        // Per class, the first word each side names that the other does not. A row's variant
        // word is explained by the same word (or a synonym), or by a variant word of its class
        // it is a spelling of: a typo (`bluwe`, `blue`) or a plural (`grapes`, `grape`), not
        // another word of the class it merely resembles (`lemon`, `lemongrass`), nor a loose
        // likeness to another kind of word (`red` is not an abbreviation of `round`).
        let mut row: [Option<usize>; CLASSES] = [None; CLASSES];
        // A product's variant word the row only resembles (`lemongrass` for `lemon`).
        let mut resembled: [Option<u32>; CLASSES] = [None; CLASSES];
        for (qi, q) in parsed.tokens.iter().enumerate().take(parsed.brand_from) {
            let Some(c) = q.class else { continue };
            let Some(&(b, at)) = best.get(qi) else {
                continue;
            };
            let aligned = terms[..matched.len()]
                .get(usize::from(at))
                .copied()
                .filter(|&t| self.term_class[t as usize] == Some(c));
            let explained = b >= 1.0
                || aligned.is_some_and(|t| {
                    b >= ALIGNED && (!q.class_named || same_word(&q.alts[0], self.terms.get(t)))
                });
            if !explained {
                row[c as usize].get_or_insert(qi);
                if let Some(t) = aligned {
                    resembled[c as usize].get_or_insert(t);
                }
            }
        }
        let mut product: [Option<u32>; CLASSES] = resembled;
        for (k, &t) in terms.iter().enumerate().take(matched.len()).skip(nb) {
            if let Some(c) = self.term_class[t as usize]
                && matched[k] < ALIGNED
            {
                product[c as usize].get_or_insert(t);
            }
        }
        let word = |t: u32| self.terms.get(t).to_string();
        let conflict = WordClass::ALL
            .into_iter()
            .find_map(|c| {
                Some(Conflict {
                    kind: c.into(),
                    row: parsed.tokens[row[c as usize]?].alts[0].clone(),
                    product: word(product[c as usize]?),
                })
            })
            .or_else(|| self.strength_conflict(parsed, p))
            .or_else(|| self.model_conflict(parsed, terms, nb));
        let unstated = WordClass::ALL.into_iter().find_map(|c| {
            if row[c as usize].is_some() {
                return None;
            }
            Some(Unstated {
                kind: c.into(),
                product: word(product[c as usize]?),
            })
        });
        Variants { conflict, unstated }
    }

    /// The row names model codes and the product others, none of them the same (`dc50w`
    /// against `dc50b`: often a colour, as here, or a generation).
    fn model_conflict(&self, parsed: &Parsed, terms: &[u32], nb: usize) -> Option<Conflict> {
        let mut row = parsed.tokens[..parsed.brand_from]
            .iter()
            .flat_map(|q| q.alts.iter().skip(1))
            .filter(|a| is_code(a))
            .peekable();
        let first = (*row.peek()?).clone();
        let product: Vec<&str> = terms
            .iter()
            .skip(nb)
            .filter(|&&t| self.term_code[t as usize])
            .map(|&t| self.terms.get(t))
            .collect();
        if product.is_empty() || row.any(|a| product.contains(&a.as_str())) {
            return None;
        }
        Some(Conflict {
            kind: VariantKind::Model,
            row: first,
            product: product[0].to_string(),
        })
    }

    /// An amount the row states that the product's name states otherwise, in the same unit,
    /// where the pack size is not the difference (that is `SizeState::Conflict`).
    fn strength_conflict(&self, parsed: &Parsed, p: u32) -> Option<Conflict> {
        let own = self.pack_size(p);
        let named = self.prod_sizes.get(p);
        for q in &parsed.sizes {
            let pack = |c: &Size| c.unit == q.unit;
            if own.as_ref().is_some_and(pack) || named.iter().any(|o| o.same_amount(q)) {
                continue;
            }
            if let Some(o) = named.iter().find(|o| o.unit == q.unit && !o.same_total(q)) {
                return Some(Conflict {
                    kind: VariantKind::Strength,
                    row: q.to_string(),
                    product: o.to_string(),
                });
            }
        }
        None
    }
}
