//! Exact amounts: money (rupees and paise) and stock quantities, never floats.
//!
//! Owns the rules for numbers a store owner trusts: `Money` has at most 2 decimal places and
//! `Quantity` at most 3 (loose goods sold by the kilogram), both non-negative and bounded. Each
//! converts exactly to an integer of minor units (paise, thousandths) for storage, where
//! DynamoDB's atomic arithmetic works on integers.
//!
//! In JSON both are written as strings (`"12.50"`). On input a string is canonical; a JSON number
//! is accepted too and read from its shortest decimal text, which is exact for every value a
//! person types (up to 15 significant digits).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("'{0}' is not a number")]
    NotANumber(String),
    #[error("must not be negative")]
    Negative,
    #[error("has more than {0} decimal places")]
    TooPrecise(u32),
    #[error("is larger than {0}")]
    TooLarge(&'static str),
}

impl AmountError {
    pub fn code(&self) -> &'static str {
        match self {
            AmountError::NotANumber(_) => "not_a_number",
            AmountError::Negative => "negative",
            AmountError::TooPrecise(_) => "too_precise",
            AmountError::TooLarge(_) => "too_large",
        }
    }
}

fn parse_decimal(s: &str) -> Result<Decimal, AmountError> {
    let t = s.trim();
    // Decimal::from_str accepts forms people do not type ("1e3" via from_scientific is separate,
    // but "_" separators are accepted); keep to plain decimal notation.
    let plain = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    if !plain {
        return Err(AmountError::NotANumber(s.to_string()));
    }
    Decimal::from_str(t).map_err(|_| AmountError::NotANumber(s.to_string()))
}

macro_rules! amount {
    ($(#[$doc:meta])* $name:ident, scale = $scale:expr, shown = $shown:expr, max = $max:expr, max_text = $max_text:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(Decimal);

        impl $name {
            /// Decimal places allowed.
            pub const SCALE: u32 = $scale;
            /// Minor units per whole unit (10^SCALE).
            pub const UNIT: i64 = 10i64.pow($scale);
            /// The largest value accepted, in minor units.
            pub const MAX_MINOR: i64 = $max;
            pub const ZERO: Self = Self(Decimal::ZERO);

            pub fn parse(s: &str) -> Result<Self, AmountError> {
                Self::try_from_decimal(parse_decimal(s)?)
            }

            pub fn try_from_decimal(d: Decimal) -> Result<Self, AmountError> {
                if d.is_sign_negative() && !d.is_zero() {
                    return Err(AmountError::Negative);
                }
                let d = d.normalize();
                if d.scale() > Self::SCALE {
                    return Err(AmountError::TooPrecise(Self::SCALE));
                }
                if d > Decimal::new(Self::MAX_MINOR, Self::SCALE) {
                    return Err(AmountError::TooLarge($max_text));
                }
                Ok(Self(d.abs()))
            }

            /// From integer minor units, as stored.
            pub fn from_minor(minor: i64) -> Result<Self, AmountError> {
                Self::try_from_decimal(Decimal::new(minor, Self::SCALE))
            }

            /// Exact integer minor units.
            pub fn to_minor(self) -> i64 {
                let scaled = self.0 * Decimal::from(Self::UNIT);
                i64::try_from(scaled).expect("bounded by MAX_MINOR")
            }

            pub fn as_decimal(self) -> Decimal {
                self.0
            }

            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = self.0;
                // Money always shows its paise; quantities show only the places they have.
                d.rescale(d.scale().max($shown));
                d.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = AmountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

amount!(
    /// Indian rupees with paise: 0.00 to 10,000,000.00.
    Money,
    scale = 2,
    shown = 2,
    max = 1_000_000_000,
    max_text = "10000000.00"
);

amount!(
    /// A stock count: whole packs, or loose goods to the gram (3 decimal places); 0 to 10,000,000.
    Quantity,
    scale = 3,
    shown = 0,
    max = 10_000_000_000,
    max_text = "10000000"
);

impl Quantity {
    pub fn one() -> Self {
        Quantity(Decimal::ONE)
    }
}

/// A signed change of stock (an adjustment or a scan), same precision as [`Quantity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuantityDelta(Decimal);

impl QuantityDelta {
    pub fn parse(s: &str) -> Result<Self, AmountError> {
        Self::try_from_decimal(parse_decimal(s)?)
    }

    pub fn try_from_decimal(d: Decimal) -> Result<Self, AmountError> {
        let d = d.normalize();
        if d.scale() > Quantity::SCALE {
            return Err(AmountError::TooPrecise(Quantity::SCALE));
        }
        if d.abs() > Decimal::new(Quantity::MAX_MINOR, Quantity::SCALE) {
            return Err(AmountError::TooLarge("10000000"));
        }
        Ok(Self(d))
    }

    pub fn from_quantity(q: Quantity) -> Self {
        Self(q.as_decimal())
    }

    pub fn to_minor(self) -> i64 {
        i64::try_from(self.0 * Decimal::from(Quantity::UNIT)).expect("bounded")
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The same change the other way.
    pub fn negated(self) -> Self {
        Self(-self.0)
    }

    /// `current + self`, or `None` if that would be below zero or above the maximum.
    pub fn apply(self, current: Quantity) -> Option<Quantity> {
        Quantity::try_from_decimal(current.as_decimal() + self.0).ok()
    }
}

impl fmt::Display for QuantityDelta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for QuantityDelta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A decimal as it arrives in JSON: a string (canonical) or a number. Request bodies use this
/// and then parse into [`Money`], [`Quantity`] or [`QuantityDelta`], so every failure is reported
/// as a field error instead of a generic "invalid JSON".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> serde::Deserialize<'de> for DecimalText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal number as a string (\"12.50\") or a JSON number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DecimalText, E> {
                if !v.is_finite() {
                    return Err(E::custom("not a finite number"));
                }
                // Rust prints the shortest text that reads back as the same f64: for any value
                // typed with up to 15 significant digits that is exactly what was typed.
                Ok(DecimalText(format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

text_schema!(
    Money,
    "Money",
    "Rupees as a decimal string with paise (\"49.50\"), 0 to 10000000.00."
);
text_schema!(
    Quantity,
    "Quantity",
    "A stock count as a decimal string (\"12\", \"2.5\"), up to 3 decimal places, 0 to 10000000."
);
text_schema!(
    QuantityDelta,
    "QuantityDelta",
    "A signed change of stock as a decimal string (\"-2\", \"0.250\")."
);

impl utoipa::PartialSchema for DecimalText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^-?[0-9]{1,8}([.][0-9]{1,3})?$")),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "A decimal: a string (\"12.50\", exact, preferred) or a JSON number.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for DecimalText {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Decimal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_two_places() {
        assert_eq!(Money::parse("12.5").unwrap().to_string(), "12.50");
        assert_eq!(Money::parse("12").unwrap().to_string(), "12.00");
        assert_eq!(Money::parse("12.50").unwrap().to_minor(), 1250);
        assert_eq!(Money::parse("12.505"), Err(AmountError::TooPrecise(2)));
        assert_eq!(Money::parse("-1"), Err(AmountError::Negative));
        assert_eq!(Money::parse("-0").unwrap(), Money::ZERO);
        assert!(matches!(
            Money::parse("1e3"),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            Money::parse("NaN"),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            Money::parse("10000000.01"),
            Err(AmountError::TooLarge(_))
        ));
        assert_eq!(Money::from_minor(1999).unwrap().to_string(), "19.99");
    }

    #[test]
    fn trailing_zeros_do_not_count_as_precision() {
        assert_eq!(Money::parse("12.500").unwrap().to_minor(), 1250);
    }

    #[test]
    fn quantities_allow_grams() {
        let q = Quantity::parse("1.25").unwrap();
        assert_eq!(q.to_minor(), 1250);
        assert_eq!(q.to_string(), "1.25");
        assert_eq!(Quantity::parse("3").unwrap().to_string(), "3");
        assert_eq!(Quantity::parse("0.001").unwrap().to_string(), "0.001");
        assert_eq!(Quantity::parse("0.0001"), Err(AmountError::TooPrecise(3)));
        assert_eq!(Quantity::from_minor(1250).unwrap(), q);
    }

    #[test]
    fn deltas_never_take_stock_below_zero() {
        let five = Quantity::parse("5").unwrap();
        assert_eq!(
            QuantityDelta::parse("-5").unwrap().apply(five),
            Some(Quantity::ZERO)
        );
        assert_eq!(QuantityDelta::parse("-5.001").unwrap().apply(five), None);
        assert_eq!(
            QuantityDelta::parse("+2").unwrap().apply(five),
            Some(Quantity::parse("7").unwrap())
        );
    }

    #[test]
    fn json_numbers_and_strings_both_read_exactly() {
        let v: Vec<DecimalText> =
            serde_json::from_str(r#"["12.50", 12.5, 0.1, 7, 99999.99]"#).unwrap();
        let money: Vec<String> = v
            .iter()
            .map(|t| Money::parse(&t.0).unwrap().to_string())
            .collect();
        assert_eq!(money, ["12.50", "12.50", "0.10", "7.00", "99999.99"]);
    }
}
