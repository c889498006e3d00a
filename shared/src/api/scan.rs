//! `POST /v1/scan`: what a scanner saw, counted into a store.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{DecimalText, FieldErrors, Gtin, IdempotencyKey, Quantity, StoreId};
use crate::http::extract::{Caller, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::{ScanOutcome, ScanRequest};

/// One scan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    /// The store the item is counted into.
    #[schema(value_type = StoreId, required)]
    store_id: Option<String>,
    /// The barcode read (a valid GTIN).
    #[schema(value_type = Gtin, required)]
    barcode: Option<String>,
    /// How many were scanned (default 1; more than zero).
    #[schema(value_type = Option<super::bodies::QuantityInput>)]
    quantity: Option<DecimalText>,
    /// The scanner's id for this scan: the same id again counts nothing.
    #[schema(pattern = "^[!-~]{1,128}$")]
    scan_id: Option<String>,
}

/// Body `{"store_id", "barcode", "quantity"?, "scan_id"?}`. 200 for a known barcode, 201 when
/// the barcode was new and a pending product was created; 422 for an invalid barcode. A
/// repeated `scan_id` returns the current state with `"replayed": true` and counts nothing.
#[utoipa::path(
    post, path = "/v1/scan", operation_id = "scan", tag = "scans",
    summary = "Count a scanned barcode into a store",
    description = "Admins, and store owners and scanners of the store. A barcode new to the catalog creates a pending product (201). A repeated `scan_id` counts nothing and says `replayed`.",
    security(("bearer" = [])),
    request_body(content = ScanBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A known barcode, counted", body = ScanOutcome,
            links(
                ("GetProduct" = (operation_id = "products-get", parameters(("product_id" = "$response.body#/product/product_id")))),
                ("GetItem" = (operation_id = "inventory-get", parameters(("store_id" = "$response.body#/item/store_id"), ("product_id" = "$response.body#/item/product_id")))),
            )),
        (status = 201, description = "A new barcode: a pending product was created and counted", body = ScanOutcome,
            links(
                ("GetProduct" = (operation_id = "products-get", parameters(("product_id" = "$response.body#/product/product_id")))),
                ("GetItem" = (operation_id = "inventory-get", parameters(("store_id" = "$response.body#/item/store_id"), ("product_id" = "$response.body#/item/product_id")))),
            )),
        (status = 403, description = "`forbidden_store`"),
        (status = 422, description = "`validation_failed` (`errors` lists the invalid fields; a quantity of zero is `zero`); `quantity_overflow`: stock would pass 10000000; `idempotency_key_reused`: the scan id came with another barcode or quantity"),
        (status = 404, description = "`inventory_item_not_found`: a repeated `scan_id` whose item was deleted since the first scan; `product_not_found`: the barcode's product was merged into one that no longer exists"),
    ),
)]
pub async fn post(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<ScanBody>,
) -> ApiResult {
    let mut e = FieldErrors::new();
    let store_id = match &body.store_id {
        Some(s) => e.check("store_id", StoreId::parse(s)),
        None => {
            e.add("store_id", "required", "store_id is required");
            None
        }
    };
    let barcode = match &body.barcode {
        Some(b) => e.check("barcode", Gtin::parse(b)),
        None => {
            e.add("barcode", "required", "barcode is required");
            None
        }
    };
    let quantity = match &body.quantity {
        Some(q) => e.check("quantity", Quantity::parse(&q.0)),
        None => Some(Quantity::one()),
    };
    let scan_id = body
        .scan_id
        .as_deref()
        .and_then(|s| e.check("scan_id", IdempotencyKey::parse(s)));
    e.finish(|| ())?;
    let request = ScanRequest {
        store_id: store_id.expect("checked"),
        barcode: barcode.expect("checked"),
        quantity: quantity.expect("checked"),
        scan_id,
    };
    let outcome = app.catalog.scan(&who, request).await?;
    let status = if outcome.product_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(status, outcome))
}
