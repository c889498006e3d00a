//! Request body shapes and their validation into domain values.
//!
//! Bodies use raw types (strings, [`DecimalText`]) so that every problem becomes a field error
//! with a path, all reported at once, instead of one opaque deserialization failure.

use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::inventory::{
    MAX_CUSTOM_IMAGES, MAX_LOCATION_CHARS, MAX_NOTES_CHARS, MAX_SUPPLIER_CHARS,
};
use crate::domain::product::{
    MAX_BRAND_CHARS, MAX_CATEGORY_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS, parse_attributes,
    parse_regional_names,
};
use crate::domain::{
    DecimalText, FieldErrors, Gtin, InventoryDetails, Money, ProductChanges, ProductContent,
    ProductId, Quantity, VerificationStatus, clean_text,
};

/// A JSON merge-patch field: absent (leave), `null` (clear) or a value (set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|o| o.map_or(Patch::Null, Patch::Value))
    }
}

fn required(errors: &mut FieldErrors, field: &str) {
    errors.add(field, "required", format!("{field} is required"));
}

fn optional_text(
    errors: &mut FieldErrors,
    field: &str,
    v: Option<String>,
    max: usize,
    multiline: bool,
) -> Option<String> {
    v.and_then(|s| errors.check(field, clean_text(&s, max, multiline)))
}

fn barcode(errors: &mut FieldErrors, field: &str, v: &str) -> Option<Gtin> {
    errors.check(field, Gtin::parse(v))
}

/// A new product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    /// Up to 200 characters.
    #[schema(value_type = String, required, max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 100)]
    pub brand: Option<String>,
    /// `Top > Sub`, up to 200 characters.
    #[schema(max_length = 200)]
    pub category: Option<String>,
    /// A GTIN with a valid check digit; unique in the catalog.
    #[schema(value_type = Option<Gtin>)]
    pub barcode: Option<String>,
    /// Names by region (`IN-MH`, `IN-TN`): `{"IN-MH": ["हळद"]}`.
    #[serde(default)]
    pub regional_names: BTreeMap<String, Vec<String>>,
    /// Free-form facts (`weight`, `description`, ...), all text.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl NewProductBody {
    pub fn validate(self) -> Result<ProductContent, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = match self.name {
            Some(n) => e.check("name", clean_text(&n, MAX_NAME_CHARS, false)),
            None => {
                required(&mut e, "name");
                None
            }
        };
        let brand = optional_text(&mut e, "brand", self.brand, MAX_BRAND_CHARS, false);
        let category = optional_text(&mut e, "category", self.category, MAX_CATEGORY_CHARS, false);
        let barcode = self.barcode.and_then(|b| barcode(&mut e, "barcode", &b));
        let regional_names = parse_regional_names(self.regional_names, "regional_names", &mut e);
        let attributes = parse_attributes(self.attributes, "attributes", &mut e);
        e.finish(|| ProductContent {
            name: name.expect("checked"),
            brand,
            category,
            barcode,
            regional_names,
            attributes,
        })
    }
}

/// A JSON merge patch of a product: an absent field stays, `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchBody {
    /// Cannot be cleared.
    #[serde(default)]
    #[schema(value_type = String, max_length = 200)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub brand: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub category: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Gtin>)]
    pub barcode: Patch<String>,
    /// Replaces every region's names.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    pub regional_names: Patch<BTreeMap<String, Vec<String>>>,
    /// Replaces every attribute.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub attributes: Patch<BTreeMap<String, String>>,
    /// The review: cannot be cleared.
    #[serde(default)]
    #[schema(value_type = VerificationStatus)]
    pub verification_status: Patch<String>,
    /// With `merged`: the product this one duplicates.
    #[serde(default)]
    #[schema(value_type = Option<ProductId>)]
    pub merged_into: Patch<String>,
}

impl ProductPatchBody {
    pub fn validate(self) -> Result<ProductChanges, FieldErrors> {
        let mut e = FieldErrors::new();
        let mut c = ProductChanges::default();
        match self.name {
            Patch::Absent => {}
            Patch::Null => e.add("name", "required", "name cannot be removed"),
            Patch::Value(n) => c.name = e.check("name", clean_text(&n, MAX_NAME_CHARS, false)),
        }
        let text = |e: &mut FieldErrors, field: &str, p: Patch<String>, max: usize| match p {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(v) => e.check(field, clean_text(&v, max, false)).map(Some),
        };
        c.brand = text(&mut e, "brand", self.brand, MAX_BRAND_CHARS);
        c.category = text(&mut e, "category", self.category, MAX_CATEGORY_CHARS);
        c.barcode = match self.barcode {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(b) => barcode(&mut e, "barcode", &b).map(Some),
        };
        c.regional_names = match self.regional_names {
            Patch::Absent => None,
            Patch::Null => Some(BTreeMap::new()),
            Patch::Value(v) => Some(parse_regional_names(v, "regional_names", &mut e)),
        };
        c.attributes = match self.attributes {
            Patch::Absent => None,
            Patch::Null => Some(BTreeMap::new()),
            Patch::Value(v) => Some(parse_attributes(v, "attributes", &mut e)),
        };
        match self.verification_status {
            Patch::Absent => {}
            Patch::Null => e.add("verification_status", "required", "verification_status cannot be removed"),
            Patch::Value(s) => match VerificationStatus::parse(&s) {
                Some(v) => c.verification_status = Some(v),
                None => e.add(
                    "verification_status",
                    "invalid_status",
                    format!("verification_status must be one of pending, approved, rejected, merged; not '{s}'"),
                ),
            },
        }
        c.merged_into = match self.merged_into {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(id) => e.check("merged_into", ProductId::parse(&id)).map(Some),
        };
        if c == ProductChanges::default() && e.is_empty() {
            e.add(
                "body",
                "empty_patch",
                "the patch changes nothing; send at least one field",
            );
        }
        e.finish(|| c)
    }
}

/// An inventory item as the store sets it. Amounts are decimal strings (numbers are read too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryBody {
    /// The count on hand.
    #[schema(value_type = QuantityInput, required)]
    pub quantity: Option<DecimalText>,
    #[schema(value_type = Option<MoneyInput>)]
    pub cost_price: Option<DecimalText>,
    #[schema(value_type = Option<MoneyInput>)]
    pub selling_price: Option<DecimalText>,
    /// At or below this the item is `low_stock`.
    #[schema(value_type = Option<QuantityInput>)]
    pub reorder_level: Option<DecimalText>,
    #[schema(max_length = 200)]
    pub supplier: Option<String>,
    #[schema(max_length = 100)]
    pub location: Option<String>,
    /// http(s) URLs, at most 10.
    #[serde(default)]
    pub custom_image_urls: Vec<String>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

impl InventoryBody {
    pub fn validate(self) -> Result<InventoryDetails, FieldErrors> {
        let mut e = FieldErrors::new();
        let quantity = match &self.quantity {
            Some(q) => e.check("quantity", Quantity::parse(&q.0)),
            None => {
                required(&mut e, "quantity");
                None
            }
        };
        let money = |e: &mut FieldErrors, field: &str, v: Option<DecimalText>| {
            v.and_then(|t| e.check(field, Money::parse(&t.0)))
        };
        let cost_price = money(&mut e, "cost_price", self.cost_price);
        let selling_price = money(&mut e, "selling_price", self.selling_price);
        let reorder_level = self
            .reorder_level
            .and_then(|t| e.check("reorder_level", Quantity::parse(&t.0)));
        let supplier = optional_text(&mut e, "supplier", self.supplier, MAX_SUPPLIER_CHARS, false);
        let location = optional_text(&mut e, "location", self.location, MAX_LOCATION_CHARS, false);
        let notes = optional_text(&mut e, "notes", self.notes, MAX_NOTES_CHARS, true);
        if self.custom_image_urls.len() > MAX_CUSTOM_IMAGES {
            e.add(
                "custom_image_urls",
                "too_many",
                format!("custom_image_urls may have at most {MAX_CUSTOM_IMAGES} entries"),
            );
        }
        for (i, url) in self.custom_image_urls.iter().enumerate() {
            if !is_http_url(url) {
                e.add(format!("custom_image_urls[{i}]"), "invalid_url", format!("custom_image_urls[{i}] must be an http(s) URL of at most {MAX_URL_CHARS} characters"));
            }
        }
        e.finish(|| InventoryDetails {
            quantity: quantity.expect("checked"),
            cost_price,
            selling_price,
            reorder_level,
            supplier,
            location,
            custom_image_urls: self.custom_image_urls,
            notes,
            // The store's photo comes through its upload, never through this body.
            photo: None,
        })
    }
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    s.len() <= MAX_URL_CHARS
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// How an amount may be sent, field by field (the body reads each as a [`DecimalText`]): a
/// decimal string, or a JSON number.
macro_rules! decimal_input {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $description:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Type};
                OneOfBuilder::new()
                    .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some($pattern)))
                    .item(ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0)))
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

decimal_input!(
    /// Rupees with paise, as the document shows them.
    MoneyInput,
    "^[0-9]{1,8}([.][0-9]{1,2})?$",
    "Rupees: a decimal string with at most 2 decimals (\"49.50\", preferred) or a number; 0 to 10000000.00."
);
decimal_input!(
    /// A stock count, as the document shows it.
    QuantityInput,
    "^[0-9]{1,8}([.][0-9]{1,3})?$",
    "A count: a decimal string with at most 3 decimals (\"12\", \"2.5\", preferred) or a number; 0 to 10000000."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let body: NewProductBody = serde_json::from_str(
            r#"{"brand":"  ","barcode":"123","regional_names":{"xx-yyyy":["a"]}}"#,
        )
        .unwrap();
        let errors = body.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "brand", "barcode", "regional_names.xx-yyyy"]
        );
        assert_eq!(errors.0[2].code, "barcode_length");
    }

    #[test]
    fn patches_tell_absent_from_null() {
        let p: ProductPatchBody =
            serde_json::from_str(r#"{"brand":null,"category":"Dal"}"#).unwrap();
        let c = p.validate().unwrap();
        assert_eq!(c.brand, Some(None));
        assert_eq!(c.category, Some(Some("Dal".into())));
        assert_eq!(c.name, None);
        let empty: ProductPatchBody = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.validate().unwrap_err().0[0].code, "empty_patch");
    }

    #[test]
    fn inventory_amounts_are_exact() {
        let b: InventoryBody =
            serde_json::from_str(r#"{"quantity":"2.5","selling_price":49.99,"cost_price":"-1","custom_image_urls":["ftp://x"]}"#).unwrap();
        let e = b.validate().unwrap_err();
        let codes: Vec<(&str, &str)> =
            e.0.iter()
                .map(|e| (e.field.as_str(), e.code.as_str()))
                .collect();
        assert_eq!(
            codes,
            [
                ("cost_price", "negative"),
                ("custom_image_urls[0]", "invalid_url")
            ]
        );
        let ok: InventoryBody =
            serde_json::from_str(r#"{"quantity":2.5,"selling_price":49.99}"#).unwrap();
        let d = ok.validate().unwrap();
        assert_eq!(d.selling_price.unwrap().to_minor(), 4999);
    }
}
