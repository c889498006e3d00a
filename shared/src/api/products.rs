//! Catalog product routes.

use std::sync::Arc;

use http::StatusCode;

use super::bodies::{NewProductBody, ProductPatchBody};
use crate::app::App;
use crate::domain::{FieldErrors, Gtin, ProductId, VerificationStatus, clean_text};
use crate::http::request::{Query, idempotency_key, if_match, json_body, path_id, principal};
use crate::http::{ApiError, ApiResult, Request, response};
use crate::ports::ProductFilter;
use crate::services::{Listing, PageRequest};

pub const MAX_QUERY_CHARS: usize = 100;
pub const MAX_QUERY_WORDS: usize = 8;

/// `POST /v1/products`: 201 with the new product (pending review); with an `Idempotency-Key`,
/// a retry gets 200 and the product the first call made.
pub async fn create(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let key = idempotency_key(&req)?;
    let content = json_body::<NewProductBody>(&req, &[])?.validate()?;
    let created = app
        .catalog
        .create_product(&who, content, key.as_ref())
        .await?;
    let p = created.value;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let res = response::with_location(
        response::json(status, &p),
        &format!("/v1/products/{}", p.product_id),
    );
    Ok(response::with_etag(res, p.version))
}

/// `GET /v1/products/{product_id}`
pub async fn get(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let id = path_id(&req, "product_id", ProductId::parse)?;
    let p = app.catalog.get_product(&who, &id).await?;
    Ok(response::with_etag(
        response::json(StatusCode::OK, &p),
        p.version,
    ))
}

/// `GET /v1/products?barcode=` (exact lookup) or
/// `GET /v1/products?q=&category=&status=&cursor=&limit=` (listing).
pub async fn list(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let query = Query::parse(
        &req,
        &["barcode", "q", "category", "status", "cursor", "limit"],
    )?;
    let mut errors = FieldErrors::new();
    if let Some(raw) = query.get("barcode") {
        let others: Vec<&str> = ["q", "category", "status", "cursor", "limit"]
            .into_iter()
            .filter(|k| query.has(k))
            .collect();
        if !others.is_empty() {
            return Err(ApiError::field(
                "query.barcode",
                "exclusive",
                format!("barcode cannot be combined with {}", others.join(", ")),
            ));
        }
        let barcode = errors.check("query.barcode", Gtin::parse(raw));
        errors.clone().finish(|| ())?;
        let found = app
            .catalog
            .find_product_by_barcode(&who, &barcode.expect("checked"))
            .await?;
        let listing = Listing {
            items: found.into_iter().collect(),
            next_cursor: None,
        };
        return Ok(response::json(StatusCode::OK, &listing));
    }
    let mut filter = ProductFilter::default();
    if let Some(q) = query.get("q")
        && let Some(q) = errors.check("query.q", clean_text(q, MAX_QUERY_CHARS, false))
    {
        filter.words = q
            .to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if filter.words.len() > MAX_QUERY_WORDS {
            errors.add(
                "query.q",
                "too_many_words",
                format!("q may have at most {MAX_QUERY_WORDS} words"),
            );
        }
    }
    if let Some(c) = query.get("category") {
        filter.category = errors.check(
            "query.category",
            clean_text(c, crate::domain::product::MAX_CATEGORY_CHARS, false),
        );
    }
    if let Some(s) = query.get("status") {
        filter.status = VerificationStatus::parse(s);
        if filter.status.is_none() {
            errors.add(
                "query.status",
                "invalid_status",
                format!("status must be one of pending, approved, rejected, merged; not '{s}'"),
            );
        }
    }
    let page = PageRequest {
        cursor: query.get("cursor").map(str::to_string),
        limit: query.u32("limit", &mut errors),
    };
    page.validate(&mut errors);
    errors.finish(|| ())?;
    let listing = app.catalog.list_products(&who, filter, &page).await?;
    Ok(response::json(StatusCode::OK, &listing))
}

/// `PATCH /v1/products/{product_id}` (admin): a JSON merge patch, applied only if `If-Match`
/// names the current version (else 412); without `If-Match`, 428.
pub async fn update(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let id = path_id(&req, "product_id", ProductId::parse)?;
    let Some(version) = if_match(&req)? else {
        return Err(ApiError::PreconditionRequired(
            "send If-Match with the product's ETag (from GET) so concurrent edits are not lost"
                .into(),
        ));
    };
    let changes =
        json_body::<ProductPatchBody>(&req, &["application/merge-patch+json"])?.validate()?;
    let p = app
        .catalog
        .update_product(&who, &id, version, changes)
        .await?;
    Ok(response::with_etag(
        response::json(StatusCode::OK, &p),
        p.version,
    ))
}
