//! GS1 barcodes (GTIN-8, UPC-A, EAN-13, GTIN-14): parsing, check digits and the canonical form.
//!
//! Owns what a valid barcode is. A `Gtin` exists only if its check digit is right, and it is
//! always held in one canonical form so that equal codes compare equal:
//! - UPC-A (12 digits) becomes EAN-13 by a leading zero;
//! - a GTIN-14 whose indicator digit is 0 is the EAN-13 it wraps;
//! - an EAN-13 that starts with five zeros is a GTIN-8 in 13-digit form (GS1 reserves that prefix).
//!
//! The check digit is the same whatever the padding (weights run from the right), so it is
//! checked on the digits as given.

use std::fmt;

/// A validated GS1 trade item number in canonical form (8, 13 or 14 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(String);

/// Why a string is not a barcode. The messages are shown to users after the field name
/// ("barcode has 11 digits; ..."), so they say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("is empty")]
    Empty,
    #[error("may contain only digits; found '{found}' at position {position}")]
    NotDigits { found: char, position: usize },
    #[error("has {0} digits; a GTIN has 8, 12 (UPC-A), 13 (EAN-13) or 14 digits")]
    WrongLength(usize),
    #[error("check digit is {found} but the other digits give {expected}")]
    CheckDigit { found: u8, expected: u8 },
}

impl GtinError {
    /// A stable machine-readable code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            GtinError::Empty => "barcode_empty",
            GtinError::NotDigits { .. } => "barcode_not_digits",
            GtinError::WrongLength(_) => "barcode_length",
            GtinError::CheckDigit { .. } => "barcode_check_digit",
        }
    }
}

/// The GS1 check digit for `body` (all digits but the check digit), weights 3,1,3,... from the right.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl Gtin {
    /// Parses a barcode as typed or scanned. Surrounding whitespace is ignored; anything else
    /// that is not a digit is an error.
    pub fn parse(input: &str) -> Result<Self, GtinError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(GtinError::Empty);
        }
        if let Some((position, found)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(GtinError::NotDigits {
                found,
                position: position + 1,
            });
        }
        let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        if !matches!(digits.len(), 8 | 12 | 13 | 14) {
            return Err(GtinError::WrongLength(digits.len()));
        }
        let (body, last) = digits.split_at(digits.len() - 1);
        let expected = check_digit(body);
        if last[0] != expected {
            return Err(GtinError::CheckDigit {
                found: last[0],
                expected,
            });
        }
        Ok(Gtin(canonical(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn canonical(digits: &str) -> String {
    let mut s = digits;
    if s.len() == 14 && s.starts_with('0') {
        s = &s[1..];
    }
    if s.len() == 12 {
        return format!("0{s}");
    }
    if s.len() == 13 && s.starts_with("00000") {
        return s[5..].to_string();
    }
    s.to_string()
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Gtin {
    type Err = GtinError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gtin::parse(s)
    }
}

impl serde::Serialize for Gtin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

text_schema!(
    Gtin,
    "Gtin",
    "A GTIN barcode (EAN-8, UPC-A, EAN-13 or GTIN-14) with a valid check digit.",
    pattern = "^[0-9]{8,14}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_gs1_length() {
        assert_eq!(Gtin::parse("96385074").unwrap().as_str(), "96385074");
        assert_eq!(
            Gtin::parse("8901030865275").unwrap().as_str(),
            "8901030865275"
        );
        assert_eq!(
            Gtin::parse("10012345678902").unwrap().as_str(),
            "10012345678902"
        );
    }

    #[test]
    fn upc_a_becomes_ean_13() {
        let upc = Gtin::parse("036000291452").unwrap();
        assert_eq!(upc.as_str(), "0036000291452");
        assert_eq!(upc, Gtin::parse("0036000291452").unwrap());
    }

    #[test]
    fn padded_forms_are_the_same_code() {
        assert_eq!(
            Gtin::parse("08901030865275").unwrap(),
            Gtin::parse("8901030865275").unwrap()
        );
        assert_eq!(
            Gtin::parse("0000096385074").unwrap(),
            Gtin::parse("96385074").unwrap()
        );
        assert_eq!(
            Gtin::parse("00000096385074").unwrap(),
            Gtin::parse("96385074").unwrap()
        );
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(
            Gtin::parse(" 8901030865275\n").unwrap().as_str(),
            "8901030865275"
        );
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(Gtin::parse(""), Err(GtinError::Empty));
        assert_eq!(
            Gtin::parse("890103086527X"),
            Err(GtinError::NotDigits {
                found: 'X',
                position: 13
            })
        );
        assert_eq!(
            Gtin::parse("890 1030865275"),
            Err(GtinError::NotDigits {
                found: ' ',
                position: 4
            })
        );
        assert_eq!(Gtin::parse("12345"), Err(GtinError::WrongLength(5)));
        assert_eq!(
            Gtin::parse("890103086528"),
            Err(GtinError::CheckDigit {
                found: 8,
                expected: 6
            })
        );
        let msg = Gtin::parse("8901030865279").unwrap_err().to_string();
        assert_eq!(msg, "check digit is 9 but the other digits give 5");
    }

    #[test]
    fn rejects_non_ascii_digits() {
        // Devanagari digits are digits to Unicode but not to a scanner.
        assert!(matches!(
            Gtin::parse("८९०१०३०८६५२७८"),
            Err(GtinError::NotDigits { position: 1, .. })
        ));
    }
}
