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
            // A model code is also one word (`kx-ts208w` and `kxts208w` are the same code),
            // an alternative of the word's first lexeme.
            if let Some(code) = model_code(w, lexicon)
                && let Some(l) = out.get_mut(first)
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

/// Whether a (normalised) word is a model code: letters and digits mixed (`kx-ts208w`,
/// `cli-8m`, `mach3`), with its separators dropped; not a size written as one word (`100gm`,
/// `2x500g`, `1kgx2`), whose letters are all units.
pub fn model_code(word: &str, lexicon: &Lexicon) -> Option<String> {
    let code: String = word.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let digits = code.bytes().any(|b| b.is_ascii_digit());
    let letters = code.bytes().any(|b| b.is_ascii_lowercase());
    if code.len() < MIN_CODE || !digits || !letters {
        return None;
    }
    (!size_shaped(&code, lexicon)).then_some(code)
}

/// `500g`, `2x500g`, `500gx2`: a number, a unit, and a count before or after.
fn size_shaped(code: &str, lexicon: &Lexicon) -> bool {
    let digits = |s: &str| s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let mut rest = &code[code.len() - digits(code)..];
    if rest.len() == code.len() {
        return false;
    }
    if let Some(after) = rest.strip_prefix('x')
        && after.starts_with(|c: char| c.is_ascii_digit())
    {
        rest = &after[after.len() - digits(after)..];
    }
    let unit_len = rest.len()
        - rest
            .trim_start_matches(|c: char| c.is_ascii_lowercase())
            .len();
    let (unit, after) = rest.split_at(unit_len);
    let (unit, count) = match unit.strip_suffix('x') {
        Some(u) if !after.is_empty() => (u, after),
        _ => (unit, after),
    };
    let count_ok = count.is_empty() || (unit.len() < rest.len() && digits(count) == 0);
    !unit.is_empty() && count_ok && lexicon.unit(unit, Origin::Latin).is_some()
}

/// Whether a catalog or query word is a model code (`model_code`'s form).
pub fn is_code(word: &str) -> bool {
    word.len() >= MIN_CODE
        && word.bytes().all(|b| b.is_ascii_alphanumeric())
        && word.bytes().any(|b| b.is_ascii_digit())
        && word.bytes().any(|b| b.is_ascii_lowercase())
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
        let l = Lexicon::builtin();
        let code = |w: &str| model_code(w, l);
        assert_eq!(code("kx-ts208w").as_deref(), Some("kxts208w"));
        assert_eq!(code("kxts208w").as_deref(), Some("kxts208w"));
        assert_eq!(code("cli-8m").as_deref(), Some("cli8m"));
        assert_eq!(code("dscw150/b").as_deref(), Some("dscw150b"));
        // Sizes, plain numbers, plain words and short codes are not.
        for w in [
            "100gm",
            "2x500g",
            "1kgx2",
            "500ml",
            "12345",
            "non-stick",
            "b12",
            "7up",
        ] {
            assert_eq!(code(w), None, "{w}");
        }
        // The code goes with the word's first lexeme.
        let lx = lex_field("Panasonic KX-TS208W Phone", l);
        let kx = lx.iter().find(|x| x.text == "kx").unwrap();
        assert_eq!(kx.alts, ["kxts208w"]);
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
