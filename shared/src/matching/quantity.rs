//! Pack sizes: "100g", "100 GMS", "0.1 kg", "1/2 kg", "1 ltr", "pack of 6", "6N", "2x500g",
//! "500 g (pack of 2)" and friends, to one canonical size. A different size is a different
//! product, so this is the strongest signal matching has after the barcode.
//!
//! Owns the lexer (words, numbers, fractions, multipack signs, each remembering whether it was
//! glued to the previous lexeme) and the size patterns over lexemes. Unit spellings come from the
//! lexicon (data, not code). `2x500 g` and `1 kg` are different sizes (count and unit size must
//! both agree); their equal total is only reported as such.

use std::fmt;

use super::lexicon::Lexicon;
use super::text::{Origin, continues_other_letters, is_other_letter};

/// Base units sizes are expressed in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum BaseUnit {
    Gram,
    Millilitre,
    Piece,
    Centimetre,
}

impl BaseUnit {
    fn suffix(self) -> &'static str {
        match self {
            BaseUnit::Gram => "g",
            BaseUnit::Millilitre => "ml",
            BaseUnit::Piece => "pcs",
            BaseUnit::Centimetre => "cm",
        }
    }
}

/// A canonical size: `count` packs of `milli / 1000` base units each.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Size {
    pub count: u32,
    /// Thousandths of the base unit (exact for every size people write).
    pub milli: u64,
    pub unit: BaseUnit,
}

impl Size {
    fn new(count: u32, value: f64, unit: BaseUnit) -> Option<Size> {
        let milli = (value * 1000.0).round();
        if count == 0 || !(1.0..1e15).contains(&milli) || count > 10_000 {
            return None;
        }
        Some(Size {
            count,
            milli: milli as u64,
            unit,
        })
    }

    /// Same count, same unit, unit sizes within 0.5%.
    pub fn agrees(&self, other: &Size) -> bool {
        self.unit == other.unit && self.count == other.count && close(self.milli, other.milli)
    }

    /// Same unit and unit size, whatever the count (3 x 125 g and 125 g).
    pub fn same_amount(&self, other: &Size) -> bool {
        self.unit == other.unit && close(self.milli, other.milli)
    }

    /// Different packing of the same total (2 x 500 g vs 1 kg): not the same product.
    pub fn same_total(&self, other: &Size) -> bool {
        self.unit == other.unit
            && close(
                self.milli * u64::from(self.count),
                other.milli * u64::from(other.count),
            )
    }
}

fn close(a: u64, b: u64) -> bool {
    let (hi, lo) = (a.max(b), a.min(b));
    (hi - lo) * 200 <= hi
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.milli as f64 / 1000.0;
        if self.count > 1 {
            write!(f, "{}x{}{}", self.count, v, self.unit.suffix())
        } else {
            write!(f, "{}{}", v, self.unit.suffix())
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LexKind {
    Word,
    Number(f64),
    /// `*` or `×` (a Latin `x` stays a word; the patterns decide what it means).
    Times,
    Slash,
    Open,
    Close,
}

/// One lexeme of a text, with the script its word came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexeme {
    pub text: String,
    pub kind: LexKind,
    /// No whitespace between this lexeme and the previous one.
    pub glued: bool,
    pub origin: Origin,
    /// Other words this one may stand for (a glossary entry's further translations).
    pub alts: Vec<String>,
}

impl Lexeme {
    pub fn word(&self) -> Option<&str> {
        (self.kind == LexKind::Word).then_some(self.text.as_str())
    }

    fn number(&self) -> Option<f64> {
        match self.kind {
            LexKind::Number(v) => Some(v),
            _ => None,
        }
    }

    fn integer(&self) -> Option<u32> {
        self.number()
            .filter(|v| v.fract() == 0.0 && *v >= 1.0 && *v <= 10_000.0)
            .map(|v| v as u32)
    }
}

/// Lexes one (already Latin, lower-case) whitespace-separated word into lexemes.
pub fn lex_word(word: &str, origin: Origin, out: &mut Vec<Lexeme>) {
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    let mut glued = false;
    let push = |out: &mut Vec<Lexeme>, text: String, kind: LexKind, glued: bool| {
        out.push(Lexeme {
            text,
            kind,
            glued,
            origin,
            alts: Vec::new(),
        });
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_lowercase() {
            let start = i;
            // Tamil `mi.li`: a dot between letters stays in an Indic-origin word.
            while i < chars.len()
                && (chars[i].is_ascii_lowercase()
                    || (origin == Origin::Tamil
                        && chars[i] == '.'
                        && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())))
            {
                i += 1;
            }
            push(out, chars[start..i].iter().collect(), LexKind::Word, glued);
            glued = true;
        } else if is_other_letter(c) {
            // Cyrillic, Greek, Thai...: a word of its own script (not dropped, or "Кефир 3,2 %"
            // would be only its number, and the same as "Молоко 3.2%").
            let start = i;
            while i < chars.len() && continues_other_letters(chars[i]) {
                i += 1;
            }
            push(out, chars[start..i].iter().collect(), LexKind::Word, glued);
            glued = true;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut text: String = chars[start..i].iter().collect();
            let mut value: f64 = text.parse().unwrap_or(0.0);
            // `1,000` (exactly three digits after the comma) is a thousands separator.
            let thousands = chars.get(i) == Some(&',')
                && chars.len() >= i + 4
                && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
                && chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
            if thousands {
                let rest: String = chars[i + 1..i + 4].iter().collect();
                text = format!("{text}{rest}");
                value = text.parse().unwrap_or(value);
                i += 4;
            } else if i + 1 < chars.len()
                && matches!(chars[i], '.' | ',')
                && chars[i + 1].is_ascii_digit()
            {
                let frac_start = i + 1;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let frac: String = chars[frac_start..i].iter().collect();
                text = format!("{text}.{frac}");
                value = text.parse().unwrap_or(value);
            }
            push(out, text, LexKind::Number(value), glued);
            glued = true;
        } else {
            let kind = match c {
                '*' | '×' => Some(LexKind::Times),
                '/' => Some(LexKind::Slash),
                '(' | '[' => Some(LexKind::Open),
                ')' | ']' => Some(LexKind::Close),
                // `6's`: the apostrophe keeps the s glued to the number.
                '\'' => None,
                _ => {
                    glued = false;
                    i += 1;
                    continue;
                }
            };
            if let Some(kind) = kind {
                push(out, c.to_string(), kind, glued);
            }
            i += 1;
        }
    }
}

/// `1 / 2` and `1/2` become one number, 0.5 (before a unit it is half of that unit). Run once
/// over a whole field, since the parts may be separate words.
pub fn fold_fractions(lx: &mut Vec<Lexeme>) {
    let mut i = 0;
    while i + 2 < lx.len() {
        if let (Some(a), LexKind::Slash, Some(b)) =
            (lx[i].integer(), &lx[i + 1].kind, lx[i + 2].integer())
            && a < b
            && b <= 16
        {
            lx[i].kind = LexKind::Number(f64::from(a) / f64::from(b));
            lx[i].text = format!("{a}/{b}");
            lx.drain(i + 1..i + 3);
            continue;
        }
        i += 1;
    }
}

/// A size found in a lexeme stream, and the lexemes it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub size: Size,
    pub start: usize,
    pub end: usize,
}

struct Cursor<'a> {
    lx: &'a [Lexeme],
    taken: &'a [bool],
    lexicon: &'a Lexicon,
}

impl<'a> Cursor<'a> {
    fn get(&self, i: usize) -> Option<&'a Lexeme> {
        if *self.taken.get(i)? {
            return None;
        }
        self.lx.get(i)
    }

    /// A number that may start a size: not glued to a preceding word (`bp2`, `k2`, `d3` are
    /// names), except a multipack `x`.
    fn size_number(&self, i: usize) -> Option<f64> {
        let l = self.get(i)?;
        let v = l.number()?;
        if l.glued && i > 0 {
            let prev = &self.lx[i - 1];
            if prev.kind == LexKind::Word && !self.is_times_word(prev) {
                return None;
            }
        }
        Some(v)
    }

    fn count(&self, i: usize) -> Option<u32> {
        self.size_number(i)?;
        self.get(i)?.integer()
    }

    fn is_times_word(&self, l: &Lexeme) -> bool {
        match l.word() {
            Some("x" | "xx") => true,
            Some("ks") => l.origin != Origin::Latin,
            _ => false,
        }
    }

    /// One or two multipack signs at `i`; returns the index after them.
    fn times(&self, i: usize) -> Option<usize> {
        let is = |j: usize| {
            self.get(j)
                .is_some_and(|l| l.kind == LexKind::Times || self.is_times_word(l))
        };
        if !is(i) {
            return None;
        }
        Some(if is(i + 1) { i + 2 } else { i + 1 })
    }

    /// A unit word at `i` right after the number at `i - 1`.
    fn unit(&self, i: usize) -> Option<(BaseUnit, f64)> {
        let l = self.get(i)?;
        let w = l.word()?;
        let unit = self.lexicon.unit(w, l.origin)?;
        // One-letter count words only when glued to the number: `6n`, `6's`.
        if unit.glued_only && !l.glued {
            return None;
        }
        Some((unit.base, unit.mult))
    }

    /// `pack`, `pk`, `set` (or `box` when `with_box`), allowing one typo in `pack`.
    fn pack_word(&self, i: usize, with_box: bool) -> bool {
        self.get(i).and_then(Lexeme::word).is_some_and(|w| {
            matches!(w, "pack" | "pk" | "pkt" | "set")
                || (with_box && w == "box")
                || (w.len() >= 3 && w.len() <= 5 && super::fuzzy::within_one(w, "pack"))
        })
    }

    /// After a pack word: an optional short filler (`of`, a typo of it), then a count.
    fn pack_count(&self, i: usize) -> Option<(u32, usize)> {
        if let Some(c) = self.count(i) {
            return Some((c, i + 1));
        }
        self.get(i)?.word().filter(|w| w.len() <= 2)?;
        self.count(i + 1).map(|c| (c, i + 2))
    }
}

/// Every size in `lx`, non-overlapping, multipack patterns first. Marks used lexemes in `taken`.
pub fn find_sizes(lx: &[Lexeme], lexicon: &Lexicon, taken: &mut [bool]) -> Vec<Found> {
    let mut found = Vec::new();
    type Pattern = fn(&Cursor, usize) -> Option<(Size, usize)>;
    let patterns: [Pattern; 6] = [
        // pack of 2 x 500 g
        |c, i| {
            if !c.pack_word(i, false) {
                return None;
            }
            let (count, j) = c.pack_count(i + 1)?;
            let j = c.times(j)?;
            let v = c.size_number(j)?;
            let (u, m) = c.unit(j + 1)?;
            Some((Size::new(count, v * m, u)?, j + 2))
        },
        // 2 x 500 g, 2*500g
        |c, i| {
            let count = c.count(i)?;
            let j = c.times(i + 1)?;
            let v = c.size_number(j)?;
            let (u, m) = c.unit(j + 1)?;
            Some((Size::new(count, v * m, u)?, j + 2))
        },
        // 500 g x 2 (and not "500 g x 2 kg ...")
        |c, i| {
            let v = c.size_number(i)?;
            let (u, m) = c.unit(i + 1)?;
            let j = c.times(i + 2)?;
            let count = c.get(j)?.integer()?;
            if c.unit(j + 1).is_some()
                || c.get(j + 1)
                    .is_some_and(|l| l.glued && l.number().is_some())
            {
                return None;
            }
            Some((Size::new(count, v * m, u)?, j + 1))
        },
        // 500 g (pack of 2)
        |c, i| {
            let v = c.size_number(i)?;
            let (u, m) = c.unit(i + 1)?;
            let mut j = i + 2;
            let open = c.get(j).is_some_and(|l| l.kind == LexKind::Open);
            if open {
                j += 1;
            }
            if !c.pack_word(j, false) {
                return None;
            }
            let (count, mut j) = c.pack_count(j + 1)?;
            if open && c.get(j).is_some_and(|l| l.kind == LexKind::Close) {
                j += 1;
            }
            Some((Size::new(count, v * m, u)?, j))
        },
        // 100 gm, 1/2 kg, 6N, 6's
        |c, i| {
            let v = c.size_number(i)?;
            let (u, m) = c.unit(i + 1)?;
            Some((Size::new(1, v * m, u)?, i + 2))
        },
        // pack of 6, set of 4 (pieces)
        |c, i| {
            if !c.pack_word(i, true) {
                return None;
            }
            let (count, j) = c.pack_count(i + 1)?;
            if c.times(j).is_some() {
                return None;
            }
            Some((Size::new(1, f64::from(count), BaseUnit::Piece)?, j))
        },
    ];
    for pattern in patterns {
        let mut i = 0;
        while i < lx.len() {
            let hit = {
                let c = Cursor { lx, taken, lexicon };
                pattern(&c, i)
            };
            match hit {
                Some((size, end)) if (i..end).all(|k| !taken[k]) => {
                    taken[i..end].iter_mut().for_each(|t| *t = true);
                    found.push(Found {
                        size,
                        start: i,
                        end,
                    });
                    i = end;
                }
                _ => i += 1,
            }
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::lexicon::Lexicon;

    fn sizes(s: &str) -> Vec<String> {
        let lexicon = Lexicon::builtin();
        let mut lx = Vec::new();
        for w in s.split_whitespace() {
            lex_word(&w.to_lowercase(), Origin::Latin, &mut lx);
        }
        fold_fractions(&mut lx);
        let mut taken = vec![false; lx.len()];
        find_sizes(&lx, lexicon, &mut taken)
            .iter()
            .map(|f| f.size.to_string())
            .collect()
    }

    #[test]
    fn the_brief_s_forms() {
        for (s, want) in [
            ("100g", "100g"),
            ("100 gm", "100g"),
            ("100 GMS", "100g"),
            ("0.1 kg", "100g"),
            ("1/2 kg", "500g"),
            ("1 / 2 ltr", "500ml"),
            ("1 ltr", "1000ml"),
            ("1000ml", "1000ml"),
            ("1,5 L", "1500ml"),
            ("1,000 ml", "1000ml"),
            ("pack of 6", "6pcs"),
            ("6N", "6pcs"),
            ("6's", "6pcs"),
            ("2x500g", "2x500g"),
            ("2 X 500 G", "2x500g"),
            ("500 g x 2", "2x500g"),
            ("500g (pack of 2)", "2x500g"),
            ("pack of 2 x 500 g", "2x500g"),
            ("pakc of 3", "3pcs"),
            ("1 no", "1pcs"),
            ("250 mg", "0.25g"),
            ("5 kilo", "5000g"),
            ("50 grams", "50g"),
            ("2 * 1 L", "2x1000ml"),
        ] {
            assert_eq!(sizes(s), [want], "{s}");
        }
    }

    #[test]
    fn sizes_inside_names() {
        assert_eq!(sizes("Tata Salt 1 kg"), ["1000g"]);
        assert_eq!(sizes("haldi chandan face wash 100g"), ["100g"]);
        assert_eq!(sizes("ponds face wash 2x150 gm"), ["2x150g"]);
    }

    #[test]
    fn numbers_that_are_names_are_not_sizes() {
        assert!(sizes("Vitamin D3 tablets").is_empty());
        assert!(sizes("BP2 battery").is_empty());
        assert!(sizes("no 1 choice").is_empty());
        assert!(sizes("pro 4 series").is_empty());
    }

    #[test]
    fn typos_in_units() {
        assert_eq!(sizes("100 grmas"), ["100g"]);
        assert_eq!(sizes("200 mll"), ["200ml"]);
        assert_eq!(sizes("1 kgg"), ["1000g"]);
    }

    #[test]
    fn agreement() {
        let a = Size::new(2, 500.0, BaseUnit::Gram).unwrap();
        let b = Size::new(1, 1000.0, BaseUnit::Gram).unwrap();
        assert!(!a.agrees(&b));
        assert!(a.same_total(&b));
        assert!(b.agrees(&Size::new(1, 1002.0, BaseUnit::Gram).unwrap()));
        assert!(!b.agrees(&Size::new(1, 1000.0, BaseUnit::Millilitre).unwrap()));
    }
}
