//! Store inventory routes. Every route names its store in the path; a token without that store
//! gets 403 `forbidden_store`. Scanners may read (list, get, movements); owners change.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::bodies::InventoryBody;
use crate::app::App;
use crate::domain::{
    AdjustmentReason, DecimalText, FieldErrors, InventoryItem, Movement, ProductId, QuantityDelta,
    StoreId,
};
use crate::http::extract::{
    Caller, Id, Idempotency, IfMatch, IfNoneMatch, JsonBody, PageParams, Paged, flag,
};
use crate::http::{ApiResult, response};
use crate::ports::{InventoryFilter, InventoryOrder, InventorySort};
use crate::services::imports::JobView;
use crate::services::{AdjustRequest, Listing, PutRequest};

/// Filters of the inventory listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InventoryQuery {
    /// Only items at or below their reorder level (`true`/`false`/`1`/`0`).
    #[serde(default, deserialize_with = "flag")]
    low_stock: Option<bool>,
    /// Only items with nothing in stock (`true`/`false`/`1`/`0`).
    #[serde(default, deserialize_with = "flag")]
    out_of_stock: Option<bool>,
    /// Words that must all appear in the product's name, brand or barcode (at most 8).
    #[param(max_length = 100)]
    q: Option<String>,
    /// A category, or its top level (`Snacks` finds `Snacks > Namkeen`).
    category: Option<String>,
    /// `name`, `updated` (last update) or `quantity`; `-` first for the reverse
    /// (`-updated`: most recently changed first). Default: product id.
    #[param(pattern = "^-?(name|updated|quantity|product_id)$")]
    sort: Option<String>,
}

/// `GET /v1/stores/{store_id}/inventory?low_stock=&out_of_stock=&q=&category=&sort=&cursor=&limit=`
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/inventory", operation_id = "inventory-list", tag = "inventory",
    summary = "List a store's inventory, with each item's product",
    description = "Admins, the store's owners and its scanners (read-only). Each item carries its product's summary (name, brand, size, barcode, review state, thumbnail), read for the whole page at once. Words and the category filter on the product as the item last saw it. A filtered page may hold fewer items than `limit` and still have a `next_cursor`: follow it to the end.",
    security(("bearer" = [])),
    params(Id<StoreId>, InventoryQuery, PageParams),
    responses(
        (status = 200, description = "A page of items", body = Listing<InventoryItem>),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Paged(query, page): Paged<InventoryQuery>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let filter = InventoryFilter {
        low_stock: query.low_stock.unwrap_or(false),
        out_of_stock: query.out_of_stock.unwrap_or(false),
        words: query
            .q
            .as_deref()
            .map(|q| super::products::query_words(q, &mut errors))
            .unwrap_or_default(),
        category: query
            .category
            .as_deref()
            .and_then(|c| super::products::query_category(c, &mut errors)),
    };
    let order = query.sort.as_deref().map_or(Some(InventoryOrder::default()), |s| {
        let (descending, key) = match s.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, s),
        };
        let by = match key {
            "name" => InventorySort::Name,
            "updated" => InventorySort::Updated,
            "quantity" => InventorySort::Quantity,
            "product_id" => InventorySort::ProductId,
            _ => {
                errors.add(
                    "query.sort",
                    "invalid_sort",
                    format!("sort must be name, updated, quantity or product_id (with - first to reverse); not '{s}'"),
                );
                return None;
            }
        };
        Some(InventoryOrder { by, descending })
    });
    errors.finish(|| ())?;
    let listing = app
        .catalog
        .list_inventory(&who, &store, filter, order.expect("checked"), &page)
        .await?;
    Ok(response::json(StatusCode::OK, listing))
}

/// `GET /v1/stores/{store_id}/inventory/{product_id}`
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/inventory/{product_id}", operation_id = "inventory-get", tag = "inventory",
    summary = "Read one inventory item, with its product",
    description = "Admins, the store's owners and its scanners (read-only).",
    security(("bearer" = [])),
    params(
        Id<StoreId>,
        Id<ProductId>,
    ),
    responses(
        (status = 200, description = "The item", body = InventoryItem, headers(("ETag" = String))),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`inventory_item_not_found`"),
    ),
)]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(product): Id<ProductId>,
) -> ApiResult {
    let item = app
        .catalog
        .get_inventory_item(&who, &store, &product)
        .await?;
    let version = item.version;
    Ok(response::with_etag(
        response::json(StatusCode::OK, item),
        version,
    ))
}

/// `PUT /v1/stores/{store_id}/inventory/{product_id}`: sets the whole item (an explicit
/// count). `If-Match: "<version>"` replaces only that version; `If-None-Match: *` only creates.
/// 201 when created, 200 when replaced.
#[utoipa::path(
    put, path = "/v1/stores/{store_id}/inventory/{product_id}", operation_id = "inventory-put", tag = "inventory",
    summary = "Set an inventory item (an explicit count)",
    description = "Admins and the store's owners. `If-Match` replaces only that version; `If-None-Match: *` only creates.",
    security(("bearer" = [])),
    params(
        Id<StoreId>,
        Id<ProductId>,
        IfMatch,
        IfNoneMatch,
    ),
    request_body(content = InventoryBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = InventoryItem, headers(("ETag" = String)),
            links(
                ("GetItem" = (operation_id = "inventory-get", parameters(("store_id" = "$response.body#/store_id"), ("product_id" = "$response.body#/product_id")))),
                ("AdjustItem" = (operation_id = "inventory-adjust", parameters(("store_id" = "$response.body#/store_id"), ("product_id" = "$response.body#/product_id")))),
                ("DeleteItem" = (operation_id = "inventory-delete", parameters(("store_id" = "$response.body#/store_id"), ("product_id" = "$response.body#/product_id"), ("If-Match" = "$response.header.ETag")))),
            )),
        (status = 200, description = "Replaced", body = InventoryItem, headers(("ETag" = String)),
            links(
                ("GetItem" = (operation_id = "inventory-get", parameters(("store_id" = "$response.body#/store_id"), ("product_id" = "$response.body#/product_id")))),
                ("AdjustItem" = (operation_id = "inventory-adjust", parameters(("store_id" = "$response.body#/store_id"), ("product_id" = "$response.body#/product_id")))),
                ("DeleteItem" = (operation_id = "inventory-delete", parameters(("store_id" = "$response.body#/store_id"), ("product_id" = "$response.body#/product_id"), ("If-Match" = "$response.header.ETag")))),
            )),

        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`product_not_found`, or `inventory_item_not_found` with If-Match"),
        (status = 409, description = "`already_exists` (with If-None-Match: *)"),
        (status = 412, description = "`version_mismatch` (with `current_version`)"),
    ),
)]
pub async fn put(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(product): Id<ProductId>,
    IfMatch(expect_version): IfMatch,
    IfNoneMatch(create_only): IfNoneMatch,
    JsonBody(body): JsonBody<InventoryBody>,
) -> ApiResult {
    let details = body.validate()?;
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
    let version = item.version;
    Ok(response::with_etag(response::json(status, item), version))
}

/// `DELETE /v1/stores/{store_id}/inventory/{product_id}` (optionally `If-Match`): 204.
#[utoipa::path(
    delete, path = "/v1/stores/{store_id}/inventory/{product_id}", operation_id = "inventory-delete", tag = "inventory",
    summary = "Remove a product from a store's inventory",
    description = "Admins and the store's owners.",
    security(("bearer" = [])),
    params(
        Id<StoreId>,
        Id<ProductId>,
        IfMatch,
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`inventory_item_not_found`"),
        (status = 412, description = "`version_mismatch` (with `current_version`)"),
    ),
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(product): Id<ProductId>,
    IfMatch(expect): IfMatch,
) -> ApiResult {
    app.catalog
        .delete_inventory_item(&who, &store, &product, expect)
        .await?;
    Ok(response::no_content())
}

/// `GET /v1/stores/{store_id}/inventory/{product_id}/movements?cursor=&limit=`
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/inventory/{product_id}/movements", operation_id = "inventory-movements", tag = "inventory",
    summary = "An item's stock movements, newest first",
    description = "Admins, the store's owners and its scanners. Every change of the item's quantity (adjustment, scan, count, PUT, import row, removal) with who made it, why, from what request, scan or import job, and the quantity before and after. The quantity is the last count (or removal) plus every addition after it. A removed item's ledger stays readable; stocked again, its new life continues the same ledger.",
    security(("bearer" = [])),
    params(Id<StoreId>, Id<ProductId>, PageParams),
    responses(
        (status = 200, description = "A page of movements", body = Listing<Movement>),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn movements(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(product): Id<ProductId>,
    Paged(_, page): Paged,
) -> ApiResult {
    let listing = app
        .catalog
        .list_movements(&who, &store, &product, &page)
        .await?;
    Ok(response::json(StatusCode::OK, listing))
}

/// `GET /v1/stores/{store_id}/inventory/export`
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/inventory/export", operation_id = "inventory-export", tag = "inventory",
    summary = "Export a store's inventory as a CSV stock list",
    description = "Admins and the store's owners. Writes every item (at most 100000) as a UTF-8 CSV with a byte-order mark, in product id order, with the columns the import reads (`catalog_product_id`, `name`, `brand`, `size`, `barcode`, `category`, `qty`, `selling_price`, `cost_price`, `reorder_level`, `supplier`, `location`, `notes`: the product's fields as the item last saw them); text a spreadsheet would run as a formula starts with `'`. Answers the completed `export` job; `download_url` is the file for an hour, and `GET /v1/jobs/{job_id}` gives a fresh one. Importing the file into an empty store reproduces the inventory.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    responses(
        (status = 200, description = "The export job, completed with its `download_url` (or failed: `export_too_large`)", body = JobView,
            links(
                ("GetJob" = (operation_id = "jobs-get", parameters(("job_id" = "$response.body#/job_id")))),
            )),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn export(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
) -> ApiResult {
    let job = app.catalog.export_inventory(&who, &store).await?;
    Ok(response::json(StatusCode::OK, job))
}

/// A change of stock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustBody {
    /// How much the stock changes: negative for a sale or loss.
    #[schema(value_type = DecimalText, required)]
    delta: Option<DecimalText>,
    /// Why the stock changed.
    #[schema(value_type = AdjustmentReason, required)]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdjustResponse {
    item: InventoryItem,
    /// The `Idempotency-Key` had been used before: nothing changed now.
    replayed: bool,
}

/// `POST /v1/stores/{store_id}/inventory/{product_id}/adjustments`: `{"delta": "-2",
/// "reason": "sale"}`. Atomic; refused with 409 `insufficient_stock` below zero. With an
/// `Idempotency-Key`, a retry does not apply twice.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/inventory/{product_id}/adjustments", operation_id = "inventory-adjust", tag = "inventory",
    summary = "Change stock by a delta, atomically",
    description = "Admins and the store's owners. Never below zero. With an `Idempotency-Key`, a retry is applied once.",
    security(("bearer" = [])),
    params(
        Id<StoreId>,
        Id<ProductId>,
        Idempotency,
    ),
    request_body(content = AdjustBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The item after the change", body = AdjustResponse, headers(("ETag" = String))),
        (status = 404, description = "`inventory_item_not_found`"),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 409, description = "`insufficient_stock` (with `available`)"),
        (status = 422, description = "`validation_failed` (`errors` lists the invalid fields); `quantity_overflow`: stock would pass 10000000; `idempotency_key_reused`: the key came with another request"),
    ),
)]
pub async fn adjust(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(product): Id<ProductId>,
    Idempotency(key): Idempotency,
    JsonBody(body): JsonBody<AdjustBody>,
) -> ApiResult {
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
            AdjustResponse {
                item: outcome.item,
                replayed: outcome.replayed,
            },
        ),
        version,
    ))
}
