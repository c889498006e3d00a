//! The query: a row's words analysed, each with the catalog words it reaches (exact, phonetic
//! key, one edit, prefix) and its weight, its sizes and its barcode.

use super::*;
use crate::matching::analyze::{analyze, text_words};
use crate::matching::fuzzy::{WordSig, within_one};
use crate::matching::index::{MatchIndex, hash_str};
use crate::matching::lexicon::{Lexicon, WordClass};
use crate::matching::phonetic;
use crate::matching::quantity::Size;
use crate::matching::text::{Origin, is_alpha};

/// What a row says about a product.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchQuery<'a> {
    pub name: &'a str,
    pub brand: &'a str,
    pub quantity: &'a str,
    pub barcode: &'a str,
}

pub(super) struct QToken {
    pub(super) alts: Vec<String>,
    pub(super) origin: Origin,
    /// Per alternative: fine key, its id in the index's key table.
    pub(super) fkeys: Vec<(String, Option<u32>)>,
    pub(super) ckeys: Vec<(String, Option<u32>)>,
    /// Per alternative: the signatures of it and of its fine key.
    pub(super) sigs: Vec<(WordSig, WordSig)>,
    pub(super) weight: f32,
    pub(super) matches: Vec<(u32, f32)>,
    /// The variant it names (a colour, a flavour...), if any: by its own spelling or, for a
    /// typo, by the catalog word it most likely means.
    pub(super) class: Option<WordClass>,
    /// Its own spelling (or a synonym's) is a variant word: not a typo of one.
    pub(super) class_named: bool,
}

/// A parsed query.
pub(crate) struct Parsed {
    pub(super) tokens: Vec<QToken>,
    pub(crate) sizes: Vec<Size>,
    pub(super) has_brand: bool,
    /// Tokens from here on are the brand column's.
    pub(super) brand_from: usize,
    /// Tokens at the start or end of the name that are catalog brand words: a row without a
    /// brand column may still name one there.
    pub(super) edge_brands: Vec<usize>,
    /// Every alternative, for "the query says Combo" checks.
    pub(super) words: Vec<String>,
    pub(super) numbers: Vec<String>,
}

impl MatchIndex {
    pub(crate) fn idf(&self, t: u32) -> f32 {
        self.term_idf[t as usize]
    }

    pub(super) fn max_idf(&self) -> f32 {
        (1.0 + self.len() as f32).ln()
    }

    #[inline(never)]
    pub(crate) fn parse(&self, q: &MatchQuery) -> Parsed {
        let lexicon = Lexicon::builtin();
        let name = analyze(q.name, lexicon);
        let quantity = analyze(q.quantity, lexicon);
        let brand = analyze(q.brand, lexicon);
        let mut sizes: Vec<Size> = name
            .sizes
            .iter()
            .chain(&quantity.sizes)
            .map(|f| f.size)
            .collect();
        sizes.dedup();
        let mut lexemes: Vec<_> = text_words(&name, lexicon).map(|(_, l)| l).collect();
        let name_words = lexemes.len();
        if quantity.sizes.is_empty() {
            lexemes.extend(text_words(&quantity, lexicon).map(|(_, l)| l));
        }
        let brand_words: Vec<_> = text_words(&brand, lexicon).map(|(_, l)| l).collect();
        let has_brand = !brand_words.is_empty();
        let brand_from = lexemes.len();
        lexemes.extend(brand_words);
        let mut tokens = Vec::with_capacity(lexemes.len());
        let mut words = Vec::new();
        let mut numbers = Vec::new();
        for l in lexemes {
            let mut alts = vec![l.text.clone()];
            alts.extend(l.alts.iter().cloned());
            for extra in lexicon
                .synonyms(&l.text)
                .iter()
                .chain(lexicon.abbreviation(&l.text))
            {
                if !alts.contains(extra) {
                    alts.push(extra.clone());
                }
            }
            if !is_alpha(&l.text) && l.text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                numbers.push(l.text.clone());
            }
            words.extend(alts.iter().cloned());
            let fkeys: Vec<(String, Option<u32>)> = alts
                .iter()
                .map(|a| {
                    let k = phonetic::key(a);
                    let id = self.fkey_id(&k);
                    (k, id)
                })
                .collect();
            let ckeys = fkeys
                .iter()
                .map(|(k, _)| {
                    let c = phonetic::coarse(k);
                    let id = self.ckey_id(&c);
                    (c, id)
                })
                .collect();
            let sigs = alts
                .iter()
                .zip(&fkeys)
                .map(|(a, (k, _))| (WordSig::of(a), WordSig::of(k)))
                .collect();
            let mut t = QToken {
                alts,
                origin: l.origin,
                fkeys,
                ckeys,
                sigs,
                weight: 0.0,
                matches: Vec::new(),
                class: None,
                class_named: false,
            };
            t.matches = self.term_matches(&t);
            t.weight = self.token_weight(&t);
            (t.class, t.class_named) = self.token_class(&t, lexicon);
            tokens.push(t);
        }
        let mut edge_brands: Vec<usize> = [0, name_words.saturating_sub(1)]
            .into_iter()
            .filter(|&i| i < name_words)
            .filter(|&i| {
                tokens[i]
                    .matches
                    .iter()
                    .any(|&(t, s)| s >= 1.0 && self.term_brand[t as usize])
            })
            .collect();
        edge_brands.dedup();
        Parsed {
            tokens,
            sizes,
            has_brand,
            brand_from,
            edge_brands,
            words,
            numbers,
        }
    }

    /// Catalog words a query word may stand for, with a similarity: exact (1.0), same phonetic
    /// key (0.92; Tamil-origin words by coarse key, 0.9), one edit (0.85), prefix (0.75). A
    /// weaker tier is looked up only while the stronger ones have not filled the words stage 1
    /// follows (stage 2 compares every candidate word anyway).
    #[inline(never)]
    pub(super) fn term_matches(&self, q: &QToken) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        // Weaker tiers are skipped only for a word the catalog itself uses.
        let enough = |out: &Vec<(u32, f32)>, above: f32| {
            out.iter().any(|(_, s)| *s >= 1.0)
                && out.iter().filter(|(_, s)| *s > above).count() >= STAGE1_WORD_MATCHES
        };
        for (j, a) in q.alts.iter().enumerate() {
            if let Some(t) = self.term_id(a) {
                out.push((t, 1.0));
            }
            if !is_alpha(a) {
                continue;
            }
            // Same phonetic key: spelling variants and transliterations. Keys of one or two
            // letters (`dl`, `kf`) join unrelated words; their variants are one edit away and
            // come from the next tier.
            let (fk, fid) = &q.fkeys[j];
            if fk.len() >= 3 {
                let keyed = if q.origin == Origin::Tamil {
                    q.ckeys[j].1.map(|k| (self.ckey_terms.get(k), 0.9))
                } else {
                    fid.map(|k| (self.fkey_terms.get(k), 0.92))
                };
                if let Some((ts, s)) = keyed {
                    out.extend(ts.iter().map(|&t| (t, s)));
                }
            }
        }
        if !enough(&out, 0.85) {
            let mut d = String::new();
            for a in q.alts.iter().filter(|a| a.len() >= 3 && is_alpha(a)) {
                let probe = |h: u64, out: &mut Vec<(u32, f32)>| {
                    for t in self.deletes_dir.get(&self.deletes, h) {
                        let w = self.terms.get(t);
                        if w.len().max(a.len()) >= 4 && within_one(a, w) {
                            out.push((t, 0.85));
                        }
                    }
                };
                probe(hash_str(a), &mut out);
                for k in 0..a.len() {
                    d.clear();
                    d.push_str(&a[..k]);
                    d.push_str(&a[k + 1..]);
                    if a.len() >= 4
                        && let Some(t) = self.term_id(&d)
                    {
                        out.push((t, 0.85));
                    }
                    probe(hash_str(&d), &mut out);
                }
            }
        }
        if q.origin == Origin::Latin && !enough(&out, 0.75) {
            for a in q.alts.iter().filter(|a| a.len() >= 3 && is_alpha(a)) {
                let mut i = self.terms.lower_bound(a).unwrap_or(0);
                let mut taken = 0;
                while i < self.terms.len() && taken < MAX_PREFIX_TERMS {
                    let w = self.terms.get(i);
                    if !w.starts_with(a.as_str()) {
                        break;
                    }
                    if w != a {
                        out.push((i, 0.75));
                    }
                    taken += 1;
                    i += 1;
                }
            }
        }
        // One entry per catalog word, with its best similarity.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        out.dedup_by_key(|(t, _)| *t);
        out
    }

    /// What a query word most likely means: the catalog word `t` maximising
    /// `df(t) x P(typed | t)` (a noisy channel: exact 1, same phonetic key 0.2, one edit 0.1,
    /// prefix 0.05). A rare catalog misspelling (`coconat`, in one product) loses to the common
    /// word one edit away (`coconut`); a correctly typed word keeps its own meaning.
    pub(super) fn likeliest(&self, q: &QToken) -> Option<u32> {
        q.matches
            .iter()
            .max_by(|a, b| {
                self.channel_score(a)
                    .total_cmp(&self.channel_score(b))
                    .then(a.1.total_cmp(&b.1))
            })
            .map(|(t, _)| *t)
    }

    /// The variant a query word names, and whether by its own spelling (or a synonym's): else
    /// (a typo, one edit or a spelling variant) the class of the catalog word it most likely
    /// means.
    fn token_class(&self, q: &QToken, lexicon: &Lexicon) -> (Option<WordClass>, bool) {
        if let Some(c) = q.alts.iter().find_map(|a| lexicon.variant(a)) {
            return (Some(c), true);
        }
        let typo_of = self
            .likeliest(q)
            .filter(|&t| q.matches.iter().any(|&(x, s)| x == t && s >= 0.85));
        (typo_of.and_then(|t| self.term_class[t as usize]), false)
    }

    /// `df(t) x P(typed | t)` for a match `(t, similarity)`.
    pub(super) fn channel_score(&self, m: &(u32, f32)) -> f32 {
        let channel = if m.1 >= 1.0 {
            1.0
        } else if m.1 >= 0.9 {
            0.2
        } else if m.1 >= 0.8 {
            0.1
        } else {
            0.05
        };
        self.term_df[m.0 as usize] as f32 * channel
    }

    /// A query word weighs the IDF of what it most likely means. Unknown words weigh a lot
    /// (they are evidence the product is another one), short ones less.
    pub(super) fn token_weight(&self, q: &QToken) -> f32 {
        match self.likeliest(q) {
            Some(t) => self.idf(t),
            None if q.alts[0].len() <= 2 => 0.3 * self.max_idf(),
            None => 0.6 * self.max_idf(),
        }
    }
}
