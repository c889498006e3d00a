//! Catalog product routes.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::bodies::{NewProductBody, ProductPatchBody};
use crate::app::App;
use crate::domain::{
    FieldErrors, Gtin, HistoryEntry, Product, ProductId, VerificationStatus, clean_text,
};
use crate::http::extract::{
    Caller, Deadline, Id, Idempotency, IfMatch, JsonBody, MergePatch, PageParams, Paged, Query,
    RequireIfMatch,
};
use crate::http::{ApiError, ApiResult, response};
use crate::ports::{MAX_PAGE_SIZE, ProductFilter};
use crate::services::merge::MergeReport;
use crate::services::{Decision, Listing};

pub const MAX_QUERY_CHARS: usize = 100;
pub const MAX_QUERY_WORDS: usize = 8;

/// `POST /v1/products`: 201 with the new product (pending review); with an `Idempotency-Key`,
/// a retry gets 200 and the product the first call made.
#[utoipa::path(
    post, path = "/v1/products", operation_id = "products-create", tag = "products",
    summary = "Add a product to the catalog (pending review)",
    description = "Store owners and admins. With an `Idempotency-Key`, a retry returns the product the first call made (200).",
    security(("bearer" = [])),
    params(Idempotency),
    request_body(content = NewProductBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Product, headers(("ETag" = String), ("Location" = String)),
            links(
                ("GetProduct" = (operation_id = "products-get", parameters(("product_id" = "$response.body#/product_id")))),
                ("UpdateProduct" = (operation_id = "products-update", parameters(("product_id" = "$response.body#/product_id"), ("If-Match" = "$response.header.ETag")))),
            )),
        (status = 200, description = "A retry under the same Idempotency-Key: the product the first call made", body = Product, headers(("ETag" = String), ("Location" = String))),
        (status = 403, description = "`forbidden_role` (scanners)"),
        (status = 409, description = "`barcode_taken` (with `existing_product_id`)"),
        (status = 422, description = "`validation_failed` (`errors` lists the invalid fields); `idempotency_key_reused`: the key came with another request"),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Idempotency(key): Idempotency,
    JsonBody(body): JsonBody<NewProductBody>,
) -> ApiResult {
    let content = body.validate()?;
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
    let location = format!("/v1/products/{}", p.product_id);
    let version = p.version;
    let res = response::with_location(response::json(status, p), &location);
    Ok(response::with_etag(res, version))
}

/// `GET /v1/products/{product_id}`
#[utoipa::path(
    get, path = "/v1/products/{product_id}", operation_id = "products-get", tag = "products",
    summary = "Read a product",
    description = "Every role.",
    security(("bearer" = [])),
    params(Id<ProductId>),
    responses(
        (status = 200, description = "The product", body = Product, headers(("ETag" = String))),
        (status = 404, description = "`product_not_found`"),
    )
)]
pub async fn get(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
) -> ApiResult {
    let p = app.catalog.get_product(&who, &id).await?;
    let version = p.version;
    Ok(response::with_etag(
        response::json(StatusCode::OK, p),
        version,
    ))
}

/// Where a read of the change feed starts, and its size.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// `next_since` of the last page; absent: from the start (a first sync reads every
    /// product once).
    since: Option<String>,
    /// Products a page, 1 to 100 (100 when absent).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// `GET /v1/products/changes?since=&limit=`: the catalog's change feed.
#[utoipa::path(
    get, path = "/v1/products/changes", operation_id = "products-changes", tag = "products",
    summary = "The catalog's changes since a cursor (syncing a copy of the catalog)",
    description = "Every role. The products created or changed after `since`, as they are now, in the order of their last change, and `next_since` to go on from. Start without `since` (every product, once), follow `next_since` while `more` is true, keep the last `next_since` and ask again later for what changed meanwhile: each change is given once, in order, across pages, while writes go on (a product changed twice before it is read is given once, as it is then). A change is in the feed about 10 seconds after it is made. Merged and rejected products are given too (their `verification_status` says so).",
    security(("bearer" = [])),
    params(ChangesQuery),
    responses(
        (status = 200, description = "A page of changes", body = crate::services::Changes),
    )
)]
pub async fn changes(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Query(query): Query<ChangesQuery>,
) -> ApiResult {
    if let Some(l) = query.limit
        && !(1..=MAX_PAGE_SIZE).contains(&l)
    {
        return Err(ApiError::field(
            "query.limit",
            "out_of_range",
            format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    let page = app
        .catalog
        .product_changes(&who, query.since.as_deref(), query.limit)
        .await?;
    Ok(response::json(StatusCode::OK, page))
}

/// Filters of the product listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// An exact barcode: the one product that has it (or none); combines with nothing else.
    barcode: Option<String>,
    /// An image's SHA-256 (64 lower-case hex digits): the products whose image it is (at most
    /// 100, one page); combines with nothing else.
    #[param(pattern = "^[0-9a-f]{64}$")]
    image_hash: Option<String>,
    /// Words that must all appear in the name, brand or barcode (at most 8).
    #[param(max_length = 100)]
    q: Option<String>,
    /// A category, or its top level (`Snacks` finds `Snacks > Namkeen`).
    category: Option<String>,
    /// One review state.
    #[param(value_type = Option<VerificationStatus>)]
    status: Option<String>,
}

/// The lower-case words of a `q` parameter (at most [`MAX_QUERY_WORDS`]), or its errors.
pub(crate) fn query_words(q: &str, errors: &mut FieldErrors) -> Vec<String> {
    let Some(q) = errors.check("query.q", clean_text(q, MAX_QUERY_CHARS, false)) else {
        return Vec::new();
    };
    let words: Vec<String> = q
        .to_lowercase()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if words.len() > MAX_QUERY_WORDS {
        errors.add(
            "query.q",
            "too_many_words",
            format!("q may have at most {MAX_QUERY_WORDS} words"),
        );
    }
    words
}

/// A `category` parameter, cleaned, or its error.
pub(crate) fn query_category(c: &str, errors: &mut FieldErrors) -> Option<String> {
    errors.check(
        "query.category",
        clean_text(c, crate::domain::product::MAX_CATEGORY_CHARS, false),
    )
}

/// `GET /v1/products?barcode=` (exact lookup) or
/// `GET /v1/products?q=&category=&status=&cursor=&limit=` (listing).
#[utoipa::path(
    get, path = "/v1/products", operation_id = "products-list", tag = "products",
    summary = "Find products by barcode, or list them by words, category and status",
    description = "Every role. `barcode` is an exact lookup (a page of at most one product) and combines with no other parameter; so is `image_hash` (the products whose image it is, at most 100).",
    security(("bearer" = [])),
    params(ProductQuery, PageParams),
    responses(
        (status = 200, description = "A page of products", body = Listing<Product>),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Paged(query, page): Paged<ProductQuery>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    if let Some(hash) = &query.image_hash {
        let others: Vec<&str> = [
            ("barcode", query.barcode.is_some()),
            ("q", query.q.is_some()),
            ("category", query.category.is_some()),
            ("status", query.status.is_some()),
            ("cursor", page.cursor.is_some()),
            ("limit", page.limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect();
        if !others.is_empty() {
            return Err(ApiError::field(
                "query.image_hash",
                "exclusive",
                format!("image_hash cannot be combined with {}", others.join(", ")),
            ));
        }
        if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ApiError::field(
                "query.image_hash",
                "invalid_image_hash",
                "image_hash is a SHA-256: 64 lower-case hex digits",
            ));
        }
        let listing = Listing {
            items: app.catalog.products_with_image(&who, hash).await?,
            next_cursor: None,
        };
        return Ok(response::json(StatusCode::OK, listing));
    }
    if let Some(raw) = &query.barcode {
        let others: Vec<&str> = [
            ("q", query.q.is_some()),
            ("category", query.category.is_some()),
            ("status", query.status.is_some()),
            ("cursor", page.cursor.is_some()),
            ("limit", page.limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect();
        if !others.is_empty() {
            return Err(ApiError::field(
                "query.barcode",
                "exclusive",
                format!("barcode cannot be combined with {}", others.join(", ")),
            ));
        }
        let barcode = errors.check("query.barcode", Gtin::parse(raw));
        errors.finish(|| ())?;
        let found = app
            .catalog
            .find_product_by_barcode(&who, &barcode.expect("checked"))
            .await?;
        let listing = Listing {
            items: found.into_iter().collect(),
            next_cursor: None,
        };
        return Ok(response::json(StatusCode::OK, listing));
    }
    let mut filter = ProductFilter::default();
    if let Some(q) = &query.q {
        filter.words = query_words(q, &mut errors);
    }
    if let Some(c) = &query.category {
        filter.category = query_category(c, &mut errors);
    }
    if let Some(s) = &query.status {
        filter.status = VerificationStatus::parse(s);
        if filter.status.is_none() {
            errors.add(
                "query.status",
                "invalid_status",
                format!("status must be one of pending, approved, rejected, merged; not '{s}'"),
            );
        }
    }
    errors.finish(|| ())?;
    let listing = app.catalog.list_products(&who, filter, &page).await?;
    Ok(response::json(StatusCode::OK, listing))
}

/// `PATCH /v1/products/{product_id}` (admin): a JSON merge patch, applied only if `If-Match`
/// names the current version (else 412); without `If-Match`, 428.
#[utoipa::path(
    patch, path = "/v1/products/{product_id}", operation_id = "products-update", tag = "products",
    summary = "Edit or review a product (admins)",
    description = "Admins. A JSON merge patch (RFC 7396): absent fields stay, `null` clears. Applied only to the version `If-Match` names. Merging is not a patch (it moves every store's stock): `verification_status: merged` or a `merged_into` is `422 use_merge`; use `POST /v1/products/{product_id}/merge`.",
    security(("bearer" = [])),
    params(
        Id<ProductId>,
        RequireIfMatch,
    ),
    request_body(content(
        (ProductPatchBody = "application/merge-patch+json"),
        (ProductPatchBody = "application/json"),
    )),
    responses(
        (status = 200, description = "The updated product", body = Product, headers(("ETag" = String))),
        (status = 403, description = "`forbidden_role` (only admins edit products)"),
        (status = 404, description = "`product_not_found`"),
        (status = 409, description = "`barcode_taken` (with `existing_product_id`)"),
        (status = 412, description = "`version_mismatch` (with `current_version`)"),
        (status = 422, description = "`validation_failed` (`errors` lists the invalid fields; `use_merge`: merge with its own route)"),
        (status = 428, description = "`precondition_required`: send If-Match"),
    )
)]
pub async fn update(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
    RequireIfMatch(version): RequireIfMatch,
    MergePatch(body): MergePatch<ProductPatchBody>,
) -> ApiResult {
    let changes = body.validate()?;
    let p = app
        .catalog
        .update_product(&who, &id, version, changes)
        .await?;
    let version = p.version;
    Ok(response::with_etag(
        response::json(StatusCode::OK, p),
        version,
    ))
}

/// `POST /v1/products/{product_id}/approve` (admin).
#[utoipa::path(
    post, path = "/v1/products/{product_id}/approve", operation_id = "products-approve", tag = "review",
    summary = "Approve a product (admins, reviewers)",
    description = "Admins and reviewers. The product becomes `approved`, with a history entry. Approving an approved product changes nothing (the same answer). With `If-Match`, only the version read is decided on: a decision resent after someone else's (a reject in between) is `412`, not applied over it.",
    security(("bearer" = [])),
    params(Id<ProductId>, IfMatch),
    responses(
        (status = 200, description = "The product, approved", body = Product, headers(("ETag" = String))),
        (status = 403, description = "`forbidden_role` (only admins and reviewers review)"),
        (status = 404, description = "`product_not_found`"),
        (status = 409, description = "`product_merged`: a merged product is final"),
        (status = 412, description = "`version_mismatch` (with `current_version`): the product changed since the version `If-Match` names"),
    )
)]
pub async fn approve(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
    IfMatch(expected): IfMatch,
) -> ApiResult {
    let p = app
        .catalog
        .decide_product(&who, &id, Decision::Approve, expected)
        .await?;
    let version = p.version;
    Ok(response::with_etag(
        response::json(StatusCode::OK, p),
        version,
    ))
}

/// `POST /v1/products/{product_id}/lookup` (admins, reviewers).
#[utoipa::path(
    post, path = "/v1/products/{product_id}/lookup", operation_id = "products-lookup", tag = "review",
    summary = "Look a product up in Open Food Facts again (admins, reviewers)",
    description = "Admins and reviewers. A product with a barcode is looked up in Open Food Facts when it is created; this asks for the lookup again (one that failed while OFF was down, found nothing, or found less than OFF knows now). The product's `enrichment` becomes `queued` and the lookup runs within seconds to minutes; it fills only what the product lacks, never its review status. A lookup already queued is asked for again as it is.",
    security(("bearer" = [])),
    params(Id<ProductId>),
    responses(
        (status = 202, description = "The product, its lookup queued", body = Product, headers(("ETag" = String))),
        (status = 403, description = "`forbidden_role`"),
        (status = 404, description = "`product_not_found`"),
        (status = 409, description = "`no_barcode`: nothing to look up; `product_merged`: a merged product is final"),
    )
)]
pub async fn lookup(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
) -> ApiResult {
    let p = app.catalog.request_lookup(&who, &id).await?;
    let version = p.version;
    Ok(response::with_etag(
        response::json(StatusCode::ACCEPTED, p),
        version,
    ))
}

/// Longest rejection reason.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a product is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// What is wrong with it (1-500 characters), for the history and whoever made it.
    #[schema(value_type = String, required, min_length = 1, max_length = 500)]
    reason: Option<String>,
}

/// `POST /v1/products/{product_id}/reject` (admin): `{"reason": "..."}`.
#[utoipa::path(
    post, path = "/v1/products/{product_id}/reject", operation_id = "products-reject", tag = "review",
    summary = "Reject a product, with a reason (admins, reviewers)",
    description = "Admins and reviewers. The product becomes `rejected`; the reason is kept in its history. Rejecting a rejected product for the reason it was last rejected for changes nothing (the same answer); another reason is recorded (a new history entry, the state unchanged). With `If-Match`, only the version read is decided on (else `412`).",
    security(("bearer" = [])),
    params(Id<ProductId>, IfMatch),
    request_body(content = RejectBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The product, rejected", body = Product, headers(("ETag" = String))),
        (status = 403, description = "`forbidden_role` (only admins and reviewers review)"),
        (status = 404, description = "`product_not_found`"),
        (status = 409, description = "`product_merged`: a merged product is final"),
        (status = 412, description = "`version_mismatch` (with `current_version`): the product changed since the version `If-Match` names"),
        (status = 422, description = "`validation_failed`: `reason` is `required`, or too long"),
    )
)]
pub async fn reject(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
    IfMatch(expected): IfMatch,
    JsonBody(body): JsonBody<RejectBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let reason = match body.reason.as_deref() {
        Some(r) => errors.check("reason", clean_text(r, MAX_REASON_CHARS, true)),
        None => {
            errors.add("reason", "required", "a rejection needs its reason");
            None
        }
    };
    errors.finish(|| ())?;
    let reason = reason.expect("checked");
    let p = app
        .catalog
        .decide_product(&who, &id, Decision::Reject { reason }, expected)
        .await?;
    let version = p.version;
    Ok(response::with_etag(
        response::json(StatusCode::OK, p),
        version,
    ))
}

/// `GET /v1/products/{product_id}/history?cursor=&limit=` (admin).
#[utoipa::path(
    get, path = "/v1/products/{product_id}/history", operation_id = "products-history", tag = "review",
    summary = "A product's history, newest first (admins, reviewers)",
    description = "Admins and reviewers. Every change since the product was created (created, updated, approved, rejected, merged): who with which role, when, from which request, why, and the before and after of each field that changed. Each entry was written in the same atomic write as its change. Kept for the product's life (no expiry).",
    security(("bearer" = [])),
    params(Id<ProductId>, PageParams),
    responses(
        (status = 200, description = "A page of history entries", body = Listing<HistoryEntry>),
        (status = 403, description = "`forbidden_role` (only admins)"),
    )
)]
pub async fn history(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
    Paged(_, page): Paged,
) -> ApiResult {
    let listing = app.catalog.product_history(&who, &id, &page).await?;
    Ok(response::json(StatusCode::OK, listing))
}

/// What to merge a product into.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The product this one duplicates (it stays; this one becomes `merged`).
    #[schema(value_type = ProductId, required)]
    into: Option<String>,
}

/// A merge stops moving stores this long before the edge gives up on the request, to answer
/// where it stands.
const MERGE_ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// `POST /v1/products/{product_id}/merge` (admin): `{"into": "<product id>"}`.
#[utoipa::path(
    post, path = "/v1/products/{product_id}/merge", operation_id = "products-merge", tag = "review",
    summary = "Merge a duplicate into the product it duplicates (admins, reviewers)",
    description = "Admins and reviewers. The product becomes `merged` into `into` (final: scans and imports of its barcode land on `into`); `into` takes the regional names and attributes it lacks (copied, with a history entry); and every store's item of it moves onto `into`: quantities add, `into`'s item keeps its fields and takes this one's where it has none (each store in one atomic write, with a `merge` movement on each side). 200 when every store has moved; 202 with `complete: false` when the request ran out of time: send the same request again to finish (a store never moves twice).",
    security(("bearer" = [])),
    params(Id<ProductId>),
    request_body(content = MergeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Merged, every store's stock moved", body = MergeReport),
        (status = 202, description = "Merged; stores still to move: send the request again", body = MergeReport),
        (status = 403, description = "`forbidden_role` (only admins and reviewers review)"),
        (status = 404, description = "`product_not_found`"),
        (status = 409, description = "`merge_into_itself`; `target_merged`: `into` was merged itself; `product_merged`: this one was merged into another already; `quantity_overflow`: a store's stock of both would pass 10000000"),
        (status = 422, description = "`validation_failed`: `into` is `required`, not an id, or `unknown_product`"),
    )
)]
pub async fn merge(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
    Deadline(deadline): Deadline,
    JsonBody(body): JsonBody<MergeBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let into = match body.into.as_deref() {
        Some(i) => errors.check("into", ProductId::parse(i)),
        None => {
            errors.add("into", "required", "into names the product to merge into");
            None
        }
    };
    errors.finish(|| ())?;
    let until = deadline
        .checked_sub(MERGE_ANSWER_MARGIN)
        .unwrap_or(deadline);
    let report = app
        .catalog
        .merge_product(&who, &id, &into.expect("checked"), until)
        .await?;
    let status = if report.complete {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(response::json(status, report))
}
