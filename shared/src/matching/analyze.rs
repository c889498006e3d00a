//! From a field's text to lexemes, the same way for catalog rows and queries: normalise, bring
//! Indic words to Latin (a glossary phrase becomes its catalog words), lex, find sizes.

use super::indic;
use super::lexicon::Lexicon;
use super::quantity::{Found, LexKind, Lexeme, find_sizes, fold_fractions, lex_word};
use super::text::{Origin, normalize, words};

/// Lexes one field.
pub fn lex_field(text: &str, lexicon: &Lexicon) -> Vec<Lexeme> {
    let norm = normalize(text);
    let ws: Vec<(&str, Origin)> = words(&norm).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        let (w, origin) = ws[i];
        if origin == Origin::Latin {
            let first = out.len();
            lex_word(w, origin, &mut out);
            // A model code is also one word (`kx-ts208w` and `kxts208w` are the same code): an
            // alternative of the word's first lexeme that stays a word (not a bracket, not `x`,
            // not a stopword).
            if let Some(code) = model_code(w)
                && let Some(l) = out[first..].iter_mut().find(|l| match l.kind {
                    LexKind::Number(_) => true,
                    LexKind::Word => l.text != "x" && !lexicon.is_stopword(&l.text),
                    _ => false,
                })
                && l.text != code
            {
                l.alts.push(code);
            }
            i += 1;
            continue;
        }
        let natives: Vec<&str> = ws[i..]
            .iter()
            .take_while(|(_, o)| *o != Origin::Latin)
            .map(|(w, _)| w.trim_matches(|c: char| c.is_ascii_punctuation()))
            .collect();
        if let Some((alts, n)) = lexicon.glossary(&natives) {
            out.push(Lexeme {
                text: alts[0].clone(),
                kind: LexKind::Word,
                glued: false,
                origin: Origin::Glossary,
                alts: alts[1..].to_vec(),
            });
            i += n;
            continue;
        }
        lex_word(&indic::to_latin(w), origin, &mut out);
        i += 1;
    }
    fold_fractions(&mut out);
    out
}

/// Shortest model code, in letters and digits.
const MIN_CODE: usize = 4;

/// Whether a (normalised) word is a model code, and its code: letters and digits mixed,
/// starting with a letter (`kx-ts208w`, `cli-8m`, `mach3`), with its separators dropped.
/// Digits first is a size or a spec (`100gm`, `750w`, `128gb`, `3in1`), not a code; a word
/// with letters of another script is not one either.
pub fn model_code(word: &str) -> Option<String> {
    if word
        .chars()
        .any(|c| c.is_alphanumeric() && !c.is_ascii_alphanumeric())
    {
        return None;
    }
    let code: String = word.chars().filter(char::is_ascii_alphanumeric).collect();
    is_code(&code).then_some(code)
}

/// Whether a catalog or query word is a model code (`model_code`'s form).
pub fn is_code(word: &str) -> bool {
    word.len() >= MIN_CODE
        && word.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && word.bytes().all(|b| b.is_ascii_alphanumeric())
        && word.bytes().any(|b| b.is_ascii_digit())
}

/// A field's lexemes with the sizes found in them.
pub struct Analyzed {
    pub lexemes: Vec<Lexeme>,
    /// Lexemes used by a size.
    pub taken: Vec<bool>,
    pub sizes: Vec<Found>,
}

pub fn analyze(text: &str, lexicon: &Lexicon) -> Analyzed {
    let lexemes = lex_field(text, lexicon);
    sized(lexemes, lexicon)
}

pub fn sized(lexemes: Vec<Lexeme>, lexicon: &Lexicon) -> Analyzed {
    let mut taken = vec![false; lexemes.len()];
    let sizes = find_sizes(&lexemes, lexicon, &mut taken);
    Analyzed {
        lexemes,
        taken,
        sizes,
    }
}

/// Splits a product name into its head and its descriptors: what comes after the first
/// " - ", ",", "(" or "|" describes a variant and weighs less. A comma between digits is a
/// decimal one ("Milch 3,5%"), not a separator.
pub fn split_head(name: &str) -> (&str, &str) {
    let b = name.as_bytes();
    let comma = name.match_indices(',').map(|(i, _)| i).find(|&i| {
        !(i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    });
    let cut = [" - ", "(", "|"]
        .iter()
        .filter_map(|sep| name.find(sep))
        .chain(comma)
        .min();
    match cut {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The words (with their positions) of lexemes that are not sizes, multipack signs or
/// stopwords.
pub fn text_words<'a>(
    a: &'a Analyzed,
    lexicon: &'a Lexicon,
) -> impl Iterator<Item = (usize, &'a Lexeme)> + 'a {
    a.lexemes
        .iter()
        .zip(&a.taken)
        .enumerate()
        .filter_map(move |(k, (l, &t))| {
            let keep = !t
                && matches!(l.kind, LexKind::Word | LexKind::Number(_))
                && !(l.kind == LexKind::Word && (lexicon.is_stopword(&l.text) || l.text == "x"));
            keep.then_some((k, l))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_code_is_one_word_whatever_its_separators() {
        let code = model_code;
        assert_eq!(code("kx-ts208w").as_deref(), Some("kxts208w"));
        assert_eq!(code("kxts208w").as_deref(), Some("kxts208w"));
        assert_eq!(code("cli-8m").as_deref(), Some("cli8m"));
        assert_eq!(code("dscw150/b").as_deref(), Some("dscw150b"));
        assert_eq!(code("(dc50b)").as_deref(), Some("dc50b"));
        // Sizes, specs, plain numbers, plain words, short codes and other scripts are not.
        for w in [
            "100gm",
            "2x500g",
            "1kgx2",
            "500ml",
            "750w",
            "128gb",
            "3in1",
            "24x7",
            "12345",
            "non-stick",
            "b12",
            "7up",
            "айфон13pro",
        ] {
            assert_eq!(code(w), None, "{w}");
        }
        // The code goes with the word's first lexeme that stays a word.
        let l = Lexicon::builtin();
        for (field, first) in [
            ("Panasonic KX-TS208W Phone", "kx"),
            ("Coffee Maker (DC50B)", "dc"),
            ("Fujifilm X-T30 Camera", "t"),
        ] {
            let lx = lex_field(field, l);
            let holder = lx.iter().find(|x| !x.alts.is_empty()).expect(field);
            assert_eq!(holder.text, first, "{field}");
        }
    }

    #[test]
    fn the_head_ends_at_the_first_separator_but_not_at_a_decimal_comma() {
        assert_eq!(
            split_head("Toor Dal - Unpolished"),
            ("Toor Dal", " - Unpolished")
        );
        assert_eq!(split_head("Ginger Ale, Ingwer"), ("Ginger Ale", ", Ingwer"));
        assert_eq!(
            split_head("Milch 3,5%, laktosefrei"),
            ("Milch 3,5%", ", laktosefrei")
        );
        assert_eq!(split_head("Молоко 3,2%"), ("Молоко 3,2%", ""));
        assert_eq!(split_head("Pack 2,"), ("Pack 2", ","));
    }
}
