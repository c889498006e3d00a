//! Phonetic keys: one skeleton for the spellings a word takes in Indian English, after a round
//! trip through Devanagari or Tamil, or with its vowels dropped (`dal`, `daal`, `dhal` -> `dl`;
//! `chocolate`, `chclt` -> `cklt`).
//!
//! The fine key folds English orthography (ph, ck, c, x, q, w, tion), aspiration, `z`/`j` and
//! vowels after the first letter. The coarse key also folds voicing (g/k, d/t, b/p, j/c), which
//! the Tamil script does not write; Tamil-origin words compare on it.

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

/// The fine key of a lower-case Latin word (other words are their own key).
pub fn key(token: &str) -> String {
    if !super::text::is_alpha(token) {
        return token.to_string();
    }
    let t = token.replace("tion", "shn").replace("sion", "shn");
    let t = t
        .replace("ph", "f")
        .replace("ck", "k")
        .replace("qu", "kv")
        .replace('q', "k")
        .replace('x', "ks");
    // `ow`/`aw` are vowels (brown, straw): drop the w.
    let mut s: Vec<u8> = Vec::with_capacity(t.len());
    for (i, &b) in t.as_bytes().iter().enumerate() {
        if b == b'w' && i > 0 && matches!(t.as_bytes()[i - 1], b'o' | b'a') {
            continue;
        }
        s.push(b);
    }
    let t = String::from_utf8(s).expect("ascii");
    // C = ch/chh, S = sh (one symbol each, so their h is not a separate letter).
    let t = t.replace("chh", "C").replace("ch", "C").replace("sh", "S");
    let tb = t.as_bytes();
    let mut s: Vec<u8> = Vec::with_capacity(tb.len());
    for (i, &b) in tb.iter().enumerate() {
        let next = tb.get(i + 1).copied();
        s.push(match b {
            b'c' if matches!(next, Some(b'e' | b'i' | b'y')) => b's',
            b'c' => b'k',
            b'w' => b'v',
            other => other,
        });
    }
    // Aspirates lose their h; then ch->c, sh->s, z->j; any other h goes.
    let mut u: Vec<u8> = Vec::with_capacity(s.len());
    for (i, &b) in s.iter().enumerate() {
        if b == b'h' && i > 0 && matches!(s[i - 1], b'k' | b'g' | b'j' | b't' | b'd' | b'p' | b'b')
        {
            continue;
        }
        u.push(match b {
            b'C' => b'c',
            b'S' => b's',
            b'z' => b'j',
            other => other,
        });
    }
    if u.len() > 1 {
        u.retain(|&b| b != b'h');
    }
    skeleton(&u).unwrap_or_else(|| token.to_string())
}

/// First letter kept (a vowel becomes `a`), later vowels dropped, repeats collapsed.
fn skeleton(u: &[u8]) -> Option<String> {
    let first = *u.first()?;
    let mut out = String::with_capacity(u.len());
    out.push(if is_vowel(first) { 'a' } else { first as char });
    for &b in &u[1..] {
        if !is_vowel(b) && out.as_bytes().last() != Some(&b) {
            out.push(b as char);
        }
    }
    Some(out)
}

/// The coarse (voicing-folded) key of a fine key.
pub fn coarse(fine: &str) -> String {
    if !super::text::is_alpha(fine) {
        return fine.to_string();
    }
    let folded = fine.replace("ng", "n");
    let mut out = String::with_capacity(folded.len());
    for b in folded.bytes() {
        let c = match b {
            b'g' => 'k',
            b'd' => 't',
            b'b' => 'p',
            b'j' => 'c',
            b'f' => 'p',
            other => other as char,
        };
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_families_share_a_key() {
        for (words, k) in [
            (&["dal", "daal", "dhal"][..], "dl"),
            (&["jeera", "zeera", "jira"][..], "jr"),
            (&["ketchup", "catchup", "ketchap"][..], "ktcp"),
            (&["chocolate", "chclt"][..], "cklt"),
            (&["powder", "powdr"][..], "pdr"),
            (&["lotion", "loshan"][..], "lsn"),
        ] {
            for w in words {
                assert_eq!(key(w), k, "{w}");
            }
        }
        assert_eq!(key("500"), "500");
    }

    #[test]
    fn coarse_keys_fold_voicing() {
        assert_eq!(coarse(&key("bulb")), coarse(&key("palp")));
        assert_eq!(coarse(&key("dal")), coarse(&key("tal")));
        assert_ne!(key("bulb"), key("palp"));
    }
}
