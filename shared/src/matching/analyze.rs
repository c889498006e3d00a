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
            lex_word(w, origin, &mut out);
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
    use super::split_head;

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
