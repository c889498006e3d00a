//! Small, allocation-free string distances for short words (the hot path of scoring).

/// Damerau-Levenshtein distance at most 1 (one insertion, deletion, substitution or adjacent
/// transposition).
pub fn within_one(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let mut i = 0;
    while i < la.min(lb) && a[i] == b[i] {
        i += 1;
    }
    if la == lb {
        // substitution at i, or transposition of i and i+1
        if a[i + 1..] == b[i + 1..] {
            return true;
        }
        return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] && a[i + 2..] == b[i + 2..];
    }
    let (long, short) = if la > lb { (a, b) } else { (b, a) };
    long[i + 1..] == short[i..]
}

/// Levenshtein distance of two words if it is at most `k` (words over 63 bytes: `None`).
/// Rows stop as soon as every cell exceeds `k`, so unrelated words cost a row or two.
pub fn levenshtein_within(a: &str, b: &str, k: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 63 || b.len() > 63 || a.len().abs_diff(b.len()) > k {
        return None;
    }
    // Two rows in one buffer, alternating (no copies between rows).
    let mut rows = [0u8; 128];
    let w = b.len() + 1;
    for (j, cell) in rows.iter_mut().enumerate().take(w) {
        *cell = j as u8;
    }
    let (mut prev, mut cur) = (0usize, 64usize);
    for i in 1..=a.len() {
        rows[cur] = i as u8;
        let mut row_min = rows[cur];
        let ai = a[i - 1];
        for j in 1..w {
            let cost = u8::from(ai != b[j - 1]);
            let v = (rows[prev + j] + 1)
                .min(rows[cur + j - 1] + 1)
                .min(rows[prev + j - 1] + cost);
            rows[cur + j] = v;
            row_min = row_min.min(v);
        }
        if usize::from(row_min) > k {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = usize::from(rows[prev + b.len()]);
    (d <= k).then_some(d)
}

/// `a`'s letters appear in `b` in order.
pub fn is_subsequence(a: &str, b: &str) -> bool {
    let mut it = b.bytes();
    a.bytes().all(|c| it.any(|d| d == c))
}

/// What a word's distances to others can be bounded by without reading it: its length, first
/// byte and the set of its bytes (as bits, `byte & 31`). An edit changes the set by at most
/// two bytes (a substitution drops one and adds one; an insertion or deletion one; a
/// transposition none), and merging bytes onto one bit only shrinks differences, so two words
/// whose sets differ by more than `2k` are more than `k` edits apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordSig {
    pub bytes: u32,
    pub len: u8,
    pub first: u8,
    /// Only lowercase ASCII letters (see `text::is_alpha`).
    pub alpha: bool,
}

impl WordSig {
    pub fn of(s: &str) -> WordSig {
        let b = s.as_bytes();
        WordSig {
            bytes: b.iter().fold(0u32, |m, &c| m | 1 << (c & 31)),
            len: b.len().min(255) as u8,
            first: b.first().copied().unwrap_or(0),
            alpha: super::text::is_alpha(s),
        }
    }

    /// The words may be equal.
    pub fn may_equal(&self, o: &WordSig) -> bool {
        self.len == o.len && self.bytes == o.bytes && self.first == o.first
    }

    /// The words may be at most `k` edits apart (insertions, deletions, substitutions and
    /// adjacent transpositions).
    pub fn may_be_within(&self, o: &WordSig, k: usize) -> bool {
        usize::from(self.len.abs_diff(o.len)) <= k
            && (self.bytes ^ o.bytes).count_ones() as usize <= 2 * k
    }

    /// This word after its first byte may be a subsequence of `o` (every byte of it is in `o`).
    pub fn rest_may_be_in(&self, o: &WordSig) -> bool {
        self.bytes & !o.bytes & !(1 << (self.first & 31)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit() {
        assert!(within_one("salt", "salt"));
        assert!(within_one("salt", "slat"));
        assert!(within_one("salt", "sal"));
        assert!(within_one("salt", "saltt"));
        assert!(within_one("salt", "silt"));
        assert!(!within_one("salt", "slta"));
        assert!(!within_one("salt", "sugar"));
        assert!(within_one("pakc", "pack"));
    }

    #[test]
    fn distances() {
        assert_eq!(levenshtein_within("kitten", "sitting", 3), Some(3));
        assert_eq!(levenshtein_within("kitten", "sitting", 2), None);
        assert_eq!(levenshtein_within("brightening", "brightning", 2), Some(1));
        assert_eq!(levenshtein_within("abc", "abcdefg", 3), None);
        assert!(is_subsequence("pwdr", "powder"));
        assert!(!is_subsequence("pwdx", "powder"));
    }

    #[test]
    fn signatures_never_rule_out_a_near_word() {
        let words = [
            "salt",
            "slat",
            "sal",
            "salts",
            "malt",
            "chocolate",
            "chclt",
            "choclate",
            "choco",
            "strawberry",
            "strwbry",
            "n95",
            "100g",
            "",
            "a",
        ];
        for a in words {
            for b in words {
                let (sa, sb) = (WordSig::of(a), WordSig::of(b));
                if a == b {
                    assert!(sa.may_equal(&sb));
                }
                if within_one(a, b) {
                    assert!(sa.may_be_within(&sb, 1), "{a} {b}");
                }
                for k in 0..4 {
                    if levenshtein_within(a, b, k).is_some() {
                        assert!(sa.may_be_within(&sb, k), "{a} {b} {k}");
                    }
                }
                if a.len() > 1 && is_subsequence(&a[1..], b) {
                    assert!(sa.rest_may_be_in(&sb), "{a} {b}");
                }
            }
        }
        assert!(!WordSig::of("salt").may_be_within(&WordSig::of("pepper"), 1));
        assert!(!WordSig::of("salt").rest_may_be_in(&WordSig::of("sugar")));
    }
}
