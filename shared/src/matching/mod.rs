//! Product matching: find the catalog product behind a messy row (name, brand, quantity,
//! barcode), fast, at a million products, and say whether it is safe to link on its own.
//!
//! Owns the whole matching pipeline; knows nothing of storage or HTTP:
//! - `text`, `indic`, `phonetic`: normalisation (NFKC, case, accents), Devanagari/Tamil to
//!   Latin, phonetic keys that merge spelling variants;
//! - `quantity`: pack sizes to one canonical form (a different size is a different product);
//! - `lexicon`: the vocabulary as data (units, glossary, synonyms, abbreviations, stopwords);
//! - `index`: the candidate index and its versioned snapshot;
//! - `search`: candidates and their features; `decide`: match / review / new.
//!
//! ```
//! use catalog_core::matching::{CatalogRow, Decision, MatchIndex, MatchQuery, Scratch};
//! let rows = [
//!     CatalogRow { id: "p1", name: "Haldi Chandan Skin Brightening Face Wash", brand: "Himalaya", quantity: "100 g", ..Default::default() },
//!     CatalogRow { id: "p2", name: "Haldi Chandan Skin Brightening Face Wash", brand: "Himalaya", quantity: "50 g", ..Default::default() },
//! ];
//! let index = MatchIndex::build(rows);
//! let mut scratch = Scratch::new(&index);
//! let q = MatchQuery { name: "himalaya haldhi chandan skin brightning face wash 100g", ..Default::default() };
//! let outcome = index.match_row(&q, &mut scratch);
//! assert_eq!(outcome.decision, Decision::Match);
//! assert_eq!(index.product_id(outcome.candidates[0].product), "p1");
//! ```

mod analyze;
mod calibrate;
mod decide;
mod fuzzy;
mod index;
mod indic;
mod lexicon;
mod loaded;
mod phonetic;
mod quantity;
mod search;
mod text;

pub use calibrate::{Calibration, NAMES as CALIBRATION_NAMES};
pub use decide::{Decision, decide};
pub use index::{CatalogRow, FORMAT_VERSION, MatchIndex, SnapshotError};
pub use loaded::LoadedIndex;
pub use quantity::{BaseUnit, Size};
pub use search::{
    BarcodeState, BrandState, CANDIDATES, Candidate, Conflict, MatchQuery, QueryBarcode, Scratch,
    SizeState, Unstated, VariantKind,
};

/// The result of matching one row.
#[derive(Debug, Clone)]
pub struct MatchOutcome {
    pub decision: Decision,
    /// Best first. The first is the proposed product (for `match` and `review`).
    pub candidates: Vec<Candidate>,
    pub query_barcode: QueryBarcode,
    /// The pack sizes the row states.
    pub sizes: Vec<Size>,
}

impl MatchOutcome {
    /// The probability, 0 to 1, that the proposed product is the row's (0 without one).
    pub fn confidence(&self) -> f32 {
        self.candidates.first().map_or(0.0, |c| c.probability)
    }
}

impl MatchIndex {
    /// Matches one row and decides.
    pub fn match_row(&self, q: &MatchQuery, scratch: &mut Scratch) -> MatchOutcome {
        let (mut candidates, query_barcode, parsed) = self.search(q, scratch);
        self.calibration.apply(&mut candidates, query_barcode);
        let decision = decide(&candidates, query_barcode);
        MatchOutcome {
            decision,
            candidates,
            query_barcode,
            sizes: parsed.sizes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        id: &'a str,
        brand: &'a str,
        name: &'a str,
        quantity: &'a str,
        barcode: &'a str,
    ) -> CatalogRow<'a> {
        CatalogRow {
            id,
            name,
            brand,
            quantity,
            barcode,
            aliases: &[],
        }
    }

    fn catalog() -> MatchIndex {
        MatchIndex::build([
            row(
                "wash-50",
                "Himalaya",
                "Haldi Chandan Skin Brightening Face Wash",
                "50 g",
                "8901138511111",
            ),
            row(
                "wash-100",
                "Himalaya",
                "Haldi Chandan Skin Brightening Face Wash",
                "100 g",
                "8901138522223",
            ),
            row(
                "salt-1kg",
                "Tata",
                "Salt - Iodised",
                "1 kg",
                "8901058000290",
            ),
            row("salt-2x500", "Tata", "Salt - Iodised", "2x500 g", ""),
            row("dal-1kg", "BB Royal", "Toor Dal/Arhar Dal", "1 kg", ""),
            row("turmeric", "Everest", "Turmeric Powder", "100 g", ""),
            row("mustard", "", "Yellow Mustard", "", "0012345678905"),
            row("mustard-sauce", "Veeba", "Yellow Mustard Sauce", "", ""),
            row("milk-ru", "", "Молоко 3,2%", "1 L", ""),
            row("soap", "Dove", "Cream Beauty Bathing Bar", "3x100 g", ""),
            row(
                "bucket",
                "Swastik",
                "Plastic Water Bucket With Lid And Steel Handle - Round, Blue",
                "18 L",
                "",
            ),
        ])
    }

    fn best(index: &MatchIndex, q: MatchQuery) -> (Decision, String) {
        let mut scratch = Scratch::new(index);
        let o = index.match_row(&q, &mut scratch);
        (
            o.decision,
            o.candidates
                .first()
                .map(|c| index.product_id(c.product).to_string())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn links_a_noisy_row_to_its_size() {
        let index = catalog();
        let q = MatchQuery {
            name: "haldhi chandan skin brightning face wash 100g",
            brand: "Himalaya",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "wash-100".into()));
    }

    #[test]
    fn a_row_without_a_brand_is_judged_on_the_rest_of_the_name() {
        let index = catalog();
        let mut scratch = Scratch::new(&index);
        let q = MatchQuery {
            name: "haldi chandan skin brightening face wash 100 g",
            ..Default::default()
        };
        let o = index.match_row(&q, &mut scratch);
        let c = &o.candidates[0];
        assert_eq!(index.product_id(c.product), "wash-100");
        assert_eq!(c.brand, BrandState::Miss);
        // The unnamed brand lowers neither coverage; it only costs the brand evidence.
        assert!(c.c_cov > 0.99 && c.q_cov > 0.99, "{c:?}");
        assert_eq!(o.decision, Decision::Match);
        // A catalog brand opening the name is not a missing brand but another one.
        let q = MatchQuery {
            name: "tata haldi chandan skin brightening face wash 100 g",
            ..Default::default()
        };
        let o = index.match_row(&q, &mut scratch);
        assert_eq!(o.candidates[0].brand, BrandState::Conflict);
        assert_ne!(o.decision, Decision::Match);
        // A word that is not a brand anywhere in the catalog proves nothing about the brand.
        let q = MatchQuery {
            name: "fresh haldi chandan skin brightening face wash 100 g",
            ..Default::default()
        };
        assert_eq!(
            index.match_row(&q, &mut scratch).candidates[0].brand,
            BrandState::Miss
        );
    }

    #[test]
    fn another_size_is_never_a_match() {
        let index = catalog();
        // Same brand and name in a size the catalog lacks: the hard negative.
        let q = MatchQuery {
            name: "Himalaya Haldi Chandan Skin Brightening Face Wash 150 g",
            ..Default::default()
        };
        assert_ne!(best(&index, q).0, Decision::Match);
        // No size at all: the 50 g and the 100 g are equally likely.
        let q = MatchQuery {
            name: "Himalaya Haldi Chandan Skin Brightening Face Wash",
            ..Default::default()
        };
        assert_ne!(best(&index, q).0, Decision::Match);
        // Same total, other packing.
        let q = MatchQuery {
            name: "tata salt iodised",
            quantity: "1 kg",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "salt-1kg".into()));
        let q = MatchQuery {
            name: "tata salt iodised",
            quantity: "500g x 2",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "salt-2x500".into()));
    }

    #[test]
    fn barcodes_first_but_a_near_one_is_only_a_candidate() {
        let index = catalog();
        let q = MatchQuery {
            name: "tata namak",
            barcode: "8901058000290",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "salt-1kg".into()));
        // One digit off: proposed, not linked (the text does not support it).
        let q = MatchQuery {
            name: "something else",
            barcode: "8901058000390",
            ..Default::default()
        };
        let (d, id) = best(&index, q);
        assert_eq!((d, id.as_str()), (Decision::Review, "salt-1kg"));
        // The 100 g pack's barcode on a row saying 50 g: the size contradicts the barcode, so
        // the text search runs too and a person decides between the two packs.
        let mut scratch = Scratch::new(&index);
        let q = MatchQuery {
            name: "Himalaya Haldi Chandan Skin Brightening Face Wash 50 g",
            barcode: "8901138522223",
            ..Default::default()
        };
        let o = index.match_row(&q, &mut scratch);
        assert_eq!(o.decision, Decision::Review);
        let ids: Vec<&str> = o
            .candidates
            .iter()
            .map(|c| index.product_id(c.product))
            .collect();
        assert!(
            ids.contains(&"wash-50") && ids.contains(&"wash-100"),
            "{ids:?}"
        );
        // A valid barcode the catalog lacks blocks a text-only link.
        let q = MatchQuery {
            name: "Himalaya Haldi Chandan Face Wash 100 g",
            barcode: "8901138533335",
            ..Default::default()
        };
        assert_ne!(best(&index, q).0, Decision::Match);
    }

    #[test]
    fn scripts_and_synonyms_meet_the_catalog() {
        let index = catalog();
        let q = MatchQuery {
            name: "एवरेस्ट हल्दी पाउडर 100 ग्राम",
            ..Default::default()
        };
        assert_eq!(best(&index, q).1, "turmeric");
        let q = MatchQuery {
            name: "arhar daal 1kg",
            brand: "bb royal",
            ..Default::default()
        };
        assert_eq!(best(&index, q).1, "dal-1kg");
    }

    #[test]
    fn a_product_the_row_names_only_part_of_is_not_linked() {
        let index = catalog();
        // Every word of the row is in the product, but most of the product is not in the row:
        // it may be another bucket of the brand.
        let q = MatchQuery {
            name: "Swastik Water Bucket 18 L",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Review, "bucket".into()));
        let q = MatchQuery {
            name: "Swastik plastic water bucket with lid, steel handle - round blue 18L",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "bucket".into()));
    }

    #[test]
    fn a_bare_kind_is_linked_only_to_its_own_bare_description() {
        let index = catalog();
        // The catalog's product states no brand and no size either: the row is its copy.
        let q = MatchQuery {
            name: "YELLOW MUSTARD",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "mustard".into()));
        // A brand the product lacks, a word it lacks, or part of its name: not the same
        // description, so a person decides.
        for (name, brand) in [
            ("yellow mustard", "Heinz"),
            ("yellow mustard seeds", ""),
            ("mustard", ""),
        ] {
            let q = MatchQuery {
                name,
                brand,
                ..Default::default()
            };
            assert_ne!(best(&index, q).0, Decision::Match, "{name} / {brand}");
        }
        // A row without a size that names a branded product's words still needs its brand.
        let q = MatchQuery {
            name: "yellow mustard sauce",
            ..Default::default()
        };
        assert_ne!(best(&index, q).0, Decision::Match);
    }

    #[test]
    fn words_of_other_scripts_are_words() {
        let index = catalog();
        // Before, Cyrillic letters were dropped: kefir and milk were both just "3.2% 1 L".
        let q = MatchQuery {
            name: "Кефир 3,2 %",
            quantity: "1 L",
            ..Default::default()
        };
        assert_ne!(best(&index, q).0, Decision::Match);
        let q = MatchQuery {
            name: "МОЛОКО 3.2 %",
            quantity: "1000 ml",
            ..Default::default()
        };
        assert_eq!(best(&index, q), (Decision::Match, "milk-ru".into()));
    }

    fn variants_catalog() -> MatchIndex {
        MatchIndex::build([
            row(
                "bottle-green",
                "BB Home",
                "Glass Water Bottle With Round Base - Green",
                "1 L",
                "",
            ),
            row(
                "charcoal-250",
                "Healthvit",
                "Activated Charcoal 250 mg Capsules",
                "60 pcs",
                "",
            ),
            row(
                "perk-2",
                "Cadbury",
                "Perk - Chocolate, 175.5 g",
                "2x175.5 g",
                "",
            ),
            row(
                "deo-men",
                "Wild Stone",
                "Deodorant Spray For Men",
                "150 ml",
                "",
            ),
            row(
                "tawa",
                "Prestige",
                "Non Stick Dosa Tawa - 250 mm",
                "1 pc",
                "",
            ),
            row(
                "coffee-maker",
                "DeLonghi",
                "DC50B Twenty Four Seven Drip Coffee Maker",
                "",
                "",
            ),
            row("tea", "Tetley", "Green Tea - Lemongrass", "100 g", ""),
            row("grape-juice", "Real", "Fruit Juice - Grape", "1 L", ""),
        ])
    }

    fn outcome(index: &MatchIndex, name: &str, brand: &str) -> (Decision, Candidate) {
        let mut scratch = Scratch::new(index);
        let q = MatchQuery {
            name,
            brand,
            ..Default::default()
        };
        let o = index.match_row(&q, &mut scratch);
        (o.decision, o.candidates[0].clone())
    }

    #[test]
    fn a_variant_the_row_states_otherwise_blocks_the_link() {
        let index = variants_catalog();
        let cases = [
            (
                "glass water bottle with round base red 1 l",
                "BB Home",
                VariantKind::Colour,
                "red",
                "green",
            ),
            (
                "deodorant spray for women 150 ml",
                "Wild Stone",
                VariantKind::Audience,
                "women",
                "men",
            ),
            (
                "activated charcoal 500 mg capsules 60 pcs",
                "Healthvit",
                VariantKind::Strength,
                "0.5g",
                "0.25g",
            ),
            (
                "non stick dosa tawa 28 cm 1 pc",
                "Prestige",
                VariantKind::Strength,
                "28cm",
                "25cm",
            ),
            (
                "twenty four seven drip coffee maker - DC50W",
                "DeLonghi",
                VariantKind::Model,
                "dc50w",
                "dc50b",
            ),
            (
                "twenty four seven drip coffee maker (DC50W)",
                "DeLonghi",
                VariantKind::Model,
                "dc50w",
                "dc50b",
            ),
            // Another word of the class, not a spelling of the product's.
            (
                "green tea lemon 100 g",
                "Tetley",
                VariantKind::Flavour,
                "lemon",
                "lemongrass",
            ),
        ];
        for (name, brand, kind, row_says, product_says) in cases {
            let (decision, c) = outcome(&index, name, brand);
            assert_ne!(decision, Decision::Match, "{name}: {c:?}");
            let conflict = c.conflict.expect(name);
            assert_eq!(
                (
                    conflict.kind,
                    conflict.row.as_str(),
                    conflict.product.as_str()
                ),
                (kind, row_says, product_says),
                "{name}"
            );
        }
        // The same words, a typo or another spelling of the same amount: no conflict.
        for (name, brand) in [
            ("glass water bottle with round base grene 1 l", "BB Home"),
            ("activated charcoal 0.25 g capsules 60 pcs", "Healthvit"),
            ("non stick dosa tawa 25 cm 1 pc", "Prestige"),
            ("twenty four seven drip coffee maker - DC-50B", "DeLonghi"),
            ("deodorant spray for mens 150 ml", "Wild Stone"),
            ("fruit juice grapes 1 l", "Real"),
            ("green tea lemongras 100 g", "Tetley"),
        ] {
            let (decision, c) = outcome(&index, name, brand);
            assert_eq!((decision, c.conflict), (Decision::Match, None), "{name}");
        }
    }

    #[test]
    fn a_variant_the_row_leaves_out_is_evidence_not_a_block() {
        let index = variants_catalog();
        let (decision, c) = outcome(&index, "glass water bottle with round base 1 l", "BB Home");
        assert_eq!(decision, Decision::Match);
        assert_eq!(c.conflict, None);
        let unstated = c
            .unstated
            .expect("the product names a colour the row leaves out");
        assert_eq!(
            (unstated.kind, unstated.product.as_str()),
            (VariantKind::Colour, "green")
        );
    }

    #[test]
    fn a_pack_in_the_rows_unit_that_differs_is_another_size_whatever_the_name_says() {
        let index = variants_catalog();
        // The name states one bar of the two-pack: the row's single bar is not this product.
        let (decision, c) = outcome(&index, "perk chocolate 175.5 g", "Cadbury");
        assert_eq!(c.size, SizeState::Conflict);
        assert_ne!(decision, Decision::Match);
        let (decision, c) = outcome(&index, "perk chocolate 2 x 175.5 g", "Cadbury");
        assert_eq!((decision, c.size), (Decision::Match, SizeState::Agree));
    }

    #[test]
    fn confidence_is_a_probability_the_index_learnt_from_its_own_catalog() {
        let index = catalog();
        let model = index.calibration();
        assert!(
            model.examples > 50 && model.positives > 0 && model.positives < model.examples,
            "{model:?}"
        );
        let mut scratch = Scratch::new(&index);
        let mut confidence = |name| {
            let q = MatchQuery {
                name,
                ..Default::default()
            };
            let o = index.match_row(&q, &mut scratch);
            assert!(
                o.candidates
                    .iter()
                    .all(|c| (0.0..=1.0).contains(&c.probability))
            );
            o.confidence()
        };
        let clean = confidence("himalaya haldi chandan skin brightening face wash 100 g");
        let sizeless = confidence("himalaya haldi chandan skin brightening face wash");
        let other_size = confidence("himalaya haldi chandan skin brightening face wash 150 g");
        assert!(clean > 0.8, "{clean}");
        assert!(
            sizeless < clean && other_size < sizeless,
            "{clean} {sizeless} {other_size}"
        );
        // The same catalog teaches the same model, and a snapshot keeps it.
        assert_eq!(catalog().calibration().weights, model.weights);
        let loaded = MatchIndex::from_bytes(&index.to_bytes()).unwrap();
        assert_eq!(loaded.calibration().weights, model.weights);
        // No catalog, or one too small to teach anything: one half, whatever the evidence.
        for small in [
            MatchIndex::build([]),
            MatchIndex::build([row("a", "", "Toor Dal", "1 kg", "")]),
        ] {
            assert_eq!(small.calibration().examples, 0);
            let mut scratch = Scratch::new(&small);
            let q = MatchQuery {
                name: "toor dal 1 kg",
                ..Default::default()
            };
            let o = small.match_row(&q, &mut scratch);
            assert!(o.candidates.iter().all(|c| c.probability == 0.5));
        }
    }

    #[test]
    fn unknown_products_are_new() {
        let index = catalog();
        let q = MatchQuery {
            name: "Parachute Coconut Oil 500 ml",
            ..Default::default()
        };
        assert_eq!(best(&index, q).0, Decision::New);
    }

    #[test]
    fn snapshots_round_trip_and_refuse_other_formats() {
        let index = catalog();
        let bytes = index.to_bytes();
        let loaded = MatchIndex::from_bytes(&bytes).unwrap();
        let q = MatchQuery {
            name: "dove cream bathing bar 3 x 100 gm",
            ..Default::default()
        };
        assert_eq!(best(&loaded, q), best(&index, q));
        let mut other = bytes.clone();
        other[8] = 99;
        assert!(matches!(
            MatchIndex::from_bytes(&other),
            Err(SnapshotError::Version { found: 99 })
        ));
        assert!(matches!(
            MatchIndex::from_bytes(b"not an index at all!"),
            Err(SnapshotError::NotASnapshot)
        ));
        assert!(MatchIndex::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    }
}
