//! The evidence about one candidate, as the numbers the model weighs: its own text evidence,
//! how far it stands from its rivals (products of another brand, name or size), and the
//! states of its brand, size, barcode and variants.

use crate::matching::search::{BarcodeState, BrandState, Candidate, QueryBarcode, SizeState};

/// How many numbers describe a candidate (the first is the constant 1, the intercept).
/// Changing the features or their order changes what a snapshot's weights mean: bump
/// `FORMAT_VERSION` (`index.rs`) with it.
pub const FEATURES: usize = 21;

/// Gaps to rivals are clamped to this either way: beyond it, a rival is simply far.
const GAP: f32 = 0.5;

/// Names of the features, in order (`catalog match` prints the weights by them).
pub const NAMES: [&str; FEATURES] = [
    "intercept",
    "text",
    "q_cov",
    "c_cov",
    "score_margin",
    "text_over_same_size_rival",
    "q_cov_over_same_size_rival",
    "text_over_other_size_rival",
    "brand_hit",
    "brand_miss",
    "brand_conflict",
    "size_agree",
    "size_unstated",
    "size_query_missing",
    "size_catalog_missing",
    "size_conflict",
    "barcode_exact",
    "barcode_near",
    "barcode_unknown",
    "unstated_variant",
    "contradicted",
];

/// The best value of one measure among a list's candidates, and the best among the others'
/// classes: a candidate's rival is the best of another class than its own, found in constant
/// time (the list is read once, not once per candidate).
#[derive(Clone, Copy)]
struct Best {
    value: f32,
    class: u32,
    other: f32,
}

impl Best {
    const NONE: Best = Best {
        value: f32::MIN,
        class: u32::MAX,
        other: f32::MIN,
    };

    fn add(&mut self, value: f32, class: u32) {
        if class == self.class {
            self.value = self.value.max(value);
        } else if value > self.value {
            self.other = self.value;
            self.value = value;
            self.class = class;
        } else {
            self.other = self.other.max(value);
        }
    }

    /// The best value of a class other than `class` (`f32::MIN` when there is none).
    fn rival_of(&self, class: u32) -> f32 {
        if class == self.class {
            self.other
        } else {
            self.value
        }
    }
}

/// The rivals of every candidate of one list.
pub struct Rivals {
    score: Best,
    same_size_text: Best,
    same_size_q: Best,
    other_size_text: Best,
}

impl Rivals {
    pub fn of(ranked: &[Candidate]) -> Rivals {
        let mut r = Rivals {
            score: Best::NONE,
            same_size_text: Best::NONE,
            same_size_q: Best::NONE,
            other_size_text: Best::NONE,
        };
        for o in ranked {
            r.score.add(o.score, o.class);
            if matches!(o.size, SizeState::Conflict | SizeState::TotalOnly) {
                r.other_size_text.add(o.text, o.class);
            } else {
                r.same_size_text.add(o.text, o.class);
                r.same_size_q.add(o.q_cov, o.class);
            }
        }
        r
    }
}

/// The features of candidate `c` of a list whose rivals are `rivals`.
pub fn features(c: &Candidate, rivals: &Rivals, query_barcode: QueryBarcode) -> [f32; FEATURES] {
    let gap = |own: f32, best: &Best| {
        let rival = best.rival_of(c.class);
        if rival == f32::MIN {
            GAP
        } else {
            (own - rival).clamp(-GAP, GAP)
        }
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    [
        1.0,
        c.text,
        c.q_cov,
        c.c_cov,
        gap(c.score, &rivals.score),
        gap(c.text, &rivals.same_size_text),
        gap(c.q_cov, &rivals.same_size_q),
        gap(c.text, &rivals.other_size_text),
        flag(c.brand == BrandState::Hit),
        flag(c.brand == BrandState::Miss),
        flag(c.brand == BrandState::Conflict),
        flag(c.size == SizeState::Agree),
        flag(c.size == SizeState::Unstated),
        flag(c.size == SizeState::QueryMissing),
        flag(matches!(
            c.size,
            SizeState::CatalogMissing | SizeState::CatalogUnknown
        )),
        flag(matches!(c.size, SizeState::Conflict | SizeState::TotalOnly)),
        flag(c.barcode == BarcodeState::Exact),
        flag(c.barcode == BarcodeState::Near),
        // The row's valid barcode is in no product, and this one has none to compare.
        flag(c.barcode == BarcodeState::None && query_barcode == QueryBarcode::UnknownValid),
        flag(c.unstated.is_some()),
        flag(c.number_conflict || c.conflict.is_some() || c.barcode == BarcodeState::Conflict),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rival_is_the_best_of_another_class() {
        let mut b = Best::NONE;
        assert_eq!(b.rival_of(1), f32::MIN);
        for (value, class) in [(0.5, 1), (0.9, 1), (0.7, 2), (0.8, 3), (0.6, 2)] {
            b.add(value, class);
        }
        assert_eq!(b.rival_of(1), 0.8);
        assert_eq!(b.rival_of(3), 0.9);
        assert_eq!(b.rival_of(4), 0.9);
        // A class that overtakes the best keeps the old best as the others' value.
        b.add(1.0, 2);
        assert_eq!((b.rival_of(2), b.rival_of(1)), (0.9, 1.0));
    }

    fn candidate(class: u32, score: f32, size: SizeState) -> Candidate {
        Candidate {
            product: class,
            score,
            text: score,
            q_cov: score,
            c_cov: score,
            size,
            brand: BrandState::Hit,
            barcode: BarcodeState::None,
            number_conflict: false,
            conflict: None,
            unstated: None,
            probability: 0.0,
            class,
        }
    }

    #[test]
    fn leads_are_over_the_best_of_another_class_and_named_in_order() {
        let at = |name: &str| NAMES.iter().position(|n| *n == name).unwrap();
        let ranked = [
            candidate(1, 0.9, SizeState::Agree),
            candidate(1, 0.88, SizeState::Agree),
            candidate(2, 0.7, SizeState::Agree),
            candidate(3, 0.8, SizeState::Conflict),
        ];
        let rivals = Rivals::of(&ranked);
        let best = features(&ranked[0], &rivals, QueryBarcode::None);
        // Its twin of the same class is no rival; the other size's product is one in score.
        assert!((best[at("score_margin")] - 0.1).abs() < 1e-6);
        assert!((best[at("text_over_same_size_rival")] - 0.2).abs() < 1e-6);
        assert!((best[at("text_over_other_size_rival")] - 0.1).abs() < 1e-6);
        assert_eq!((best[at("size_agree")], best[at("brand_hit")]), (1.0, 1.0));
        let runner_up = features(&ranked[2], &rivals, QueryBarcode::None);
        assert!(runner_up[at("score_margin")] < 0.0);
        // Alone, a candidate leads by the most there is.
        let alone = features(&ranked[0], &Rivals::of(&ranked[..1]), QueryBarcode::None);
        assert_eq!(alone[at("score_margin")], GAP);
        assert_eq!(best[at("intercept")], 1.0);
    }
}
