//! The matching vocabulary, as data: unit spellings, Indic unit words, the native-script
//! grocery glossary, synonym classes, abbreviations and stopwords (files under `data/`, compiled
//! in and parsed once). Nothing here names a product; changing matching behaviour for a class of
//! words means editing a table, not code.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::fuzzy::within_one;
use super::quantity::BaseUnit;
use super::text::Origin;

const UNITS: &str = include_str!("data/units.tsv");
const INDIC_UNITS: &str = include_str!("data/indic_units.tsv");
const GLOSSARY_HI: &str = include_str!("data/glossary_hi.tsv");
const GLOSSARY_TA: &str = include_str!("data/glossary_ta.tsv");
const SYNONYMS: &str = include_str!("data/synonyms.tsv");
const ABBREVIATIONS: &str = include_str!("data/abbreviations.tsv");
const STOPWORDS: &str = include_str!("data/stopwords.txt");
const VARIANTS: &str = include_str!("data/variants.tsv");

/// A class of words that name one variant of a product among its siblings (`variants.tsv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WordClass {
    Colour,
    Flavour,
    Audience,
    Material,
}

impl WordClass {
    pub const ALL: [WordClass; 4] = [
        WordClass::Colour,
        WordClass::Flavour,
        WordClass::Audience,
        WordClass::Material,
    ];

    fn of_name(name: &str) -> Option<WordClass> {
        Some(match name {
            "colour" => WordClass::Colour,
            "flavour" => WordClass::Flavour,
            "audience" => WordClass::Audience,
            "material" => WordClass::Material,
            _ => return None,
        })
    }
}

/// A unit spelling: its base unit, the multiplier to it, and whether it only counts when written
/// against the number (`6n`, `6's`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub base: BaseUnit,
    pub mult: f64,
    pub glued_only: bool,
}

pub struct Lexicon {
    units: HashMap<String, Unit>,
    /// Indic-origin spelling -> (unit spelling, Tamil only).
    indic_units: HashMap<String, (String, bool)>,
    /// Native phrase (space-joined words) -> catalog words.
    glossary: HashMap<String, Vec<String>>,
    glossary_max_words: usize,
    synonyms: HashMap<String, Vec<String>>,
    abbreviations: HashMap<String, Vec<String>>,
    stopwords: std::collections::HashSet<String>,
    variants: HashMap<String, WordClass>,
    /// Identifies this vocabulary; a snapshot built with another one is stale.
    pub fingerprint: u64,
}

fn lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::trim).collect())
}

impl Lexicon {
    /// The built-in vocabulary (parsed on first use).
    pub fn builtin() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        LEXICON.get_or_init(Lexicon::parse)
    }

    fn parse() -> Lexicon {
        let mut units = HashMap::new();
        for f in lines(UNITS) {
            let base = match f[1] {
                "g" => BaseUnit::Gram,
                "ml" => BaseUnit::Millilitre,
                "pcs" => BaseUnit::Piece,
                "cm" => BaseUnit::Centimetre,
                other => panic!("units.tsv: unknown base unit {other}"),
            };
            let mult: f64 = f[2].parse().expect("units.tsv: multiplier");
            units.insert(
                f[0].to_string(),
                Unit {
                    base,
                    mult,
                    glued_only: f.get(3) == Some(&"glued"),
                },
            );
        }
        let mut indic_units = HashMap::new();
        for f in lines(INDIC_UNITS) {
            assert!(
                units.contains_key(f[1]),
                "indic_units.tsv: {} is not a unit",
                f[1]
            );
            indic_units.insert(f[0].to_string(), (f[1].to_string(), f[2] == "tamil"));
        }
        let mut glossary = HashMap::new();
        for f in lines(GLOSSARY_HI).chain(lines(GLOSSARY_TA)) {
            let native = f[0].split_whitespace().collect::<Vec<_>>().join(" ");
            glossary.insert(
                native,
                f[1].split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            );
        }
        let glossary_max_words = glossary
            .keys()
            .map(|k| k.split(' ').count())
            .max()
            .unwrap_or(1);
        let mut synonyms: HashMap<String, Vec<String>> = HashMap::new();
        for class in lines(SYNONYMS) {
            for w in &class {
                let others = class.iter().filter(|o| *o != w).map(|o| o.to_string());
                synonyms.entry(w.to_string()).or_default().extend(others);
            }
        }
        let abbreviations = lines(ABBREVIATIONS)
            .map(|f| {
                (
                    f[0].to_string(),
                    f[1].split_whitespace().map(str::to_string).collect(),
                )
            })
            .collect();
        let stopwords = STOPWORDS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .flat_map(str::split_whitespace)
            .map(str::to_string)
            .collect();
        let mut variants = HashMap::new();
        for f in lines(VARIANTS) {
            let class = WordClass::of_name(f[0])
                .unwrap_or_else(|| panic!("variants.tsv: unknown class {}", f[0]));
            for w in f[1].split_whitespace() {
                let before = variants.insert(w.to_string(), class);
                assert!(before.is_none(), "variants.tsv: {w} is in two classes");
            }
        }
        let mut fingerprint: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            UNITS,
            INDIC_UNITS,
            GLOSSARY_HI,
            GLOSSARY_TA,
            SYNONYMS,
            ABBREVIATIONS,
            STOPWORDS,
            VARIANTS,
        ] {
            fingerprint = super::index::fnv1a(part.as_bytes(), fingerprint);
        }
        Lexicon {
            units,
            indic_units,
            glossary,
            glossary_max_words,
            synonyms,
            abbreviations,
            stopwords,
            variants,
            fingerprint,
        }
    }

    /// The unit a word names after a number, if any: exact spellings, Indic unit words (for
    /// words from those scripts), then one typo (same first letter) or two swapped letters. A
    /// typo that could be two different units (`mgl`: mg or ml) is neither, so the answer does
    /// not depend on the order the spellings are tried in (a hash map's, seeded per process).
    pub fn unit(&self, word: &str, origin: Origin) -> Option<Unit> {
        let w = word.trim_matches(|c| c == '.' || c == '\'');
        if let Some(u) = self.units.get(w) {
            return Some(*u);
        }
        if matches!(origin, Origin::Devanagari | Origin::Tamil)
            && let Some((spelling, tamil_only)) = self.indic_units.get(w)
            && (!tamil_only || origin == Origin::Tamil)
        {
            return self.units.get(spelling).copied();
        }
        if w.len() < 3 || !w.is_ascii() {
            return None;
        }
        let mut sorted: Vec<u8> = w.bytes().collect();
        sorted.sort_unstable();
        let mut found: Option<Unit> = None;
        for (spelling, unit) in &self.units {
            if spelling.len() < 2 || unit.glued_only || spelling.as_bytes()[0] != w.as_bytes()[0] {
                continue;
            }
            let near = within_one(w, spelling)
                || (spelling.len() == w.len() && {
                    let mut s: Vec<u8> = spelling.bytes().collect();
                    s.sort_unstable();
                    s == sorted
                });
            if !near {
                continue;
            }
            match found {
                None => found = Some(*unit),
                Some(f) if f.base == unit.base && f.mult == unit.mult => {}
                Some(_) => return None,
            }
        }
        found
    }

    /// The catalog words for the longest native phrase starting at `words[0]`, and how many
    /// words it used.
    pub fn glossary(&self, words: &[&str]) -> Option<(&[String], usize)> {
        for n in (1..=self.glossary_max_words.min(words.len())).rev() {
            if let Some(alts) = self.glossary.get(&words[..n].join(" ")) {
                return Some((alts, n));
            }
        }
        None
    }

    /// The variant class of a (normalised) word, if it names one.
    pub fn variant(&self, word: &str) -> Option<WordClass> {
        self.variants.get(word).copied()
    }

    pub fn synonyms(&self, word: &str) -> &[String] {
        self.synonyms.get(word).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn abbreviation(&self, word: &str) -> &[String] {
        self.abbreviations
            .get(word)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn is_stopword(&self, word: &str) -> bool {
        self.stopwords.contains(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load() {
        let l = Lexicon::builtin();
        assert_eq!(l.unit("kg", Origin::Latin).unwrap().mult, 1000.0);
        assert!(l.unit("n", Origin::Latin).unwrap().glued_only);
        assert_eq!(
            l.unit("kiraam", Origin::Tamil).unwrap().base,
            BaseUnit::Gram
        );
        assert_eq!(l.unit("kk", Origin::Tamil).unwrap().mult, 1000.0);
        assert_eq!(l.unit("kk", Origin::Devanagari), None);
        assert_eq!(l.unit("cps", Origin::Latin).unwrap().base, BaseUnit::Piece);
        assert_eq!(l.unit("grains", Origin::Latin), None);
        assert_eq!(l.glossary(&["काली", "मिर्च", "पाउडर"]).unwrap().1, 2);
        assert!(l.synonyms("haldi").contains(&"turmeric".to_string()));
        assert!(l.is_stopword("with"));
        assert_eq!(l.variant("green"), Some(WordClass::Colour));
        assert_eq!(l.variant("lavender"), Some(WordClass::Flavour));
        assert_eq!(l.variant("shampoo"), None);
    }

    #[test]
    fn a_typo_is_a_unit_only_when_every_reading_agrees() {
        let l = Lexicon::builtin();
        // One reading, or several of the same unit (grms, grm: grams).
        assert_eq!(l.unit("gmms", Origin::Latin).unwrap().base, BaseUnit::Gram);
        assert_eq!(l.unit("ltrs", Origin::Latin).unwrap().mult, 1000.0);
        assert_eq!(
            l.unit("mlz", Origin::Latin).unwrap().base,
            BaseUnit::Millilitre
        );
        // mg or ml, mg or mm, cl or cm: no unit, rather than whichever was tried first.
        for w in ["mgl", "mgm", "mml", "clm", "ctm"] {
            assert_eq!(l.unit(w, Origin::Latin), None, "{w}");
        }
    }
}
