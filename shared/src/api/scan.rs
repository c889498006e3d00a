//! `POST /v1/scan` and `POST /v1/scan/batch`: what a scanner saw, counted into a store.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{DecimalText, FieldErrors, Gtin, IdempotencyKey, Quantity, StoreId, Timestamp};
use crate::http::extract::{Caller, Deadline, JsonBody};
use crate::http::{ApiResult, batch, response};
use crate::services::{MAX_SCAN_BATCH, ScanMode, ScanOutcome, ScanRequest};

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
    /// How many were scanned (default 1): more than zero, or zero for a count of an empty shelf.
    #[schema(value_type = Option<super::bodies::QuantityInput>)]
    quantity: Option<DecimalText>,
    /// `receive` (the default) adds to stock, `sell` takes away (never below zero), `count`
    /// sets the shelf count.
    #[schema(value_type = Option<ScanMode>)]
    mode: Option<String>,
    /// The scanner's id for this scan: the same id again counts nothing (required in a batch).
    #[schema(pattern = "^[!-~]{1,128}$")]
    scan_id: Option<String>,
    /// When the device saw it (`2026-11-22T05:04:03.120Z`), recorded on the movement.
    #[schema(value_type = Option<Timestamp>)]
    device_time: Option<String>,
}

impl ScanBody {
    /// The scan it asks for, or every field that is wrong (`prefix` names the field's place).
    fn validate(&self, prefix: &str, require_id: bool) -> Result<ScanRequest, FieldErrors> {
        let mut e = FieldErrors::new();
        let f = |name: &str| format!("{prefix}{name}");
        let store_id = match &self.store_id {
            Some(s) => e.check(&f("store_id"), StoreId::parse(s)),
            None => {
                e.add(f("store_id"), "required", "store_id is required");
                None
            }
        };
        let barcode = match &self.barcode {
            Some(b) => e.check(&f("barcode"), Gtin::parse(b)),
            None => {
                e.add(f("barcode"), "required", "barcode is required");
                None
            }
        };
        let quantity = match &self.quantity {
            Some(q) => e.check(&f("quantity"), Quantity::parse(&q.0)),
            None => Some(Quantity::one()),
        };
        let mode = match self.mode.as_deref() {
            None => Some(ScanMode::Receive),
            Some(m) => ScanMode::parse(m).or_else(|| {
                e.add(
                    f("mode"),
                    "invalid_mode",
                    format!("mode must be receive, sell or count; not '{m}'"),
                );
                None
            }),
        };
        let scan_id = match self.scan_id.as_deref() {
            Some(s) => e.check(&f("scan_id"), IdempotencyKey::parse(s)),
            None if require_id => {
                e.add(
                    f("scan_id"),
                    "required",
                    "each scan of a batch needs its scan_id",
                );
                None
            }
            None => None,
        };
        let device_time = self.device_time.as_deref().and_then(|t| {
            Timestamp::parse(t)
                .map_err(|_| {
                    e.add(
                        f("device_time"),
                        "invalid_time",
                        "device_time must be UTC like 2026-11-22T05:04:03.120Z",
                    )
                })
                .ok()
        });
        e.finish(|| ScanRequest {
            store_id: store_id.expect("checked"),
            barcode: barcode.expect("checked"),
            quantity: quantity.expect("checked"),
            mode: mode.expect("checked"),
            scan_id,
            device_time,
        })
    }
}

/// Body `{"store_id", "barcode", "quantity"?, "mode"?, "scan_id"?, "device_time"?}`. 200 for a
/// known barcode, 201 when the barcode was new and a pending product was created; 422 for an
/// invalid barcode. A repeated `scan_id` returns the current state with `"replayed": true` and
/// counts nothing.
#[utoipa::path(
    post, path = "/v1/scan", operation_id = "scan", tag = "scans",
    summary = "Count a scanned barcode into a store",
    description = "Admins, and store owners and scanners of the store. `mode`: `receive` (default) adds, `sell` takes away (never below zero: 409 with `available`), `count` sets the shelf count. A barcode new to the catalog, received or counted, creates a pending product (201). A repeated `scan_id` counts nothing and says `replayed`.",
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
        (status = 409, description = "`insufficient_stock` (a sale of more than is in stock; with `available`)"),
        (status = 422, description = "`validation_failed` (`errors` lists the invalid fields; a quantity of zero to receive or sell is `zero`); `quantity_overflow`: stock would pass 10000000; `idempotency_key_reused`: the scan id came with another barcode, quantity or mode"),
        (status = 404, description = "`inventory_item_not_found`: a repeated `scan_id` whose item was deleted since the first scan; `product_not_found`: a sale of a barcode the catalog does not know, or the barcode's product was merged into one that no longer exists"),
    ),
)]
pub async fn post(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<ScanBody>,
) -> ApiResult {
    let request = body.validate("", false)?;
    let outcome = app.catalog.scan(&who, request).await?;
    let status = if outcome.product_created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(status, outcome))
}

/// A batch stops trying scans this long before the edge gives up on the request, to answer
/// with the results it has (the rest: 503, send them again).
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest body of a batch of scans: 500 scans of up to 1 KiB each.
pub const MAX_SCAN_BATCH_BODY_BYTES: usize = 512 * 1024;

/// Scans a device queued while offline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBatchBody {
    /// In the order they were scanned; each with its `scan_id`. At most 500.
    #[schema(value_type = Vec<ScanBody>, required, max_items = 500)]
    scans: Option<Vec<ScanBody>>,
}

/// One scan's result in a batch: its HTTP status as a single scan would answer, and the
/// outcome or the problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResult {
    /// The scan's `scan_id` (absent only when it was missing or invalid).
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_id: Option<String>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<ScanOutcome>,
    /// An RFC 9457 problem, as the single scan would answer it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    problem: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanBatchResponse {
    /// One per scan, in the order sent.
    results: Vec<ScanResult>,
}

/// `POST /v1/scan/batch`: `{"scans": [...]}`, up to 500 scans applied in order.
#[utoipa::path(
    post, path = "/v1/scan/batch", operation_id = "scan-batch", tag = "scans",
    summary = "Apply scans queued offline, in order",
    description = "Admins, and store owners and scanners of each scan's store. A body of at most 512 KiB with up to 500 scans, each with its `scan_id` (a scan already applied is a replay and counts nothing, so a batch may be sent again whole). Applied in order; one result per scan with the status a single scan would answer. When storage fails, or the request nears its time limit, the scans after are not tried and answer 503: send them again (those done are replays).",
    security(("bearer" = [])),
    request_body(content = ScanBatchBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per scan", body = ScanBatchResponse),
        (status = 413, description = "`body_too_large`: the body is over 524288 bytes"),
        (status = 422, description = "`validation_failed`: `scans` is missing, empty (`empty`) or longer than 500 (`too_many`)"),
    ),
)]
pub async fn batch(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Deadline(deadline): Deadline,
    JsonBody(body): JsonBody<ScanBatchBody, MAX_SCAN_BATCH_BODY_BYTES>,
) -> ApiResult {
    let scans = batch::entries(body.scans, "scans", MAX_SCAN_BATCH)?;
    let ids: Vec<Option<String>> = scans
        .iter()
        .map(|s| {
            s.scan_id
                .clone()
                .filter(|id| IdempotencyKey::parse(id).is_ok())
        })
        .collect();
    let requests = scans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.validate(&format!("scans[{i}]."), true)
                .map_err(Into::into)
        })
        .collect();
    // Time to answer with what was done, before the edge's own cut-off.
    let until = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
    let results = app.catalog.scan_batch(&who, requests, until).await;
    let results = ids
        .into_iter()
        .zip(results)
        .map(|(scan_id, r)| match r {
            Ok(outcome) => ScanResult {
                scan_id,
                status: if outcome.product_created { 201 } else { 200 },
                outcome: Some(outcome),
                problem: None,
            },
            Err(e) => {
                let (status, problem) = batch::entry_problem(e.into(), "a scan");
                ScanResult {
                    scan_id,
                    status,
                    outcome: None,
                    problem,
                }
            }
        })
        .collect();
    Ok(response::json(
        StatusCode::OK,
        ScanBatchResponse { results },
    ))
}
