//! Rows a store might have written for a catalog product: the product's own name, brand and
//! size passed through the kinds of noise real rows carry (typos, dropped and reordered words,
//! a descriptor cut off, vowels dropped, the brand moved or missing, the size in another
//! format or another place, the case changed, the barcode carried or misread by a digit).
//! Deterministic: the same product and the same generator state give the same row in every
//! process.
//!
//! What it does not make: a Latin-script product's row in Devanagari or Tamil (the engine
//! reads those scripts but has no way to write them); typos and dropped vowels only touch
//! Latin words (a product named in another script keeps its letters, and only loses or moves
//! words).

use crate::domain::check_digit;
use crate::matching::CatalogRow;
use crate::matching::analyze::analyze;
use crate::matching::lexicon::Lexicon;
use crate::matching::quantity::BaseUnit;

/// SplitMix64: a few lines, fixed for every platform and process (which a seeded std hasher
/// is not), and statistically plenty for choosing noise.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A number in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A row as a store wrote it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NoisyRow {
    pub name: String,
    pub brand: String,
    pub quantity: String,
    pub barcode: String,
}

/// One noisy row for `product`. `present` says whether the product is in the catalog: a row of
/// a product the catalog has sometimes carries its barcode (as a scanner-fed row does), now and
/// then with one digit wrong; a row of a product it lacks, or whose barcode it lacks, sometimes
/// carries a barcode of its own that no product has.
///
/// `other` is another product of the catalog: a shop's name for a product often has words the
/// catalog's lacks (its own descriptor, a series, a colour it adds), and some rows borrow one
/// to three of `other`'s.
pub(super) fn noisy_row(
    product: &CatalogRow,
    other: &CatalogRow,
    rng: &mut Rng,
    present: bool,
) -> NoisyRow {
    let mut name = product.name.trim().to_string();
    // The descriptor after " - ", "," or "(" left out (a shop's short name).
    if rng.chance(0.3)
        && let Some(cut) = [" - ", ",", "("]
            .iter()
            .filter_map(|sep| name.find(sep))
            .filter(|&at| at > 0)
            .min()
    {
        name.truncate(cut);
    }
    let mut words: Vec<String> = name.split_whitespace().map(str::to_string).collect();
    if words.len() >= 3 && rng.chance(0.2) {
        words.remove(1 + rng.below(words.len() - 1));
    }
    for w in &mut words {
        if rng.chance(0.12) {
            *w = typo(w, rng);
        } else if w.len() >= 6 && w.bytes().all(|b| b.is_ascii_alphabetic()) && rng.chance(0.04) {
            *w = without_vowels(w);
        }
    }
    let borrowed: Vec<&str> = other
        .name
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        .collect();
    if !borrowed.is_empty() && rng.chance(0.4) {
        for _ in 0..1 + rng.below(3) {
            let w = borrowed[rng.below(borrowed.len())].to_string();
            words.insert(rng.below(words.len() + 1), w);
        }
    }
    if words.len() >= 2 && rng.chance(0.15) {
        // Reordered: a rotation keeps most neighbours, as a shop's rewording does.
        let k = 1 + rng.below(words.len() - 1);
        words.rotate_left(k);
    }
    let mut brand = String::new();
    let brand_words: Vec<&str> = product.brand.split_whitespace().collect();
    if !brand_words.is_empty() {
        let written = if brand_words.len() > 1 && rng.chance(0.1) {
            brand_words[0].to_string()
        } else {
            brand_words.join(" ")
        };
        match rng.below(20) {
            0..=8 => words.insert(0, written),
            9..=11 => words.push(written),
            12..=15 => brand = written,
            _ => {}
        }
    }
    let mut quantity = String::new();
    if let Some(size) = restated_size(product.quantity, rng) {
        match rng.below(20) {
            0..=7 => words.push(size),
            8..=9 => words.insert(0, size),
            10..=16 => quantity = size,
            _ => {}
        }
    }
    let mut name = words.join(" ");
    match rng.below(10) {
        0..=2 => name = name.to_lowercase(),
        3 => name = name.to_uppercase(),
        _ => {}
    }
    let mut barcode = String::new();
    if present && !product.barcode.is_empty() {
        if rng.chance(0.25) {
            barcode = product.barcode.to_string();
            if rng.chance(0.3) {
                barcode = one_digit_off(&barcode, rng);
            }
        }
    } else if rng.chance(0.15) {
        barcode = foreign_gtin(rng);
    }
    NoisyRow {
        name,
        brand,
        quantity,
        barcode,
    }
}

/// One slip of the keyboard in a Latin word of four letters or more: a letter left out,
/// doubled, replaced or swapped with the next. Shorter words, numbers and words of other
/// scripts are left alone.
fn typo(w: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = w.chars().collect();
    if chars.len() < 4 || !chars.iter().all(|c| c.is_ascii_alphabetic()) {
        return w.to_string();
    }
    // Never the first letter: shops rarely get that wrong, and the engine leans on it.
    let at = 1 + rng.below(chars.len() - 1);
    match rng.below(4) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        2 => chars[at] = ['a', 'e', 'i', 'o', 'u', 'n', 'r', 's', 't', 'l'][rng.below(10)],
        _ if at + 1 < chars.len() => chars.swap(at, at + 1),
        _ => {
            chars.remove(at);
        }
    }
    chars.into_iter().collect()
}

/// An abbreviation that keeps the first letter and the consonants ("pwdr").
fn without_vowels(w: &str) -> String {
    w.chars()
        .enumerate()
        .filter(|&(i, c)| i == 0 || !"aeiouAEIOU".contains(c))
        .map(|(_, c)| c)
        .collect()
}

/// The product's pack size, as the engine's own size parser reads it, in another common
/// spelling: "500 g" as "500g", "500 gms" or "0.5 kg"; "2x500 g" as "2 x 500gm" or "500 g x 2".
/// The quantity as it is when it states no size the parser reads ("Combo"); `None` when empty.
fn restated_size(quantity: &str, rng: &mut Rng) -> Option<String> {
    let q = quantity.trim();
    if q.is_empty() {
        return None;
    }
    let Some(size) = analyze(q, Lexicon::builtin()).sizes.first().map(|f| f.size) else {
        return Some(q.to_string());
    };
    let base = size.milli as f64 / 1000.0;
    // A thousand or more of the small unit, sometimes in the large one.
    let large = base >= 1000.0 && rng.chance(0.5);
    let (value, spellings): (f64, &[&str]) = match size.unit {
        BaseUnit::Gram if large => (base / 1000.0, &["kg", "kgs", "kilo", "KG"]),
        BaseUnit::Gram => (base, &["g", "gm", "gms", "grams", "G", "GM"]),
        BaseUnit::Millilitre if large => (base / 1000.0, &["l", "ltr", "litre", "L", "LTR"]),
        BaseUnit::Millilitre => (base, &["ml", "mL", "ML", "mls"]),
        BaseUnit::Piece => (base, &["pc", "pcs", "N", "nos", "pieces"]),
        BaseUnit::Centimetre => (base, &["cm", "CM"]),
    };
    let spelling = spellings[rng.below(spellings.len())];
    // "6N" is six pieces; "6 N" is a number and a word.
    let space = if spelling != "N" && rng.chance(0.5) {
        " "
    } else {
        ""
    };
    let one = format!("{value}{space}{spelling}");
    Some(match size.count {
        1 => one,
        n if rng.chance(0.5) => format!("{n} x {one}"),
        n => format!("{one} x {n}"),
    })
}

/// The barcode with one digit replaced (the check digit then fails, as a misread one does).
fn one_digit_off(barcode: &str, rng: &mut Rng) -> String {
    let mut digits: Vec<char> = barcode.chars().collect();
    let at = rng.below(digits.len());
    if let Some(d) = digits[at].to_digit(10) {
        digits[at] = char::from_digit((d + 1 + rng.below(9) as u32) % 10, 10).unwrap_or('0');
    }
    digits.into_iter().collect()
}

/// A valid EAN-13 with India's prefix that no catalog is likely to hold.
fn foreign_gtin(rng: &mut Rng) -> String {
    let mut digits: Vec<u8> = vec![8, 9, 0];
    digits.extend((0..9).map(|_| rng.below(10) as u8));
    digits.push(check_digit(&digits));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> CatalogRow<'static> {
        CatalogRow {
            id: "p1",
            name: "Haldi Chandan Skin Brightening Face Wash - For Glowing Skin",
            brand: "Himalaya Herbals",
            quantity: "100 g",
            barcode: "8901138511111",
            aliases: &[],
        }
    }

    fn other() -> CatalogRow<'static> {
        CatalogRow {
            id: "p2",
            name: "Stainless Steel Tiffin Box",
            ..Default::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_rows() {
        let rows = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| noisy_row(&product(), &other(), &mut rng, true))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(7), rows(7));
        assert_ne!(rows(7), rows(8));
    }

    #[test]
    fn the_noise_is_of_every_kind_and_keeps_the_product_recognisable() {
        let mut rng = Rng::new(1);
        let rows: Vec<NoisyRow> = (0..400)
            .map(|_| noisy_row(&product(), &other(), &mut rng, true))
            .collect();
        let any = |f: &dyn Fn(&NoisyRow) -> bool| rows.iter().any(f);
        assert!(any(
            &|r| !r.name.contains("Glowing") && !r.name.contains("glowing")
        ));
        assert!(any(&|r| r.brand == "Himalaya Herbals"));
        assert!(any(
            &|r| r.brand.is_empty() && !r.name.to_lowercase().contains("himalaya")
        ));
        assert!(any(&|r| r.quantity == "100g" || r.name.contains("100 gm")));
        assert!(any(&|r| r.barcode == "8901138511111"));
        assert!(any(
            &|r| !r.barcode.is_empty() && r.barcode != "8901138511111"
        ));
        // A product the catalog lacks brings a barcode of its own, valid and unknown.
        let absent: Vec<NoisyRow> = (0..200)
            .map(|_| noisy_row(&product(), &other(), &mut rng, false))
            .collect();
        let foreign: Vec<&NoisyRow> = absent.iter().filter(|r| !r.barcode.is_empty()).collect();
        assert!(!foreign.is_empty());
        for r in foreign {
            assert_ne!(r.barcode, "8901138511111");
            assert!(crate::domain::Gtin::parse(&r.barcode).is_ok(), "{r:?}");
        }
        assert!(any(&|r| r.name == r.name.to_lowercase()));
        assert!(any(&|r| r.name.to_lowercase().contains("tiffin")));
        // Most rows still say "chandan", with one slip at most or without its vowels; the
        // rest left the word out.
        let kept = rows
            .iter()
            .filter(|r| {
                r.name
                    .to_lowercase()
                    .split_whitespace()
                    .any(|w| strsim::levenshtein(w, "chandan") <= 1 || w == "chndn")
            })
            .count();
        assert!((300..400).contains(&kept), "{kept}");
    }

    #[test]
    fn odd_products_give_rows_without_failing() {
        let mut rng = Rng::new(5);
        for (name, quantity, barcode) in [
            ("", "", ""),
            ("-", "1/2 kg", "abc"),
            ("हल्दी पाउडर - शुद्ध", "2x500 g", "8901"),
            ("மஞ்சள் தூள்", "१०० ग्राम", ""),
            ("Dal, (Toor)", "Combo", "0000000000000"),
        ] {
            let product = CatalogRow {
                id: "p",
                name,
                brand: "",
                quantity,
                barcode,
                aliases: &[],
            };
            for _ in 0..50 {
                let row = noisy_row(&product, &product, &mut rng, true);
                // Words of other scripts keep their letters.
                for w in row.name.split_whitespace() {
                    assert!(
                        w.is_ascii() || !w.chars().any(|c| c.is_ascii_alphabetic()),
                        "{w}"
                    );
                }
            }
        }
    }

    #[test]
    fn sizes_are_restated_not_changed() {
        let mut rng = Rng::new(3);
        let read = |q: &str| analyze(q, Lexicon::builtin()).sizes.first().map(|f| f.size);
        for quantity in ["1000 ml", "500 g", "1 kg", "2x500 g", "0.5 L", "6 pcs"] {
            let mut spellings = std::collections::BTreeSet::new();
            for _ in 0..50 {
                let s = restated_size(quantity, &mut rng).unwrap();
                // Another spelling, the same size to the engine.
                assert_eq!(read(&s), read(quantity), "{quantity} as {s}");
                spellings.insert(s);
            }
            assert!(spellings.len() >= 4, "{quantity}: {spellings:?}");
        }
        let litre: Vec<String> = (0..50)
            .map(|_| restated_size("1000 ml", &mut rng).unwrap().to_lowercase())
            .collect();
        assert!(
            litre
                .iter()
                .any(|s| s.starts_with("1l") || s.starts_with("1 l"))
        );
        assert_eq!(restated_size("", &mut rng), None);
        assert_eq!(restated_size("Combo", &mut rng).as_deref(), Some("Combo"));
    }
}
