//! `POST /v1/scan`: what a scanner saw, counted into a store.

use std::sync::Arc;

use http::StatusCode;
use serde::Deserialize;

use crate::app::App;
use crate::domain::{DecimalText, FieldErrors, Gtin, IdempotencyKey, Quantity, StoreId};
use crate::http::request::{json_body, principal};
use crate::http::{ApiResult, Request, response};
use crate::services::ScanRequest;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    store_id: Option<String>,
    barcode: Option<String>,
    quantity: Option<DecimalText>,
    scan_id: Option<String>,
}

/// Body `{"store_id", "barcode", "quantity"?, "scan_id"?}`. 200 for a known barcode, 201 when
/// the barcode was new and a pending product was created; 422 for an invalid barcode. A
/// repeated `scan_id` returns the current state with `"replayed": true` and counts nothing.
pub async fn post(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let body = json_body::<ScanBody>(&req, &[])?;
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
    Ok(response::json(status, &outcome))
}
