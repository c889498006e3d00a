//! How alike a query word and a catalog word are: from the words themselves (equal, one edit,
//! a share of the letters, prefix, subsequence) on top of their phonetic keys, with word
//! signatures (`fuzzy::WordSig`) ruling out most pairs without reading them.

use super::*;
use crate::matching::fuzzy::{is_subsequence, levenshtein_within, within_one};
use crate::matching::index::{MatchIndex, TermSig};
use crate::matching::text::{Origin, is_alpha};

pub(super) fn has_vowel(s: &str) -> bool {
    s.bytes()
        .any(|b| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u'))
}

impl MatchIndex {
    /// How alike a query word and a catalog word are, 0 to 1.
    #[inline(never)]
    pub(super) fn word_similarity(&self, q: &QToken, t: u32) -> f32 {
        let sig = &self.term_sig[t as usize];
        if (0..q.alts.len()).any(|j| Self::may_need_text(q, j, sig)) {
            self.text_similarity(q, t)
        } else {
            Self::key_similarity(q, sig)
        }
    }

    /// `word_similarity` from the words themselves (on top of what the phonetic keys say).
    pub(super) fn text_similarity(&self, q: &QToken, t: u32) -> f32 {
        let sig = &self.term_sig[t as usize];
        let s = self.terms.get(t);
        let tck = sig.ckey_id;
        let tf = self.fkeys.get(sig.fkey_id);
        let tamil = q.origin == Origin::Tamil;
        // The rules below only raise `best`, and each is skipped only when `best` is already
        // at least what it gives, so starting from the keys' score changes nothing.
        let mut best = Self::key_similarity(q, sig);
        for (j, a) in q.alts.iter().enumerate() {
            if a == s {
                return 1.0;
            }
            if !is_alpha(a) || !is_alpha(s) {
                continue;
            }
            let (la, ls) = (a.len(), s.len());
            let (qf, _) = &q.fkeys[j];
            let (qc, _) = &q.ckeys[j];
            if la.min(ls) >= 3 {
                let longest = la.max(ls);
                if within_one(a, s) {
                    best = best.max(if la.min(ls) >= 5 {
                        0.9
                    } else if longest >= 4 {
                        0.85
                    } else {
                        0.7
                    });
                } else if longest >= 8 {
                    // Similarity >= 0.75 means at most a quarter of the letters differ; shorter
                    // words allow one edit, which `within_one` already tried.
                    if let Some(d) = levenshtein_within(a, s, longest / 4) {
                        best = best.max(1.0 - d as f32 / longest as f32);
                    }
                }
                if best < 0.82
                    && qf.len() >= 4
                    && tf.len() >= 4
                    && qf.as_bytes()[0] == tf.as_bytes()[0]
                {
                    let (k1, k2) = if tamil {
                        (qc.as_str(), self.ckeys.get(tck))
                    } else {
                        (qf.as_str(), tf)
                    };
                    let near = if k2.len() < 7 {
                        within_one(k1, k2)
                    } else {
                        levenshtein_within(k1, k2, 2).is_some()
                    };
                    if near {
                        best = best.max(0.82);
                    }
                }
            }
            if q.origin == Origin::Latin && la >= 2 && ls > la && best < 0.85 {
                if la >= 3 && s.starts_with(a.as_str()) {
                    best = best.max(0.85);
                } else if a.as_bytes()[0] == s.as_bytes()[0]
                    && ((qf.len() >= 2
                        && tf.len() >= 2
                        && is_subsequence(&qf[1..], &tf[1..])
                        && (!has_vowel(&a[1..]) || qf.len() * 10 >= tf.len() * 6))
                        // Vowels dropped: pwdr, chclt, strwbry.
                        || (la >= 3 && !has_vowel(&a[1..]) && is_subsequence(&a[1..], &s[1..])))
                {
                    best = best.max(0.8);
                }
            }
        }
        best
    }

    /// Whether `word_similarity` could find more than the phonetic keys' equality for
    /// alternative `j` and this catalog word, and must read their text (the signatures rule
    /// out each of its text rules; most pairs of words share no rule).
    pub(super) fn may_need_text(q: &QToken, j: usize, t: &TermSig) -> bool {
        let (a, af) = &q.sigs[j];
        let (s, sf) = (&t.word, &t.fkey);
        if a.may_equal(s) {
            return true;
        }
        if !a.alpha || !s.alpha {
            return false;
        }
        let (la, ls) = (usize::from(a.len), usize::from(s.len));
        if la.min(ls) >= 3 {
            let longest = la.max(ls);
            if a.may_be_within(s, 1) || (longest >= 8 && a.may_be_within(s, longest / 4)) {
                return true;
            }
            if af.len >= 4 && sf.len >= 4 && af.first == sf.first {
                if q.origin == Origin::Tamil {
                    return true;
                }
                if af.may_be_within(sf, if sf.len < 7 { 1 } else { 2 }) {
                    return true;
                }
            }
        }
        // Prefix, or a subsequence of the word or of its key (after the same first letter).
        q.origin == Origin::Latin
            && la >= 2
            && ls > la
            && a.first == s.first
            && (a.rest_may_be_in(s) || af.rest_may_be_in(sf))
    }

    /// `word_similarity` when no alternative needs the text: what the phonetic keys say.
    pub(super) fn key_similarity(q: &QToken, t: &TermSig) -> f32 {
        let mut best: f32 = 0.0;
        for (j, (a, _)) in q.sigs.iter().enumerate() {
            if !a.alpha || !t.word.alpha {
                continue;
            }
            if t.fkey.len >= 2 || (a.len >= 3 && t.word.len >= 3) {
                if q.fkeys[j].1 == Some(t.fkey_id) {
                    best = best.max(0.95);
                } else if q.origin == Origin::Tamil && q.ckeys[j].1 == Some(t.ckey_id) {
                    best = best.max(0.93);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::index::CatalogRow;

    #[test]
    fn word_signatures_never_change_a_similarity() {
        // Catalog and query words alike and unalike: typos, prefixes, dropped vowels,
        // phonetic spellings, numbers, and Devanagari and Tamil brought to Latin.
        let names = [
            "Haldi Chandan Face Wash",
            "Chocolate Strawberry Powder",
            "Basmati Rice Premium",
            "Turmeric Powder",
            "Jeera Whole",
            "N95 Mask 3 Ply",
            "Coconut Oil Extra Virgin",
        ];
        let ids: Vec<String> = (0..names.len()).map(|i| format!("p{i}")).collect();
        let index = MatchIndex::build(names.iter().zip(&ids).map(|(n, id)| CatalogRow {
            id,
            name: n,
            brand: "Acme Foods",
            quantity: "",
            barcode: "",
            aliases: &[],
        }));
        let queries = [
            "haldhi chandn facewash",
            "chclt strwbry pwdr",
            "basmti rce prem",
            "tumeric powdr",
            "zeera",
            "n-95 mask",
            "coconat oyl",
            "हल्दी पाउडर",
            "தேங்காய் எண்ணெய்",
            "acm fods",
            // Edits at the first letter, and query words longer than the catalog's.
            "xhocolate asmati ruce",
            "turmerci powderr coconutt",
            "strawbery chocolatte",
        ];
        let mut compared = 0;
        for name in queries {
            let parsed = index.parse(&MatchQuery {
                name,
                ..MatchQuery::default()
            });
            for q in &parsed.tokens {
                for t in 0..index.terms.len() {
                    assert_eq!(
                        index.word_similarity(q, t),
                        index.text_similarity(q, t),
                        "{:?} vs {}",
                        q.alts,
                        index.terms.get(t)
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 500, "{compared}");
    }
}
