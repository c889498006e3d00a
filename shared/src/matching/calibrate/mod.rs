//! Calibrated confidence: the probability that a candidate is the row's product, from the
//! evidence stage 2 computes, by a logistic model each index learns from its own catalog when
//! it is built.
//!
//! Training pairs come from the catalog alone (no benchmark file, id or label): for a fixed
//! sample of products, noisy rows a store might have written for each (`perturb`) are matched
//! against the index. A row of a product the catalog holds teaches what the right product
//! looks like next to its rivals; the same kind of row matched with its product (and anything
//! of the same brand, name and size) taken out teaches what a sibling looks like when the
//! row's own product is missing, the case of a product new to the catalog. The example is the
//! row's best candidate: what a caller is told is how likely the proposed product is right
//! (fitting the runners-up too made the top's figure worse: they are easy negatives that pull
//! every probability down). The runners-up get theirs from the same weights, an
//! extrapolation: their leads over rivals are negative, so theirs come out low.
//!
//! The decision (`decide`) stays explicit rules, which say why a row needs a person, and the
//! candidates stay ranked by `score`. The probability is what a caller sees as the confidence
//! (the API's evidence, an import's review candidates). Held-out measurements of a link
//! threshold on it are in the README ("Matching engine").

mod features;
mod logistic;
mod perturb;

use serde::{Deserialize, Serialize};

pub use features::{FEATURES, NAMES};
use features::{Rivals, features};
use logistic::{fit, sigmoid};
use perturb::{Rng, noisy_row};

use super::index::NO_SIZE;
use super::search::{Candidate, MatchQuery, QueryBarcode, Scratch};
use super::{CatalogRow, MatchIndex};

/// Products sampled for training (all of a smaller catalog).
const SAMPLE: usize = 6_000;
/// Rows per product in a catalog smaller than the sample (a catalog of 750 products or fewer
/// trains on 8 rows a product).
const MAX_ROUNDS: usize = 8;
/// Every this-many-th row is matched as if its product were absent: the prior that one row in
/// five names a product the catalog lacks.
const ABSENT_EVERY: usize = 5;
/// Fewer examples than this, or fewer than `MIN_EACH` right or wrong ones (a catalog of a
/// handful of unrelated products, where every row finds its own), teach nothing worth
/// trusting: the model stays untrained.
const MIN_EXAMPLES: usize = 50;
const MIN_EACH: usize = 5;
/// The seed of every row's noise (with the product's id): fixed, so rebuilds agree.
const SEED: u64 = 0x6b63_6361_6c69_6272;

/// The fitted model, kept in the index snapshot. Untrained (the default: every weight zero),
/// it gives every candidate one half.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Calibration {
    pub weights: [f32; FEATURES],
    /// How many examples it was fitted on, and how many of them were the right product.
    pub examples: u32,
    pub positives: u32,
}

impl Calibration {
    /// Fills every candidate's `probability`: that it is the row's product.
    pub fn apply(&self, ranked: &mut [Candidate], qb: QueryBarcode) {
        let rivals = Rivals::of(ranked);
        for c in ranked.iter_mut() {
            c.probability = self.probability(&features(c, &rivals, qb));
        }
    }

    fn probability(&self, x: &[f32; FEATURES]) -> f32 {
        let z: f32 = x.iter().zip(&self.weights).map(|(a, b)| a * b).sum();
        sigmoid(f64::from(z)) as f32
    }

    /// Fits the model for `index` from noisy rows of `rows`, the index's products in its own
    /// numbering (`rows[i]` is product `i`).
    pub(super) fn train(index: &MatchIndex, rows: &[CatalogRow]) -> Calibration {
        debug_assert_eq!(rows.len(), index.len(), "rows in the index's numbering");
        let sample = sample(index);
        if sample.is_empty() {
            return Calibration::default();
        }
        let rounds = (SAMPLE / sample.len()).clamp(1, MAX_ROUNDS);
        let mut scratch = Scratch::new(index);
        let mut examples = Vec::new();
        let mut labels = Vec::new();
        let mut made = 0usize;
        for (k, &p) in sample.iter().enumerate() {
            let row = &rows[p as usize];
            // Words a shop adds come from the product half the sample away.
            let other = &rows[sample[(k + sample.len() / 2) % sample.len()] as usize];
            let class = index.prod_class[p as usize];
            let mut rng = Rng::new(super::index::fnv1a(row.id.as_bytes(), SEED));
            for _ in 0..rounds {
                made += 1;
                let absent = made.is_multiple_of(ABSENT_EVERY);
                let noisy = noisy_row(row, other, &mut rng, !absent);
                let q = MatchQuery {
                    name: &noisy.name,
                    brand: &noisy.brand,
                    quantity: &noisy.quantity,
                    barcode: &noisy.barcode,
                };
                let (mut ranked, qb, _) = index.search(&q, &mut scratch);
                if absent {
                    ranked.retain(|c| c.class != class);
                }
                if let Some(top) = ranked.first() {
                    examples.push(features(top, &Rivals::of(&ranked), qb));
                    labels.push(top.class == class);
                }
            }
        }
        let positives = labels.iter().filter(|&&l| l).count();
        if examples.len() < MIN_EXAMPLES || positives.min(examples.len() - positives) < MIN_EACH {
            return Calibration::default();
        }
        Calibration {
            weights: fit(&examples, &labels),
            examples: examples.len() as u32,
            positives: positives as u32,
        }
    }
}

/// The products training rows are made from, evenly spread over the numbering (by brand and
/// name): up to half of `SAMPLE` from the products that state no pack size, and the rest from
/// those that do (or more of the size-less when too few state one). Rows of both kinds reach
/// any catalog, and a catalog mostly of one kind (a barcode dump without sizes) would
/// otherwise teach only that kind.
fn sample(index: &MatchIndex) -> Vec<u32> {
    let n = index.len() as u32;
    let (sized, sizeless): (Vec<u32>, Vec<u32>) =
        (0..n).partition(|&p| index.prod_size[p as usize] != NO_SIZE);
    let (take_sized, take_sizeless) = shares(sized.len(), sizeless.len());
    let mut out = spread(&sized, take_sized);
    out.extend(spread(&sizeless, take_sizeless));
    out.sort_unstable();
    out
}

/// How many of the sized and of the size-less products to sample.
fn shares(sized: usize, sizeless: usize) -> (usize, usize) {
    let take_sized = sized.min(SAMPLE - sizeless.min(SAMPLE / 2));
    (take_sized, sizeless.min(SAMPLE - take_sized))
}

/// `k` of `items`, evenly spaced.
fn spread(items: &[u32], k: usize) -> Vec<u32> {
    if k == 0 {
        return Vec::new();
    }
    (0..k).map(|i| items[i * items.len() / k]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_takes_both_kinds_of_product_and_all_of_a_small_catalog() {
        assert_eq!(shares(0, 0), (0, 0));
        assert_eq!(shares(10, 20), (10, 20));
        assert_eq!(shares(10_000, 10_000), (3_000, 3_000));
        assert_eq!(shares(100, 10_000), (100, 5_900));
        assert_eq!(shares(10_000, 100), (5_900, 100));
        let items: Vec<u32> = (0..10).map(|i| i * 3).collect();
        assert_eq!(spread(&items, 0), Vec::<u32>::new());
        assert_eq!(spread(&items, 10), items);
        assert_eq!(spread(&items, 3), vec![0, 9, 18]);
        let index = MatchIndex::build([
            CatalogRow {
                id: "a",
                name: "Toor Dal",
                quantity: "1 kg",
                ..Default::default()
            },
            CatalogRow {
                id: "b",
                name: "Yellow Mustard",
                ..Default::default()
            },
        ]);
        assert_eq!(sample(&index), vec![0, 1]);
        assert!(sample(&MatchIndex::build([])).is_empty());
    }
}
