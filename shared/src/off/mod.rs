//! Open Food Facts (OFF): its product record as its API and its JSONL export give it, read
//! into what the catalog takes from it ([`OffFacts`]).
//!
//! Owns OFF's shape and the two mappings (`categories.csv`: OFF category tags to the
//! catalog's category paths; `languages.csv`: OFF name languages to regions), both data files
//! to extend without code. OFF's data is open and uneven: a field of an unexpected type is read
//! as absent, text is cleaned and bounded as the catalog's own fields are, never trusted.
//! Knows nothing of HTTP (the client is `adapters::off`) or storage.

use std::collections::BTreeMap;
use std::sync::LazyLock;

pub mod reader;

use serde::{Deserialize, Deserializer};

use crate::domain::product::{MAX_BRAND_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS};
use crate::domain::{Gtin, OffFacts, RegionCode, clean_text};

/// Longest net content kept (`500 g`, `6 x 330 ml`).
pub const MAX_QUANTITY_CHARS: usize = 60;

/// The fields the catalog asks OFF's product API for (`fields=`): what it reads and nothing
/// else, so an answer stays a few hundred bytes.
pub const PRODUCT_FIELDS: &str = "code,product_name,product_name_en,generic_name,generic_name_en,\
brands,quantity,categories_tags,image_front_url,countries_tags,product_name_hi,product_name_mr,\
product_name_ta,product_name_te,product_name_kn,product_name_ml,product_name_bn,product_name_gu,\
product_name_pa,product_name_or,product_name_as";

/// A product as OFF gives it (an API answer's `product`, one line of the JSONL export, or a
/// row of the CSV export): the fields the catalog reads; the rest is skipped unread.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OffProduct {
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_en: Option<String>,
    #[serde(deserialize_with = "text")]
    pub generic_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub generic_name_en: Option<String>,
    #[serde(deserialize_with = "text")]
    pub brands: Option<String>,
    #[serde(deserialize_with = "text")]
    pub quantity: Option<String>,
    #[serde(deserialize_with = "tags")]
    pub categories_tags: Vec<String>,
    #[serde(deserialize_with = "tags")]
    pub countries_tags: Vec<String>,
    #[serde(deserialize_with = "text")]
    pub image_front_url: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_hi: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_mr: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_ta: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_te: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_kn: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_ml: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_bn: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_gu: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_pa: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_or: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name_as: Option<String>,
}

/// A string, or a number written as one (old exports have numeric codes); anything else is
/// absent.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A list of strings (other elements dropped), or one comma-separated string (the CSV
/// export's form); anything else is empty.
fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        serde_json::Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    })
}

/// OFF category tag -> catalog path, from `categories.csv`.
static CATEGORIES: LazyLock<BTreeMap<&'static str, &'static str>> =
    LazyLock::new(|| data_rows(include_str!("categories.csv")).collect());

/// Name language -> regions, from `languages.csv`.
static LANGUAGES: LazyLock<Vec<(&'static str, Vec<RegionCode>)>> = LazyLock::new(|| {
    data_rows(include_str!("languages.csv"))
        .map(|(lang, regions)| {
            let regions = regions
                .split_whitespace()
                .filter_map(|r| RegionCode::parse(r).ok())
                .collect();
            (lang, regions)
        })
        .collect()
});

/// The `key,value` rows of a data file (comments, its header and blank lines skipped).
fn data_rows(file: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    file.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// The catalog category of OFF's `tags`: the most specific one the mapping knows (OFF lists
/// them from the general to the specific).
pub fn category(tags: &[String]) -> Option<&'static str> {
    tags.iter().rev().find_map(|t| {
        CATEGORIES
            .get(t.trim().to_ascii_lowercase().as_str())
            .copied()
    })
}

/// OFF's product page for `barcode`.
pub fn product_url(barcode: &str) -> String {
    format!("https://world.openfoodfacts.org/product/{barcode}")
}

fn clean(s: Option<&str>, max: usize) -> Option<String> {
    let s = s?;
    // OFF's text may carry HTML entities and runs of spaces; a name is one line.
    let one_line: String = s
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&#39;", "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    clean_text(&one_line, max, false).ok()
}

impl OffProduct {
    /// The product's barcode, when it is a valid GTIN.
    pub fn gtin(&self) -> Option<Gtin> {
        Gtin::parse(self.code.as_deref()?.trim()).ok()
    }

    /// Whether OFF lists the product as sold in `country` (an OFF tag such as `en:india`).
    pub fn sold_in(&self, country: &str) -> bool {
        self.countries_tags
            .iter()
            .any(|c| c.eq_ignore_ascii_case(country))
    }

    /// The product's name: its English name, else its name in its main language, else its
    /// generic name.
    pub fn name(&self) -> Option<String> {
        [
            &self.product_name_en,
            &self.product_name,
            &self.generic_name_en,
            &self.generic_name,
        ]
        .into_iter()
        .find_map(|n| clean(n.as_deref(), MAX_NAME_CHARS))
    }

    /// What the catalog takes from this record (`url`: its page at OFF).
    pub fn facts(&self, url: String) -> OffFacts {
        let brand = self
            .brands
            .as_deref()
            .and_then(|b| b.split(',').map(str::trim).find(|b| !b.is_empty()))
            .and_then(|b| clean(Some(b), MAX_BRAND_CHARS));
        let mut regional_names = BTreeMap::new();
        for (lang, regions) in LANGUAGES.iter() {
            let Some(name) = clean(self.name_in(lang), MAX_NAME_CHARS) else {
                continue;
            };
            for region in regions {
                regional_names.insert(region.clone(), vec![name.clone()]);
            }
        }
        let image_url = self
            .image_front_url
            .as_deref()
            .map(str::trim)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .filter(|u| u.len() <= MAX_URL_CHARS)
            .map(str::to_string);
        OffFacts {
            name: self.name(),
            brand,
            quantity: clean(self.quantity.as_deref(), MAX_QUANTITY_CHARS),
            category: category(&self.categories_tags).map(str::to_string),
            regional_names,
            image_url,
            url,
        }
    }

    fn name_in(&self, lang: &str) -> Option<&str> {
        match lang {
            "hi" => self.product_name_hi.as_deref(),
            "mr" => self.product_name_mr.as_deref(),
            "ta" => self.product_name_ta.as_deref(),
            "te" => self.product_name_te.as_deref(),
            "kn" => self.product_name_kn.as_deref(),
            "ml" => self.product_name_ml.as_deref(),
            "bn" => self.product_name_bn.as_deref(),
            "gu" => self.product_name_gu.as_deref(),
            "pa" => self.product_name_pa.as_deref(),
            "or" => self.product_name_or.as_deref(),
            "as" => self.product_name_as.as_deref(),
            _ => None,
        }
    }
}

/// An answer of OFF's product API (`/api/v2/product/{barcode}`): `status` 1 with the
/// product, or 0 (`product not found`).
#[derive(Debug, Deserialize)]
pub struct ProductAnswer {
    #[serde(default)]
    pub status: Option<serde_json::Value>,
    #[serde(default)]
    pub product: Option<OffProduct>,
}

impl ProductAnswer {
    fn status_is(&self, n: u64, word: &str) -> bool {
        match &self.status {
            Some(serde_json::Value::Number(x)) => x.as_u64() == Some(n),
            Some(serde_json::Value::String(s)) => *s == n.to_string() || s == word,
            _ => false,
        }
    }

    /// Whether the answer says OFF has the product (`status` 1).
    pub fn says_found(&self) -> bool {
        self.status_is(1, "success")
    }

    /// Whether the answer says OFF does not know the barcode (`status` 0).
    pub fn says_not_found(&self) -> bool {
        self.status_is(0, "failure")
    }

    /// The product, when the answer says OFF has it.
    pub fn found(self) -> Option<OffProduct> {
        if self.says_found() {
            self.product
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_answer_reads_into_facts() {
        let body = r#"{"code":"8901063093287","status":1,"status_verbose":"product found",
            "product":{"code":"8901063093287","product_name":"Good Day Cashew Cookies",
            "brands":"Britannia, Britannia Industries","quantity":" 200  g ",
            "categories_tags":["en:snacks","en:sweet-snacks","en:biscuits-and-cakes","en:biscuits"],
            "product_name_ta":"குட் டே முந்திரி","product_name_hi":"गुड डे काजू",
            "image_front_url":"https://images.openfoodfacts.org/images/products/890/106/309/3287/front_en.3.400.jpg",
            "nutriments":{"energy_100g":2000},"images":{"front_en":{"rev":"3"}}}}"#;
        let answer: ProductAnswer = serde_json::from_str(body).unwrap();
        let p = answer.found().unwrap();
        assert_eq!(p.gtin().unwrap().to_string(), "8901063093287");
        let f = p.facts(product_url("8901063093287"));
        assert_eq!(f.name.as_deref(), Some("Good Day Cashew Cookies"));
        assert_eq!(f.brand.as_deref(), Some("Britannia"));
        assert_eq!(f.quantity.as_deref(), Some("200 g"));
        assert_eq!(
            f.category.as_deref(),
            Some("Snacks & Branded Foods > Biscuits & Cookies")
        );
        let tn = RegionCode::parse("IN-TN").unwrap();
        assert_eq!(f.regional_names[&tn], ["குட் டே முந்திரி"]);
        // Hindi goes to each Hindi-speaking state.
        assert_eq!(
            f.regional_names
                .values()
                .filter(|n| n[0] == "गुड डे काजू")
                .count(),
            10
        );
        assert!(f.image_url.unwrap().ends_with("front_en.3.400.jpg"));
    }

    #[test]
    fn not_found_and_odd_types_are_absent_not_errors() {
        let answer: ProductAnswer = serde_json::from_str(
            r#"{"code":"123","status":0,"status_verbose":"product not found"}"#,
        )
        .unwrap();
        assert!(answer.found().is_none());
        let odd: OffProduct = serde_json::from_str(
            r#"{"code":8901063093287,"product_name":["x"],"brands":null,"categories_tags":"en:teas, en:green-teas","quantity":{"v":1}}"#,
        )
        .unwrap();
        assert_eq!(odd.code.as_deref(), Some("8901063093287"));
        let f = odd.facts(String::new());
        assert_eq!(f.name, None);
        assert_eq!(f.brand, None);
        assert_eq!(f.quantity, None);
        assert_eq!(f.category.as_deref(), Some("Beverages > Tea"));
    }

    #[test]
    fn names_are_one_bounded_line() {
        let p = OffProduct {
            product_name: Some("Tata\n  Tea &amp; Gold\t".into()),
            brands: Some("x".repeat(500)),
            ..Default::default()
        };
        let f = p.facts(String::new());
        assert_eq!(f.name.as_deref(), Some("Tata Tea & Gold"));
        assert_eq!(f.brand, None);
    }

    #[test]
    fn every_mapping_row_reads() {
        let file_rows = |f: &'static str| data_rows(f).count();
        assert_eq!(CATEGORIES.len(), file_rows(include_str!("categories.csv")));
        for (lang, regions) in LANGUAGES.iter() {
            assert!(!regions.is_empty(), "{lang}");
        }
    }
}
