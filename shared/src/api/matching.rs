//! `GET /v1/products/match`: the catalog products behind a row as a store owner wrote it, with
//! the evidence for each and the decision (`match`, `review` or `new`).

use std::sync::Arc;

use http::StatusCode;

use crate::app::App;
use crate::domain::product::{MAX_BRAND_CHARS, MAX_NAME_CHARS};
use crate::domain::{FieldErrors, clean_text};
use crate::http::request::{Query, principal};
use crate::http::{ApiResult, Request, response};
use crate::services::matching::{MAX_MATCH_CANDIDATES, MatchRequest};

/// Longest `quantity` accepted ("2 x 500 g", "pack of 6").
pub const MAX_QUANTITY_CHARS: usize = 50;
/// Longest `barcode` accepted: a GTIN-14 with separators. It need not be valid (a barcode one
/// digit off still finds its product as a candidate), but it must be digits.
pub const MAX_BARCODE_CHARS: usize = 24;
/// Candidates returned when `limit` is absent.
pub const DEFAULT_MATCH_CANDIDATES: usize = 5;

/// `?name=&brand=&quantity=&barcode=&limit=`: `name` or `barcode` is required.
pub async fn get(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let query = Query::parse(&req, &["name", "brand", "quantity", "barcode", "limit"])?;
    let mut errors = FieldErrors::new();
    let text = |field: &str, max: usize, errors: &mut FieldErrors| -> String {
        match query.get(field) {
            Some(v) if !v.trim().is_empty() => errors
                .check(&format!("query.{field}"), clean_text(v, max, false))
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    let name = text("name", MAX_NAME_CHARS, &mut errors);
    let brand = text("brand", MAX_BRAND_CHARS, &mut errors);
    let quantity = text("quantity", MAX_QUANTITY_CHARS, &mut errors);
    let barcode = text("barcode", MAX_BARCODE_CHARS, &mut errors);
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
    let limit = match query.u32("limit", &mut errors) {
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
    Ok(response::json(StatusCode::OK, &found))
}
