//! Cells as people write them: whitespace tidied, spreadsheet numbers ("8.90106E+12",
//! "8901030865275.0") recognised, quantities and prices ("₹28", "Rs. 1,299.00", "28/-",
//! Indian digit grouping) brought to plain decimals.

/// Whitespace runs (newlines, tabs, no-break spaces) become one space, other control
/// characters go, and the ends are trimmed.
pub(super) fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
        } else if !c.is_control() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

pub(super) fn is_blank(cell: &str) -> bool {
    cell.chars().all(|c| c.is_whitespace() || c.is_control())
}

/// At most 40 characters of `s`, for quoting user input in messages.
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

/// "8.90106E+12", as a spreadsheet shows a long number.
pub(super) fn is_scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && digits(whole)
        && digits(fraction)
        && !exponent.is_empty()
        && digits(exponent)
}

/// "8901030865275.0" (a number written by a spreadsheet) is "8901030865275".
pub(super) fn strip_zero_fraction(s: &str) -> &str {
    match s.split_once('.') {
        Some((whole, zeros))
            if !whole.is_empty() && !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => s,
    }
}

/// Units of weight and volume: a cell that is a number with one of these is a pack size.
const SIZE_UNITS: &[&str] = &[
    "g", "gm", "gms", "gram", "grams", "gr", "kg", "kgs", "kilo", "mg", "ml", "l", "lt", "ltr",
    "ltrs", "litre", "litres", "liter", "liters", "cl", "oz", "lb", "lbs",
];

/// "1 kg", "500g", "2 x 500 ml", "1.5 L": a pack size, not a count.
pub(super) fn is_pack_size(cell: &str) -> bool {
    let compact: String = cell
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let unit_at = compact
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | 'x' | '*' | '×')))
        .unwrap_or(compact.len());
    let (number, unit) = compact.split_at(unit_at);
    // The number ends in a digit: "2x500 ml" is a size, "6xl" a garment's.
    number.starts_with(|c: char| c.is_ascii_digit())
        && number.ends_with(|c: char| c.is_ascii_digit())
        && SIZE_UNITS.contains(&unit.trim_end_matches('.'))
}

/// "12", "1,200", "12 pcs": a count.
pub(super) fn is_count(cell: &str) -> bool {
    crate::domain::Quantity::parse(&clean_number(cell)).is_ok()
}

/// `s` without control characters (a stray NUL from a shop system).
pub(super) fn without_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// Words a count is written with ("12 pcs", "6nos", "3 pkts"); a weight or volume ("1 kg") is
/// a pack size, not a count, and stays an error, and so does "24 pack" (a case size?).
const COUNT_UNITS: &[&str] = &[
    "pieces", "piece", "pcs.", "pcs", "pc.", "pc", "nos.", "nos", "no.", "no", "units", "unit",
    "packets", "packet", "pkts.", "pkts", "pkt.", "pkt", "packs",
];

/// A count as a person writes it: trimmed, a count word after it dropped, thousands
/// separators dropped.
pub(super) fn clean_number(s: &str) -> String {
    let s = &without_controls(s);
    let s = s.trim();
    let bare = COUNT_UNITS
        .iter()
        .find_map(|u| strip_suffix_ignore_case(s, u))
        .map(str::trim_end)
        .filter(|n| n.ends_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(s);
    ungroup(bare)
}

pub(super) const CURRENCY_PREFIXES: &[&str] = &["₹", "rs.", "rs", "inr", "rupees", "रु.", "रु"];
pub(super) const CURRENCY_SUFFIXES: &[&str] = &["/-", "₹", "rs.", "rs", "inr", "rupees"];

/// A price as a person writes it ("₹28", "Rs. 1,299.00", "28/-", "INR 28"): currency and
/// thousands separators dropped, a minus sign kept wherever it was.
pub(super) fn clean_money(s: &str) -> String {
    let s = &without_controls(s);
    let mut rest = s.trim();
    let mut negative = false;
    loop {
        let before = rest;
        if let Some(r) = rest.strip_prefix('-') {
            negative = true;
            rest = r.trim_start();
        }
        for prefix in CURRENCY_PREFIXES {
            if let Some(r) = strip_prefix_ignore_case(rest, prefix) {
                rest = r.trim_start();
            }
        }
        for suffix in CURRENCY_SUFFIXES {
            if let Some(r) = strip_suffix_ignore_case(rest, suffix) {
                rest = r.trim_end();
            }
        }
        if rest == before {
            break;
        }
    }
    let number = ungroup(rest);
    if negative {
        format!("-{number}")
    } else {
        number
    }
}

pub(super) fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

pub(super) fn strip_suffix_ignore_case<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    if tail.eq_ignore_ascii_case(suffix) {
        s.get(..at)
    } else {
        None
    }
}

/// Drops commas that group thousands, Western ("1,299,000") or Indian ("12,99,000"); a comma
/// anywhere else ("28,50") is left for the parser to reject.
pub(super) fn ungroup(s: &str) -> String {
    if !s.contains(',') {
        return s.to_string();
    }
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let groups: Vec<&str> = whole.split(',').collect();
    let digits = |g: &&str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    let grouped = match groups.as_slice() {
        [first, middle @ .., last] => {
            digits(first)
                && first.len() <= 3
                && middle
                    .iter()
                    .all(|g| digits(g) && (g.len() == 2 || g.len() == 3))
                && digits(last)
                && last.len() == 3
                && !fraction.contains(',')
        }
        _ => false,
    };
    if grouped {
        s.replace(',', "")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::import::reader::test_support::*;

    #[test]
    fn pack_sizes_and_counts_are_told_apart() {
        for size in ["1 kg", "500g", "2 x 500 ml", "1.5 L", "200 Gms", "1ltr."] {
            assert!(super::is_pack_size(size), "{size}");
            assert!(!super::is_count(size), "{size}");
        }
        for count in ["12", "1,200", "12 pcs", "0.5"] {
            assert!(super::is_count(count), "{count}");
            assert!(!super::is_pack_size(count), "{count}");
        }
        for neither in ["", "kg", "x kg", "ten", "6xl", "2XL"] {
            assert!(
                !super::is_pack_size(neither) && !super::is_count(neither),
                "{neither}"
            );
        }
    }

    #[test]
    fn prices_as_people_write_them() {
        let p = |cell: &str| {
            row_with("Name,MRP", &format!("Salt,\"{cell}\""))
                .map(|r| r.values.selling_price.map(|m| m.to_string()))
        };
        for (cell, money) in [
            ("₹1,299.50", "1299.50"),
            ("Rs. 28.00", "28.00"),
            ("rs 28", "28.00"),
            ("Rs.28", "28.00"),
            ("28/-", "28.00"),
            ("INR 28", "28.00"),
            ("28 INR", "28.00"),
            ("₹ 28.5", "28.50"),
            ("1,29,999", "129999.00"),
            ("1,234,567.8", "1234567.80"),
        ] {
            assert_eq!(p(cell), Ok(Some(money.to_string())), "{cell}");
        }
        for (cell, code) in [
            ("-28", "negative_price"),
            ("-₹28", "negative_price"),
            ("₹-28", "negative_price"),
            ("abc", "invalid_price"),
            ("₹", "invalid_price"),
            ("28.505", "invalid_price"),
            ("28,50", "invalid_price"),
            ("1,2,3", "invalid_price"),
            ("$28", "invalid_price"),
            ("12,345,678.90", "invalid_price"),
        ] {
            let e = p(cell).unwrap_err();
            assert_eq!(codes(&e), [code], "{cell}");
            assert_eq!(e[0].column.as_deref(), Some("MRP"));
        }
        let e = row_with("Name,Cost", "Salt,-1").unwrap_err();
        assert!(
            e[0].message.starts_with("cost price '-1'"),
            "{}",
            e[0].message
        );
    }
}
