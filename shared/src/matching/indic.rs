//! Devanagari and Tamil brought to Latin letters, by table, so native-script rows meet the
//! catalog's Latin names. No transliteration library: the tables are small and exact.
//!
//! The output is a plain Latin spelling (`हल्दी` -> `haldii`, `மஞ்சள்` -> `manychal`); the
//! phonetic key (`phonetic`) then absorbs vowel length, aspiration and, for Tamil, voicing,
//! which the Tamil script does not write.

fn deva_consonant(c: char) -> Option<&'static str> {
    Some(match c {
        'क' => "k",
        'ख' => "kh",
        'ग' => "g",
        'घ' => "gh",
        'ङ' => "ng",
        'च' => "ch",
        'छ' => "chh",
        'ज' => "j",
        'झ' => "jh",
        'ञ' => "ny",
        'ट' => "t",
        'ठ' => "th",
        'ड' => "d",
        'ढ' => "dh",
        'ण' => "n",
        'त' => "t",
        'थ' => "th",
        'द' => "d",
        'ध' => "dh",
        'न' => "n",
        'ऩ' => "n",
        'प' => "p",
        'फ' => "ph",
        'ब' => "b",
        'भ' => "bh",
        'म' => "m",
        'य' => "y",
        'र' => "r",
        'ऱ' => "r",
        'ल' => "l",
        'ळ' => "l",
        'ऴ' => "l",
        'व' => "v",
        'श' => "sh",
        'ष' => "sh",
        'स' => "s",
        'ह' => "h",
        // Precomposed nukta letters.
        '\u{0958}' => "q",
        '\u{0959}' => "kh",
        '\u{095A}' => "g",
        '\u{095B}' => "z",
        '\u{095C}' => "r",
        '\u{095D}' => "rh",
        '\u{095E}' => "f",
        '\u{095F}' => "y",
        _ => return None,
    })
}

/// A consonant followed by the combining nukta (U+093C).
fn deva_nukta(c: char) -> Option<&'static str> {
    Some(match c {
        'क' => "q",
        'ख' => "kh",
        'ग' => "g",
        'ज' => "z",
        'ड' => "r",
        'ढ' => "rh",
        'फ' => "f",
        'य' => "y",
        _ => return None,
    })
}

fn deva_vowel(c: char) -> Option<&'static str> {
    Some(match c {
        'अ' => "a",
        'आ' => "aa",
        'इ' => "i",
        'ई' => "ii",
        'उ' => "u",
        'ऊ' => "uu",
        'ऋ' => "ri",
        'ॠ' => "ri",
        'ऌ' => "li",
        'ए' => "e",
        'ऐ' => "ai",
        'ओ' => "o",
        'औ' => "au",
        'ऍ' => "e",
        'ऎ' => "e",
        'ऑ' => "o",
        'ऒ' => "o",
        _ => return None,
    })
}

fn deva_sign(c: char) -> Option<&'static str> {
    Some(match c {
        'ा' => "aa",
        'ि' => "i",
        'ी' => "ii",
        'ु' => "u",
        'ू' => "uu",
        'ृ' => "ri",
        'ॄ' => "ri",
        'े' => "e",
        'ै' => "ai",
        'ो' => "o",
        'ौ' => "au",
        'ॅ' => "e",
        'ॆ' => "e",
        'ॉ' => "o",
        'ॊ' => "o",
        _ => return None,
    })
}

const DEVA_VIRAMA: char = '\u{094D}';
const DEVA_NUKTA: char = '\u{093C}';

/// One run of Devanagari to Latin. A consonant carries the inherent `a` unless a vowel sign or
/// the virama follows, except at the end of the run (Hindi drops the final schwa).
pub fn devanagari_to_latin(w: &str) -> String {
    let c: Vec<char> = w.chars().collect();
    let mut out = String::with_capacity(w.len());
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if let Some(mut lat) = deva_consonant(ch) {
            let mut j = i + 1;
            if j < c.len() && c[j] == DEVA_NUKTA {
                lat = deva_nukta(ch).unwrap_or(lat);
                j += 1;
            }
            out.push_str(lat);
            if j < c.len() {
                if let Some(v) = deva_sign(c[j]) {
                    out.push_str(v);
                    j += 1;
                } else if c[j] == DEVA_VIRAMA {
                    j += 1;
                } else {
                    out.push('a');
                }
            }
            i = j;
            continue;
        }
        match ch {
            'ं' | 'ँ' => {
                let labial = c
                    .get(i + 1)
                    .is_some_and(|n| matches!(n, 'प' | 'फ' | 'ब' | 'भ' | 'म'));
                out.push(if labial { 'm' } else { 'n' });
            }
            'ः' => out.push('h'),
            '।' | '॥' => out.push(' '),
            '०'..='९' => out.push(char::from(b'0' + (ch as u32 - '०' as u32) as u8)),
            DEVA_VIRAMA | DEVA_NUKTA | 'ऽ' | '\u{200C}' | '\u{200D}' => {}
            _ => match deva_vowel(ch) {
                Some(v) => out.push_str(v),
                None => out.push(ch),
            },
        }
        i += 1;
    }
    out
}

fn tamil_consonant(c: char) -> Option<&'static str> {
    Some(match c {
        'க' => "k",
        'ங' => "ng",
        'ச' => "ch",
        'ஞ' => "ny",
        'ட' => "t",
        'ண' => "n",
        'த' => "t",
        'ந' => "n",
        'ப' => "p",
        'ம' => "m",
        'ய' => "y",
        'ர' => "r",
        'ல' => "l",
        'வ' => "v",
        'ழ' => "zh",
        'ள' => "l",
        'ற' => "r",
        'ன' => "n",
        // Grantha letters.
        'ஜ' => "j",
        'ஶ' => "sh",
        'ஷ' => "sh",
        'ஸ' => "s",
        'ஹ' => "h",
        _ => return None,
    })
}

fn tamil_vowel(c: char) -> Option<&'static str> {
    Some(match c {
        'அ' => "a",
        'ஆ' => "aa",
        'இ' => "i",
        'ஈ' => "ii",
        'உ' => "u",
        'ஊ' => "uu",
        'எ' => "e",
        'ஏ' => "e",
        'ஐ' => "ai",
        'ஒ' => "o",
        'ஓ' => "o",
        'ஔ' => "au",
        _ => return None,
    })
}

fn tamil_sign(c: char) -> Option<&'static str> {
    Some(match c {
        'ா' => "aa",
        'ி' => "i",
        'ீ' => "ii",
        'ு' => "u",
        'ூ' => "uu",
        'ெ' => "e",
        'ே' => "e",
        'ை' => "ai",
        'ொ' => "o",
        'ோ' => "o",
        'ௌ' => "au",
        'ௗ' => "au",
        _ => return None,
    })
}

const TAMIL_PULLI: char = '\u{0BCD}';

/// One run of Tamil to Latin. A bare consonant carries `a`; the pulli marks a dead one. The
/// aytham before ப/ஜ/க writes f/z/kh (how loanwords are spelt).
pub fn tamil_to_latin(w: &str) -> String {
    let c: Vec<char> = w.chars().collect();
    let mut out = String::with_capacity(w.len());
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let (lat, next) = if ch == 'ஃ' {
            match c.get(i + 1) {
                Some('ப') => (Some("f"), i + 2),
                Some('ஜ') => (Some("z"), i + 2),
                Some('க') => (Some("kh"), i + 2),
                _ => {
                    out.push('h');
                    i += 1;
                    continue;
                }
            }
        } else {
            (tamil_consonant(ch), i + 1)
        };
        if let Some(lat) = lat {
            out.push_str(lat);
            let mut j = next;
            match c.get(j) {
                Some(&s) if tamil_sign(s).is_some() => {
                    out.push_str(tamil_sign(s).expect("checked"));
                    j += 1;
                }
                Some(&TAMIL_PULLI) => j += 1,
                _ => out.push('a'),
            }
            i = j;
            continue;
        }
        match ch {
            '௦'..='௯' => out.push(char::from(b'0' + (ch as u32 - '௦' as u32) as u8)),
            TAMIL_PULLI | '\u{200C}' | '\u{200D}' => {}
            _ => match tamil_vowel(ch) {
                Some(v) => out.push_str(v),
                None => out.push(ch),
            },
        }
        i += 1;
    }
    out
}

/// A whole word to Latin, converting each script run on its own (a word can mix them).
pub fn to_latin(word: &str) -> String {
    use super::text::{is_devanagari, is_tamil};
    let mut out = String::with_capacity(word.len());
    let mut run = String::new();
    let mut kind = 0u8; // 0 other, 1 Devanagari, 2 Tamil
    let flush = |run: &mut String, kind: u8, out: &mut String| {
        match kind {
            1 => out.push_str(&devanagari_to_latin(run)),
            2 => out.push_str(&tamil_to_latin(run)),
            _ => out.push_str(run),
        }
        run.clear();
    };
    for ch in word.chars() {
        let k = if is_devanagari(ch) {
            1
        } else if is_tamil(ch) {
            2
        } else {
            0
        };
        if k != kind && !run.is_empty() {
            flush(&mut run, kind, &mut out);
        }
        kind = k;
        run.push(ch);
    }
    flush(&mut run, kind, &mut out);
    out.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devanagari() {
        assert_eq!(devanagari_to_latin("हल्दी"), "haldii");
        assert_eq!(devanagari_to_latin("नमक"), "namak");
        assert_eq!(devanagari_to_latin("कॉफ़ी"), "kofii");
        assert_eq!(devanagari_to_latin("ज़ीरा"), "ziiraa");
        assert_eq!(devanagari_to_latin("संतरा"), "santaraa");
        assert_eq!(devanagari_to_latin("चंपा"), "champaa");
        assert_eq!(devanagari_to_latin("ग्राम"), "graam");
        assert_eq!(devanagari_to_latin("१२"), "12");
    }

    #[test]
    fn tamil() {
        assert_eq!(tamil_to_latin("உப்பு"), "uppu");
        assert_eq!(tamil_to_latin("லிட்டர்"), "littar");
        assert_eq!(tamil_to_latin("கிராம்"), "kiraam");
        assert_eq!(tamil_to_latin("ஃப்ரெஷ்"), "fresh");
        assert_eq!(tamil_to_latin("மி.லி"), "mi.li");
    }

    #[test]
    fn mixed_runs() {
        assert_eq!(to_latin("व्Oश"), "vosh");
        assert_eq!(to_latin("abc"), "abc");
    }
}
