//! The row's barcode: the products that have it exactly, or one digit off (a candidate, never
//! proof), and what it turned out to be.

use serde::Serialize;

use crate::domain::check_digit;
use crate::matching::index::{MatchIndex, barcode_number};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BarcodeState {
    Exact,
    /// One digit off, or missing its check digit: a candidate, never proof.
    Near,
    /// The query's valid barcode is not this product's.
    Conflict,
    None,
}

/// What the query's own barcode turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryBarcode {
    None,
    Exact,
    Near,
    /// A valid GTIN the catalog does not have: strong evidence of a product it lacks.
    UnknownValid,
    UnknownInvalid,
}

impl MatchIndex {
    /// The products with exactly this barcode (a binary search: no text is looked at).
    pub fn products_with_barcode(&self, barcode: &str) -> impl Iterator<Item = u32> + '_ {
        let number = barcode_number(barcode).unwrap_or(0);
        let start = self.barcodes.partition_point(|&(b, _)| b < number);
        self.barcodes[start..]
            .iter()
            .take_while(move |&&(b, _)| number != 0 && b == number)
            .map(|&(_, p)| p)
    }

    /// The query's barcode: exact, near (one digit off or a missing check digit; never proof),
    /// or unknown.
    #[inline(never)]
    pub(crate) fn barcode_lookup(&self, raw: &str) -> (QueryBarcode, Vec<(u32, BarcodeState)>) {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let Some(number) = barcode_number(&digits) else {
            return (QueryBarcode::None, vec![]);
        };
        let find = |n: u64| {
            let start = self.barcodes.partition_point(|&(b, _)| b < n);
            self.barcodes[start..]
                .iter()
                .take_while(move |&&(b, _)| b == n)
                .map(|&(_, p)| p)
        };
        let exact: Vec<(u32, BarcodeState)> =
            find(number).map(|p| (p, BarcodeState::Exact)).collect();
        if !exact.is_empty() {
            return (QueryBarcode::Exact, exact);
        }
        let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        let valid =
            matches!(d.len(), 8 | 12 | 13 | 14) && check_digit(&d[..d.len() - 1]) == d[d.len() - 1];
        let mut near = Vec::new();
        if matches!(d.len(), 7 | 11 | 12) {
            let full = format!("{digits}{}", check_digit(&d));
            if let Some(n) = barcode_number(&full) {
                near.extend(find(n).map(|p| (p, BarcodeState::Near)));
            }
        }
        if !valid && matches!(d.len(), 8 | 12 | 13 | 14) {
            for pos in 0..d.len() {
                for digit in 0..10u8 {
                    if digit == d[pos] {
                        continue;
                    }
                    let mut c = d.clone();
                    c[pos] = digit;
                    if check_digit(&c[..c.len() - 1]) != c[c.len() - 1] {
                        continue;
                    }
                    let n = c.iter().fold(0u64, |acc, &x| acc * 10 + u64::from(x));
                    near.extend(find(n).map(|p| (p, BarcodeState::Near)));
                }
            }
        }
        near.sort_unstable_by_key(|&(p, _)| p);
        near.dedup_by_key(|&mut (p, _)| p);
        let state = if !near.is_empty() {
            QueryBarcode::Near
        } else if valid {
            QueryBarcode::UnknownValid
        } else {
            QueryBarcode::UnknownInvalid
        };
        (state, near)
    }
}
