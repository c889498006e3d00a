//! `GET /v1/products/match`: the catalog products behind a row as a store owner wrote it, with
//! the evidence for each and the decision (`match`, `review` or `new`).

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::App;
use crate::domain::product::{MAX_BRAND_CHARS, MAX_NAME_CHARS};
use crate::domain::{FieldErrors, clean_text};
use crate::http::extract::{Caller, Query, whole_number};
use crate::http::{ApiResult, response};
use crate::services::matching::{MAX_MATCH_CANDIDATES, MatchRequest, MatchResponse};

/// Longest `quantity` accepted ("2 x 500 g", "pack of 6").
pub const MAX_QUANTITY_CHARS: usize = 50;
/// Longest `barcode` accepted: a GTIN-14 with separators. It need not be valid (a barcode one
/// digit off still finds its product as a candidate), but it must be digits.
pub const MAX_BARCODE_CHARS: usize = 24;
/// Candidates returned when `limit` is absent.
pub const DEFAULT_MATCH_CANDIDATES: usize = 5;

/// A row as a store owner wrote it: `name` or `barcode` is required.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatchQuery {
    /// The product's name as written ("tata salt 1kg").
    #[param(max_length = 200)]
    name: Option<String>,
    /// The brand, if the row has one.
    #[param(max_length = 100)]
    brand: Option<String>,
    /// The pack size, if the row has one ("2 x 500 g", "pack of 6").
    #[param(max_length = 50)]
    quantity: Option<String>,
    /// The barcode as written: digits, spaces and hyphens (need not be valid).
    #[param(max_length = 24, pattern = "^[0-9 -]*$")]
    barcode: Option<String>,
    /// Candidates to return, 1 to 10 (default 5).
    #[serde(default, deserialize_with = "whole_number")]
    #[param(minimum = 1, maximum = 10)]
    limit: Option<u32>,
}

/// `?name=&brand=&quantity=&barcode=&limit=`: `name` or `barcode` is required.
#[utoipa::path(
    get, path = "/v1/products/match", operation_id = "products-match", tag = "products",
    summary = "Find the catalog products behind a row as a store owner wrote it",
    description = "Every role. The decision says whether the first candidate is safe to link (`match`), needs a person (`review`), or the catalog lacks the product (`new`).",
    security(("bearer" = [])),
    params(MatchQuery),
    responses((status = 200, description = "Candidates with their evidence, and the decision", body = MatchResponse)),
)]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(query): Query<MatchQuery>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let mut text = |field: &str, value: &Option<String>, max: usize| -> String {
        match value {
            Some(v) if !v.trim().is_empty() => errors
                .check(&format!("query.{field}"), clean_text(v, max, false))
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    let name = text("name", &query.name, MAX_NAME_CHARS);
    let brand = text("brand", &query.brand, MAX_BRAND_CHARS);
    let quantity = text("quantity", &query.quantity, MAX_QUANTITY_CHARS);
    let barcode = text("barcode", &query.barcode, MAX_BARCODE_CHARS);
    if !barcode
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        errors.add(
            "query.barcode",
            "invalid_barcode",
            "barcode may contain only digits, spaces and hyphens",
        );
    }
    if name.is_empty() && barcode.is_empty() && errors.is_empty() {
        errors.add(
            "query.name",
            "required",
            "give a name (with brand and quantity if known) or a barcode",
        );
    }
    let limit = match query.limit {
        Some(l) if l == 0 || l as usize > MAX_MATCH_CANDIDATES => {
            errors.add(
                "query.limit",
                "out_of_range",
                format!("limit must be between 1 and {MAX_MATCH_CANDIDATES}"),
            );
            0
        }
        Some(l) => l as usize,
        None => DEFAULT_MATCH_CANDIDATES,
    };
    errors.finish(|| ())?;
    let found = app
        .catalog
        .match_product(
            &who,
            MatchRequest {
                name,
                brand,
                quantity,
                barcode,
                limit,
            },
        )
        .await?;
    Ok(response::json(StatusCode::OK, found))
}
