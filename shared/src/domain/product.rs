//! Global catalog products: their fields, the review states an admin moves them through, and
//! the quality score.
//!
//! Owns the product rules; knows nothing of storage or HTTP. A `Product` is built only from
//! parsed parts ([`NewProduct`], [`ProductChanges`]), so anything holding one may trust it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{FieldErrors, Gtin, ProductId, Timestamp, clean_text};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_BRAND_CHARS: usize = 100;
pub const MAX_CATEGORY_CHARS: usize = 200;
pub const MAX_REGIONS: usize = 40;
pub const MAX_NAMES_PER_REGION: usize = 10;
pub const MAX_ATTRIBUTES: usize = 50;
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 1000;
pub const MAX_URL_CHARS: usize = 2048;

/// Where a product first came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductSource {
    /// Created through `POST /v1/products`.
    Api,
    /// Created because a scanner saw a valid barcode the catalog did not know.
    Scan,
    /// Created by a CSV import.
    Import,
    /// Loaded from an Open Food Facts export (`catalog off-import`, the demo catalog).
    #[serde(rename = "openfoodfacts")]
    OpenFoodFacts,
}

impl ProductSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProductSource::Api => "api",
            ProductSource::Scan => "scan",
            ProductSource::Import => "import",
            ProductSource::OpenFoodFacts => super::enrichment::OFF_SOURCE,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(Self::Api),
            "scan" => Some(Self::Scan),
            "import" => Some(Self::Import),
            super::enrichment::OFF_SOURCE => Some(Self::OpenFoodFacts),
            _ => None,
        }
    }
}

/// The review state of a product. New products start `Pending`; admins move them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    Pending,
    Approved,
    Rejected,
    /// A duplicate folded into another product (`merged_into`); final.
    Merged,
}

impl VerificationStatus {
    pub const ALL: [VerificationStatus; 4] =
        [Self::Pending, Self::Approved, Self::Rejected, Self::Merged];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Merged => "merged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Which moves an admin may make. Merged is final; anything else may go back to pending
    /// for another look, or be decided either way.
    pub fn can_move_to(self, to: VerificationStatus) -> bool {
        use VerificationStatus::*;
        match (self, to) {
            (Merged, _) => false,
            (from, to) if from == to => true,
            (_, Pending | Approved | Rejected | Merged) => true,
        }
    }
}

impl fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 3166-2 style region code such as `IN-MH` or `IN-TN` (or a bare country, `IN`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let up = s.trim().to_ascii_uppercase();
        let (country, sub) = match up.split_once('-') {
            Some((c, r)) => (c, Some(r)),
            None => (up.as_str(), None),
        };
        let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        let sub_ok = sub.is_none_or(|r| {
            (1..=3).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if country_ok && sub_ok {
            Ok(Self(up))
        } else {
            Err(format!("'{s}' is not a region code like IN-MH or IN-TN"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RegionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The three renditions of a product's canonical image, content-addressed by `image_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImageUrls {
    pub original: String,
    pub thumbnail: String,
    pub medium: String,
}

/// Where a product's image stands after its last upload was processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImageState {
    /// `ready` (the upload is the product's image now) or `failed` (the image before it, if
    /// any, stays).
    #[schema(pattern = "^(ready|failed)$")]
    pub status: String,
    /// Why it failed: `image_empty`, `image_unsupported_format`, `image_too_large`,
    /// `image_corrupt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The upload it is about.
    pub upload_id: String,
    pub at: Timestamp,
}

impl ImageState {
    /// Upload `upload_id` is the image now.
    pub fn ready(upload_id: &str, at: Timestamp) -> Self {
        Self {
            status: "ready".into(),
            code: None,
            detail: None,
            upload_id: upload_id.to_string(),
            at,
        }
    }

    /// Upload `upload_id` was not a usable image (`code`, `detail`): the image before it stays.
    pub fn failed(upload_id: &str, code: &str, detail: &str, at: Timestamp) -> Self {
        Self {
            status: "failed".into(),
            code: Some(code.to_string()),
            detail: Some(detail.to_string()),
            upload_id: upload_id.to_string(),
            at,
        }
    }

    /// Whether this says what became of upload `upload_id` or of a later one (upload ids are
    /// UUIDv7: their text sorts by time), so `upload_id` changes nothing.
    pub fn supersedes(&self, upload_id: &str) -> bool {
        self.upload_id.as_str() >= upload_id
    }
}

/// A processed upload, as it goes on the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    pub hash: String,
    pub urls: ImageUrls,
    /// The 64-bit perceptual hash, 16 hex digits.
    pub perceptual_hash: String,
    /// Other products whose image has the same SHA-256.
    pub same_image_as: Vec<ProductId>,
    /// Other products whose image is a near copy (perceptual hashes close).
    pub similar_image_as: Vec<ProductId>,
    pub upload_id: String,
}

/// What the matcher proposed for a row that became a new pending product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MatchReview {
    /// `review`: probably the first candidate, a person should confirm (or merge);
    /// `new`: probably not in the catalog.
    pub decision: String,
    /// Best first, at most [`MAX_REVIEW_CANDIDATES`].
    pub candidates: Vec<ReviewCandidate>,
    /// The import and row the product came from.
    pub job_id: Option<crate::domain::JobId>,
    pub row: Option<u64>,
}

/// Candidates kept on a product awaiting review.
pub const MAX_REVIEW_CANDIDATES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewCandidate {
    pub product_id: ProductId,
    /// How likely, in percent, this is the row's product (the matcher's `probability`, as it
    /// was when the row was imported).
    pub confidence: u8,
}

/// A product of the global catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Product {
    pub product_id: ProductId,
    pub name: String,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub barcode: Option<Gtin>,
    /// SHA-256 (hex) of the original image bytes.
    pub image_hash: Option<String>,
    pub canonical_image_urls: Option<ImageUrls>,
    /// The image's 64-bit perceptual hash (16 hex digits): near copies differ in a few bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_perceptual_hash: Option<String>,
    /// Where the last image upload stands (a failed one says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_state: Option<ImageState>,
    /// Other products that had the very same image (SHA-256) when this one's was set: likely
    /// duplicates, for the review queue (never merged on their own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub same_image_as: Vec<ProductId>,
    /// Other products whose image was a near copy of this one's (a resized, recompressed or
    /// slightly cropped copy: perceptual hashes at most 10 bits apart) when it was set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub similar_image_as: Vec<ProductId>,
    /// Names people use in each region, e.g. `{"IN-MH": ["हळद"], "IN-TN": ["மஞ்சள்"]}`.
    pub regional_names: BTreeMap<RegionCode, Vec<String>>,
    /// Free-form facts (`weight`, `description`, `pack_size`, ...), all text.
    pub attributes: BTreeMap<String, String>,
    pub verification_status: VerificationStatus,
    /// Set when merged: the product this one is a duplicate of.
    pub merged_into: Option<ProductId>,
    /// 0 to 100, from how complete the record is; see [`quality`].
    pub quality_score: u8,
    /// The score part by part: the points each is worth, earned, and what is missing.
    pub quality_reasons: Vec<QualityPart>,
    /// For a product an import created because no catalog product was a safe match: what the
    /// matcher proposed, for the admin who reviews it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_review: Option<MatchReview>,
    pub source: ProductSource,
    /// Its lookup in Open Food Facts (products with a barcode): queued, found (with what was
    /// filled and the attribution OFF's licence asks for), not found, failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<super::Enrichment>,
    /// The `sub` of the token that created it.
    pub created_by: String,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The parsed content of a product, as a client supplies it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductContent {
    pub name: String,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub barcode: Option<Gtin>,
    pub regional_names: BTreeMap<RegionCode, Vec<String>>,
    pub attributes: BTreeMap<String, String>,
}

impl Product {
    /// A new product: pending review, version 1, scored; one with a barcode is queued for its
    /// Open Food Facts lookup.
    pub fn create(
        id: ProductId,
        content: ProductContent,
        source: ProductSource,
        created_by: &str,
        now: Timestamp,
    ) -> Self {
        let lookup = content.barcode.is_some();
        let mut p = Product {
            product_id: id,
            name: content.name,
            brand: content.brand,
            category: content.category,
            barcode: content.barcode,
            image_hash: None,
            canonical_image_urls: None,
            image_perceptual_hash: None,
            image_state: None,
            same_image_as: Vec::new(),
            similar_image_as: Vec::new(),
            regional_names: content.regional_names,
            attributes: content.attributes,
            verification_status: VerificationStatus::Pending,
            merged_into: None,
            quality_score: 0,
            quality_reasons: Vec::new(),
            match_review: None,
            enrichment: lookup.then(|| super::Enrichment::queued(now)),
            source,
            created_by: created_by.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        p.rescore();
        p
    }

    /// The next version of this product with `image` as its image (ready), rescored.
    pub fn with_image(&self, image: NewImage, now: Timestamp) -> Product {
        let mut next = self.clone();
        next.image_hash = Some(image.hash);
        next.canonical_image_urls = Some(image.urls);
        next.image_perceptual_hash = Some(image.perceptual_hash);
        next.same_image_as = image.same_image_as;
        next.similar_image_as = image.similar_image_as;
        next.image_state = Some(ImageState::ready(&image.upload_id, now));
        next.version = self.version + 1;
        next.updated_at = now;
        next.rescore();
        next
    }

    /// The next version of this product saying upload `upload_id` failed (`code`, `detail`);
    /// its image, if it has one, stays.
    pub fn with_image_failure(
        &self,
        upload_id: &str,
        code: &str,
        detail: &str,
        now: Timestamp,
    ) -> Product {
        let mut next = self.clone();
        next.image_state = Some(ImageState::failed(upload_id, code, detail, now));
        next.version = self.version + 1;
        next.updated_at = now;
        next
    }

    /// Recomputes the quality score and its reasons from the record.
    pub fn rescore(&mut self) {
        self.quality_reasons = quality(self);
        self.quality_score = self.quality_reasons.iter().map(|q| q.earned).sum();
    }

    /// The placeholder a scan creates for a valid barcode the catalog does not know yet. It
    /// waits in the review queue for an admin to name it.
    pub fn from_unknown_scan(barcode: Gtin, created_by: &str, now: Timestamp) -> Self {
        let content = ProductContent {
            name: format!("Unidentified product {barcode}"),
            barcode: Some(barcode),
            ..ProductContent::default()
        };
        Product::create(
            ProductId::new(),
            content,
            ProductSource::Scan,
            created_by,
            now,
        )
    }

    /// Applies an admin's changes, returning the next version of the product.
    pub fn apply(&self, changes: ProductChanges, now: Timestamp) -> Result<Product, FieldErrors> {
        let mut next = self.clone();
        if let Some(name) = changes.name {
            next.name = name;
        }
        if let Some(brand) = changes.brand {
            next.brand = brand;
        }
        if let Some(category) = changes.category {
            next.category = category;
        }
        if let Some(barcode) = changes.barcode {
            next.barcode = barcode;
        }
        if let Some(names) = changes.regional_names {
            next.regional_names = names;
        }
        if let Some(attributes) = changes.attributes {
            next.attributes = attributes;
        }
        if let Some(status) = changes.verification_status {
            if !self.verification_status.can_move_to(status) {
                return Err(FieldErrors::single(
                    "verification_status",
                    "invalid_transition",
                    format!(
                        "a {} product cannot become {}",
                        self.verification_status, status
                    ),
                ));
            }
            next.verification_status = status;
        }
        if let Some(target) = changes.merged_into {
            next.merged_into = target;
        }
        match (next.verification_status, next.merged_into) {
            (VerificationStatus::Merged, None) => {
                return Err(FieldErrors::single(
                    "merged_into",
                    "required",
                    "merged_into is required when verification_status is merged",
                ));
            }
            (VerificationStatus::Merged, Some(t)) if t == self.product_id => {
                return Err(FieldErrors::single(
                    "merged_into",
                    "self_merge",
                    "a product cannot be merged into itself",
                ));
            }
            (s, Some(_)) if s != VerificationStatus::Merged => {
                return Err(FieldErrors::single(
                    "merged_into",
                    "not_merged",
                    "merged_into is only for products whose verification_status is merged",
                ));
            }
            _ => {}
        }
        next.version = self.version + 1;
        next.updated_at = now;
        next.rescore();
        Ok(next)
    }
}

/// What an admin may change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub brand: Option<Option<String>>,
    pub category: Option<Option<String>>,
    pub barcode: Option<Option<Gtin>>,
    pub regional_names: Option<BTreeMap<RegionCode, Vec<String>>>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub verification_status: Option<VerificationStatus>,
    pub merged_into: Option<Option<ProductId>>,
}

/// One part of a product's quality score: what it is, the points it is worth, the points the
/// product earns for it, and what would earn the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QualityPart {
    /// `name`, `brand`, `category`, `barcode`, `image`, `regional_names`, `size`.
    pub part: &'static str,
    pub points: u8,
    pub earned: u8,
    /// What is missing or weak (absent when every point is earned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<&'static str>,
}

/// The attributes that give a product its size.
pub(crate) const SIZE_KEYS: [&str; 4] = ["weight", "quantity", "pack_size", "volume"];

/// How complete a product record is, part by part; the score is their sum (0 to 100). A rule,
/// not a judgement: a named, branded, categorised product with a barcode, an image, regional
/// names and a size scores 100. The weights live here and nowhere else:
///
/// | part | points |
/// |---|---|
/// | a real name (not a scan placeholder), at least two words (one word: 15) | 25 |
/// | brand | 15 |
/// | category | 10 |
/// | barcode | 20 |
/// | canonical image | 15 |
/// | at least one regional name | 10 |
/// | a size or weight attribute (`weight`, `quantity`, `pack_size`, `volume`) | 5 |
pub fn quality(p: &Product) -> Vec<QualityPart> {
    let part = |part, points, earned: u8, missing| QualityPart {
        part,
        points,
        earned,
        missing: (earned < points).then_some(missing),
    };
    let placeholder =
        p.source == ProductSource::Scan && p.name.starts_with("Unidentified product ");
    let name = match (placeholder, p.name.split_whitespace().count() >= 2) {
        (true, _) => 0,
        (false, true) => 25,
        (false, false) => 15,
    };
    vec![
        part(
            "name",
            25,
            name,
            if placeholder {
                "the name is a scan's placeholder: name the product"
            } else {
                "a one-word name: say what it is (brand, kind, variant)"
            },
        ),
        part(
            "brand",
            15,
            if p.brand.is_some() { 15 } else { 0 },
            "no brand",
        ),
        part(
            "category",
            10,
            if p.category.is_some() { 10 } else { 0 },
            "no category",
        ),
        part(
            "barcode",
            20,
            if p.barcode.is_some() { 20 } else { 0 },
            "no barcode",
        ),
        part(
            "image",
            15,
            if p.canonical_image_urls.is_some() {
                15
            } else {
                0
            },
            "no image",
        ),
        part(
            "regional_names",
            10,
            if p.regional_names.values().any(|v| !v.is_empty()) {
                10
            } else {
                0
            },
            "no regional name",
        ),
        part(
            "size",
            5,
            if SIZE_KEYS.iter().any(|k| p.attributes.contains_key(*k)) {
                5
            } else {
                0
            },
            "no size or weight attribute (pack_size, weight, quantity, volume)",
        ),
    ]
}

/// The quality score: the sum of [`quality`]'s parts.
pub fn quality_score(p: &Product) -> u8 {
    quality(p).iter().map(|q| q.earned).sum()
}

/// Parses and checks regional names: region codes, 1 to 10 non-empty names each.
pub fn parse_regional_names(
    raw: BTreeMap<String, Vec<String>>,
    field: &str,
    errors: &mut FieldErrors,
) -> BTreeMap<RegionCode, Vec<String>> {
    let mut out = BTreeMap::new();
    if raw.len() > MAX_REGIONS {
        errors.add(
            field,
            "too_many",
            format!("{field} may have at most {MAX_REGIONS} regions"),
        );
        return out;
    }
    for (region, names) in raw {
        let path = format!("{field}.{region}");
        let code = match RegionCode::parse(&region) {
            Ok(c) => c,
            Err(msg) => {
                errors.add(&path, "invalid_region", msg);
                continue;
            }
        };
        if names.len() > MAX_NAMES_PER_REGION {
            errors.add(
                &path,
                "too_many",
                format!("{path} may have at most {MAX_NAMES_PER_REGION} names"),
            );
            continue;
        }
        let mut clean = Vec::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if let Some(n) = errors.check(
                &format!("{path}[{i}]"),
                clean_text(n, MAX_NAME_CHARS, false),
            ) && !clean.contains(&n)
            {
                clean.push(n);
            }
        }
        out.insert(code, clean);
    }
    out
}

/// Parses and checks attributes: keys `[a-z0-9_]`, values trimmed text.
pub fn parse_attributes(
    raw: BTreeMap<String, String>,
    field: &str,
    errors: &mut FieldErrors,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if raw.len() > MAX_ATTRIBUTES {
        errors.add(
            field,
            "too_many",
            format!("{field} may have at most {MAX_ATTRIBUTES} entries"),
        );
        return out;
    }
    for (k, v) in raw {
        let path = format!("{field}.{k}");
        let key_ok = !k.is_empty()
            && k.len() <= MAX_ATTRIBUTE_KEY_CHARS
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            errors.add(
                &path,
                "invalid_key",
                format!("attribute names are 1 to {MAX_ATTRIBUTE_KEY_CHARS} of a-z, 0-9 and _"),
            );
            continue;
        }
        if let Some(v) = errors.check(&path, clean_text(&v, MAX_ATTRIBUTE_VALUE_CHARS, true)) {
            out.insert(k, v);
        }
    }
    out
}

text_schema!(
    RegionCode,
    "RegionCode",
    "An ISO 3166-2 style region (IN-MH, IN-TN) or a country (IN).",
    pattern = "^[A-Z]{2}(-[A-Z0-9]{1,3})?$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_says_what_each_missing_part_would_add() {
        let p = sample();
        let parts = quality(&p);
        assert_eq!(parts.iter().map(|q| u32::from(q.points)).sum::<u32>(), 100);
        assert_eq!(p.quality_score, parts.iter().map(|q| q.earned).sum::<u8>());
        let missing: Vec<(&str, u8)> = parts
            .iter()
            .filter(|q| q.missing.is_some())
            .map(|q| (q.part, q.points - q.earned))
            .collect();
        assert_eq!(
            missing,
            [("image", 15), ("regional_names", 10), ("size", 5)]
        );
        assert_eq!(p.quality_reasons, parts);
    }

    fn sample() -> Product {
        let content = ProductContent {
            name: "Tata Salt Iodised".into(),
            brand: Some("Tata".into()),
            category: Some("Foodgrains > Salt".into()),
            barcode: Some(Gtin::parse("8901058000290").unwrap()),
            ..Default::default()
        };
        Product::create(
            ProductId::new(),
            content,
            ProductSource::Api,
            "u1",
            Timestamp::now(),
        )
    }

    #[test]
    fn new_products_are_pending_version_one() {
        let p = sample();
        assert_eq!(p.verification_status, VerificationStatus::Pending);
        assert_eq!(p.version, 1);
        assert_eq!(p.quality_score, 25 + 15 + 10 + 20);
    }

    #[test]
    fn scan_placeholders_score_low() {
        let p = Product::from_unknown_scan(
            Gtin::parse("8901058000290").unwrap(),
            "s",
            Timestamp::now(),
        );
        assert_eq!(p.quality_score, 20);
        assert_eq!(p.source, ProductSource::Scan);
    }

    #[test]
    fn merged_is_final_and_needs_a_target() {
        let p = sample();
        let err = p
            .apply(
                ProductChanges {
                    verification_status: Some(VerificationStatus::Merged),
                    ..Default::default()
                },
                Timestamp::now(),
            )
            .unwrap_err();
        assert_eq!(err.0[0].field, "merged_into");
        let target = ProductId::new();
        let merged = p
            .apply(
                ProductChanges {
                    verification_status: Some(VerificationStatus::Merged),
                    merged_into: Some(Some(target)),
                    ..Default::default()
                },
                Timestamp::now(),
            )
            .unwrap();
        assert_eq!(merged.version, 2);
        let back = merged.apply(
            ProductChanges {
                verification_status: Some(VerificationStatus::Approved),
                ..Default::default()
            },
            Timestamp::now(),
        );
        assert_eq!(back.unwrap_err().0[0].code, "invalid_transition");
    }

    #[test]
    fn changes_rescore() {
        let p = sample();
        let next = p
            .apply(
                ProductChanges {
                    brand: Some(None),
                    ..Default::default()
                },
                Timestamp::now(),
            )
            .unwrap();
        assert_eq!(next.quality_score, p.quality_score - 15);
    }

    #[test]
    fn region_codes() {
        assert_eq!(RegionCode::parse("in-mh").unwrap().as_str(), "IN-MH");
        assert_eq!(RegionCode::parse("IN").unwrap().as_str(), "IN");
        assert!(RegionCode::parse("India").is_err());
        assert!(RegionCode::parse("IN-MAHA").is_err());
    }

    #[test]
    fn regional_names_are_checked_per_entry() {
        let mut errors = FieldErrors::new();
        let raw = BTreeMap::from([
            (
                "in-mh".to_string(),
                vec!["हळद".to_string(), "हळद".to_string()],
            ),
            ("nowhere".to_string(), vec!["x".to_string()]),
        ]);
        let parsed = parse_regional_names(raw, "regional_names", &mut errors);
        assert_eq!(
            parsed[&RegionCode::parse("IN-MH").unwrap()],
            vec!["हळद".to_string()]
        );
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "regional_names.nowhere");
    }
}
