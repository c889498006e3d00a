//! Text normalisation shared by the catalog side and the query side of matching.
//!
//! Owns what a "word" is: NFKC, lower case, Latin diacritics folded (comté -> comte), and
//! Devanagari/Tamil runs brought to Latin (see `indic`); letters of other scripts stay as they
//! are and make words of their own. Both sides go through the same code,
//! so they meet.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::decompose_canonical;

/// Which script a word came from; Tamil-origin words compare with voicing folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    Latin,
    Devanagari,
    Tamil,
    /// A native-script word replaced from the glossary.
    Glossary,
}

pub fn is_devanagari(c: char) -> bool {
    ('\u{0900}'..='\u{097F}').contains(&c)
}

pub fn is_tamil(c: char) -> bool {
    ('\u{0B80}'..='\u{0BFF}').contains(&c)
}

/// NFKC, lower case, Latin diacritics folded, `&` spelled out, curly quotes straightened.
/// Indic characters are left as they are (their combining signs carry meaning).
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkc() {
        match c {
            '&' => out.push_str(" and "),
            '\u{2018}' | '\u{2019}' | '`' | '\u{00B4}' => out.push('\''),
            c if ('\u{00C0}'..='\u{024F}').contains(&c) => {
                // Latin-1 and Latin Extended letters: keep the base letter, drop the accent;
                // the letters with no decomposition are spelled in ASCII (ø -> o, ß -> ss).
                if let Some(ascii) = c.to_lowercase().next().and_then(latin_spelling) {
                    out.push_str(ascii);
                    continue;
                }
                decompose_canonical(c, |d| {
                    if !('\u{0300}'..='\u{036F}').contains(&d) {
                        out.extend(d.to_lowercase());
                    }
                });
            }
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// How the Latin letters that do not decompose into a base letter and an accent are spelled
/// in ASCII.
fn latin_spelling(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'đ' | 'ð' => "d",
        'ł' => "l",
        'þ' => "th",
        'ı' => "i",
        _ => return None,
    })
}

/// A letter of a script other than Latin, Devanagari and Tamil (Cyrillic, Greek, Thai, Han...):
/// such letters make words of their own, which match only exactly (the spelling-variant and
/// typo tiers are for Latin words).
pub fn is_other_letter(c: char) -> bool {
    !c.is_ascii() && c.is_alphabetic()
}

/// Continues a word of other-script letters: another letter, or a mark combining with the one
/// before (a Bengali hasanta). A stray mark alone makes no word.
pub fn continues_other_letters(c: char) -> bool {
    is_other_letter(c) || unicode_normalization::char::is_combining_mark(c)
}

/// Splits normalised text into whitespace-separated words, each with the script it is written
/// in (a word mixing scripts, like `व्Oश`, counts as the Indic one).
pub fn words(s: &str) -> impl Iterator<Item = (&str, Origin)> {
    s.split_whitespace().map(|w| {
        let origin = if w.chars().any(is_devanagari) {
            Origin::Devanagari
        } else if w.chars().any(is_tamil) {
            Origin::Tamil
        } else {
            Origin::Latin
        };
        (w, origin)
    })
}

pub fn is_alpha(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_width_and_accents() {
        assert_eq!(normalize("Comté FROMAGE"), "comte fromage");
        assert_eq!(normalize("ＡＢＣ Ｄal"), "abc dal");
        assert_eq!(normalize("Head & Shoulders"), "head  and  shoulders");
        assert_eq!(normalize("Mother’s Recipe"), "mother's recipe");
        assert_eq!(
            normalize("Smørrebrød STRAßE Œuf"),
            "smorrebrod strasse oeuf"
        );
    }

    #[test]
    fn other_scripts_make_words() {
        let words = |s: &str| {
            let mut out = Vec::new();
            crate::matching::quantity::lex_word(&normalize(s), Origin::Latin, &mut out);
            out.into_iter().map(|l| l.text).collect::<Vec<_>>()
        };
        assert_eq!(words("Кефир-3,2%"), ["кефир", "3.2"]);
        assert_eq!(words("নুন্"), ["নুন্"]);
        assert_eq!(words("q\u{0301}"), ["q"]);
    }

    #[test]
    fn leaves_indic_signs_alone() {
        // ொ decomposes under NFD; normalisation must not split it.
        assert_eq!(normalize("கொத்தமல்லி"), "கொத்தமல்லி");
        assert_eq!(normalize("हल्दी"), "हल्दी");
    }
}
