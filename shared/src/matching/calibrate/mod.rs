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
//! every probability down). Below the top, the same weights rank the others.
//!
//! The decision (`decide`) stays explicit rules, which say why a row needs a person. The
//! probability is what a caller sees as the confidence, and orders review. Held-out
//! measurements of a link threshold on it are in the README ("Matching").

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
/// Rows per product in a catalog smaller than the sample, so a small catalog still trains on
/// a few thousand rows.
const MAX_ROUNDS: usize = 8;
/// Every this-many-th row is matched as if its product were absent: the prior that one row in
/// five names a product the catalog lacks.
const ABSENT_EVERY: usize = 5;
/// The seed of every row's noise (with the product's id): fixed, so rebuilds agree.
const SEED: u64 = 0x6b63_6361_6c69_6272;

/// The fitted model, kept in the index snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub weights: [f32; FEATURES],
    /// How many examples it was fitted on, and how many of them were the right product.
    pub examples: u32,
    pub positives: u32,
}

impl Default for Calibration {
    /// Before training (an empty catalog): one half, whatever the evidence.
    fn default() -> Self {
        Calibration {
            weights: [0.0; FEATURES],
            examples: 0,
            positives: 0,
        }
    }
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
        sigmoid(x.iter().zip(&self.weights).map(|(a, b)| a * b).sum())
    }

    /// Fits the model for `index` from noisy rows of `rows`, the index's products in its own
    /// numbering (`rows[i]` is product `i`).
    pub fn train(index: &MatchIndex, rows: &[CatalogRow]) -> Calibration {
        let sample = sample(index);
        if sample.is_empty() {
            return Calibration::default();
        }
        let rounds = (SAMPLE / sample.len()).clamp(1, MAX_ROUNDS);
        let mut scratch = Scratch::new(index);
        let mut examples = Vec::new();
        let mut labels = Vec::new();
        let mut made = 0usize;
        for p in sample {
            let row = &rows[p as usize];
            let class = index.prod_class[p as usize];
            let mut rng = Rng::new(super::index::fnv1a(row.id.as_bytes(), SEED));
            for _ in 0..rounds {
                made += 1;
                let absent = made.is_multiple_of(ABSENT_EVERY);
                let noisy = noisy_row(row, &mut rng, !absent);
                let (mut ranked, qb) = index.ranked(&noisy, &mut scratch);
                if absent {
                    ranked.retain(|c| c.class != class);
                }
                if let Some(top) = ranked.first() {
                    examples.push(features(top, &Rivals::of(&ranked), qb));
                    labels.push(top.class == class);
                }
            }
        }
        Calibration {
            weights: fit(&examples, &labels),
            examples: examples.len() as u32,
            positives: labels.iter().filter(|&&l| l).count() as u32,
        }
    }
}

/// The products training rows are made from: up to half of `SAMPLE` from the products that
/// state a pack size and the rest from those that do not (each evenly spread over the
/// numbering, which is by brand and name). Rows of both kinds reach any catalog, and a catalog
/// mostly of one kind (a barcode dump without sizes) would otherwise teach only that kind.
fn sample(index: &MatchIndex) -> Vec<u32> {
    let n = index.len() as u32;
    let (sized, sizeless): (Vec<u32>, Vec<u32>) =
        (0..n).partition(|&p| index.prod_size[p as usize] != NO_SIZE);
    let half = SAMPLE / 2;
    let take_sized = sized.len().min(SAMPLE - sizeless.len().min(half));
    let take_unsized = sizeless.len().min(SAMPLE - take_sized);
    let mut out = spread(&sized, take_sized);
    out.extend(spread(&sizeless, take_unsized));
    out.sort_unstable();
    out
}

/// `k` of `items`, evenly spaced.
fn spread(items: &[u32], k: usize) -> Vec<u32> {
    if k == 0 {
        return Vec::new();
    }
    (0..k).map(|i| items[i * items.len() / k]).collect()
}

impl MatchIndex {
    /// The scored candidates of a generated row, best first.
    fn ranked(
        &self,
        row: &perturb::NoisyRow,
        scratch: &mut Scratch,
    ) -> (Vec<Candidate>, QueryBarcode) {
        let q = MatchQuery {
            name: &row.name,
            brand: &row.brand,
            quantity: &row.quantity,
            barcode: &row.barcode,
        };
        let (ranked, qb, _) = self.search(&q, scratch);
        (ranked, qb)
    }
}
