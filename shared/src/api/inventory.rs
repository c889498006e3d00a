//! Store inventory routes. Every route names its store in the path; a token without that store
//! gets 403 `forbidden_store`.

use std::sync::Arc;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::bodies::InventoryBody;
use crate::app::App;
use crate::domain::{
    AdjustmentReason, DecimalText, FieldErrors, InventoryItem, ProductId, QuantityDelta, StoreId,
};
use crate::http::request::{
    Query, idempotency_key, if_match, if_none_match_any, json_body, path_id, principal,
};
use crate::http::{ApiResult, Request, response};
use crate::ports::InventoryFilter;
use crate::services::{AdjustRequest, PageRequest, PutRequest};

fn keys(req: &Request) -> Result<(StoreId, ProductId), crate::http::ApiError> {
    Ok((
        path_id(req, "store_id", StoreId::parse)?,
        path_id(req, "product_id", ProductId::parse)?,
    ))
}

/// `GET /v1/stores/{store_id}/inventory?low_stock=&cursor=&limit=`
pub async fn list(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let store = path_id(&req, "store_id", StoreId::parse)?;
    let query = Query::parse(&req, &["low_stock", "cursor", "limit"])?;
    let mut errors = FieldErrors::new();
    let filter = InventoryFilter {
        low_stock: query.bool("low_stock", &mut errors).unwrap_or(false),
    };
    let page = PageRequest {
        cursor: query.get("cursor").map(str::to_string),
        limit: query.u32("limit", &mut errors),
    };
    page.validate(&mut errors);
    errors.finish(|| ())?;
    let listing = app
        .catalog
        .list_inventory(&who, &store, filter, &page)
        .await?;
    Ok(response::json(StatusCode::OK, &listing))
}

/// `GET /v1/stores/{store_id}/inventory/{product_id}`
pub async fn get(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let (store, product) = keys(&req)?;
    let item = app
        .catalog
        .get_inventory_item(&who, &store, &product)
        .await?;
    Ok(response::with_etag(
        response::json(StatusCode::OK, &item),
        item.version,
    ))
}

/// `PUT /v1/stores/{store_id}/inventory/{product_id}`: sets the whole item (an explicit
/// count). `If-Match: "<version>"` replaces only that version; `If-None-Match: *` only creates.
/// 201 when created, 200 when replaced.
pub async fn put(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let (store, product) = keys(&req)?;
    let expect_version = if_match(&req)?;
    let create_only = if_none_match_any(&req)?;
    let details = json_body::<InventoryBody>(&req, &[])?.validate()?;
    let (item, created) = app
        .catalog
        .put_inventory_item(
            &who,
            &store,
            &product,
            PutRequest {
                details,
                expect_version,
                create_only,
            },
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::with_etag(
        response::json(status, &item),
        item.version,
    ))
}

/// `DELETE /v1/stores/{store_id}/inventory/{product_id}` (optionally `If-Match`): 204.
pub async fn delete(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let (store, product) = keys(&req)?;
    let expect = if_match(&req)?;
    app.catalog
        .delete_inventory_item(&who, &store, &product, expect)
        .await?;
    Ok(response::no_content())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    delta: Option<DecimalText>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct AdjustResponse {
    item: InventoryItem,
    /// The `Idempotency-Key` had been used before: nothing changed now.
    replayed: bool,
}

/// `POST /v1/stores/{store_id}/inventory/{product_id}/adjustments`: `{"delta": "-2",
/// "reason": "sale"}`. Atomic; refused with 409 `insufficient_stock` below zero. With an
/// `Idempotency-Key`, a retry does not apply twice.
pub async fn adjust(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let (store, product) = keys(&req)?;
    let key = idempotency_key(&req)?;
    let body = json_body::<AdjustBody>(&req, &[])?;
    let mut e = FieldErrors::new();
    let delta = match body.delta {
        Some(d) => e.check("delta", QuantityDelta::parse(&d.0)),
        None => {
            e.add("delta", "required", "delta is required");
            None
        }
    };
    let reason = match body.reason.as_deref() {
        Some(r) => AdjustmentReason::parse(r).or_else(|| {
            let all: Vec<&str> = AdjustmentReason::ALL.iter().map(|r| r.as_str()).collect();
            e.add(
                "reason",
                "invalid_reason",
                format!("reason must be one of {}; not '{r}'", all.join(", ")),
            );
            None
        }),
        None => {
            e.add("reason", "required", "reason is required");
            None
        }
    };
    e.finish(|| ())?;
    let outcome = app
        .catalog
        .adjust_inventory(
            &who,
            &store,
            &product,
            AdjustRequest {
                delta: delta.expect("checked"),
                reason: reason.expect("checked"),
                key,
            },
        )
        .await?;
    let version = outcome.item.version;
    Ok(response::with_etag(
        response::json(
            StatusCode::OK,
            &AdjustResponse {
                item: outcome.item,
                replayed: outcome.replayed,
            },
        ),
        version,
    ))
}
