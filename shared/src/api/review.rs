//! The admins' review routes: `GET /v1/review` (the queue, with each product's evidence) and
//! `POST /v1/review/decisions` (decisions in one request, each answered on its own: approve,
//! reject with a reason, merge into another product).

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::App;
use crate::domain::{FieldErrors, ProductId, ProductSource, clean_text};
use crate::http::extract::{Caller, Deadline, JsonBody, PageParams, Paged, flag};
use crate::http::{ApiError, ApiResult, batch, response};
use crate::ports::ReviewOrder;
use crate::services::review::{ReviewFilter, ReviewItem};
use crate::services::{Decision, Listing};

/// Most decisions one request carries.
pub const MAX_DECISIONS: usize = 100;

/// One decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[schema(value_type = ProductId, required)]
    product_id: Option<String>,
    /// `approve`, `reject` (with `reason`) or `merge` (with `into`).
    #[schema(required, pattern = "^(approve|reject|merge)$")]
    action: Option<String>,
    /// Why a product is rejected (1-500 characters).
    #[schema(max_length = 500)]
    reason: Option<String>,
    /// The product a merged one becomes.
    #[schema(value_type = Option<ProductId>)]
    into: Option<String>,
    /// Decide only on this version of the product (approve and reject; as `If-Match`):
    /// another is `412 version_mismatch`.
    #[schema(minimum = 1)]
    version: Option<u64>,
}

/// Decisions to apply, in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionsBody {
    /// 1 to 100 decisions.
    #[schema(value_type = Vec<DecisionBody>, required, max_items = 100)]
    decisions: Option<Vec<DecisionBody>>,
}

/// One decision's answer: the status the single route would answer, and its body or problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<String>,
    status: u16,
    /// The product after the decision (approve, reject) or the merge's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    outcome: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    problem: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionsResponse {
    /// One per decision, in the order sent.
    results: Vec<DecisionResult>,
}

/// What one decision asks for, or its field errors (`prefix` names its place).
enum Asked {
    Decide(ProductId, Decision, Option<u64>),
    Merge(ProductId, ProductId),
}

fn parse(d: &DecisionBody, prefix: &str) -> Result<Asked, FieldErrors> {
    let mut e = FieldErrors::new();
    let f = |n: &str| format!("{prefix}{n}");
    let id = match d.product_id.as_deref() {
        Some(p) => e.check(&f("product_id"), ProductId::parse(p)),
        None => {
            e.add(f("product_id"), "required", "product_id is required");
            None
        }
    };
    let asked = match d.action.as_deref() {
        Some("approve") => Some(Ok(Decision::Approve)),
        Some("reject") => match d.reason.as_deref() {
            Some(r) => e
                .check(
                    &f("reason"),
                    clean_text(r, super::products::MAX_REASON_CHARS, true),
                )
                .map(|reason| Ok(Decision::Reject { reason })),
            None => {
                e.add(f("reason"), "required", "a rejection needs its reason");
                None
            }
        },
        Some("merge") => match d.into.as_deref() {
            Some(i) => e.check(&f("into"), ProductId::parse(i)).map(Err),
            None => {
                e.add(f("into"), "required", "a merge needs into");
                None
            }
        },
        Some(other) => {
            e.add(
                f("action"),
                "invalid_action",
                format!("action must be approve, reject or merge; not '{other}'"),
            );
            None
        }
        None => {
            e.add(f("action"), "required", "action is required");
            None
        }
    };
    e.finish(|| ())?;
    let id = id.expect("checked");
    Ok(match asked.expect("checked") {
        Ok(decision) => Asked::Decide(id, decision, d.version),
        Err(into) => Asked::Merge(id, into),
    })
}

/// `POST /v1/review/decisions` (admin): `{"decisions": [...]}`.
#[utoipa::path(
    post, path = "/v1/review/decisions", operation_id = "review-decisions", tag = "review",
    summary = "Apply review decisions, each answered on its own (admins, reviewers)",
    description = "Admins and reviewers. Up to 100 decisions (`approve`; `reject` with `reason`; `merge` with `into`), applied in order, each answered with the status its own route would answer and the product (or the merge's report) or the problem. A decision that fails does not stop the others. Decisions are idempotent, so a request whose answer was lost can be sent again. A merge left incomplete (202) is finished by sending it again.",
    security(("bearer" = [])),
    request_body(content = DecisionsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per decision", body = DecisionsResponse),
        (status = 403, description = "`forbidden_role` (only admins and reviewers review)"),
        (status = 422, description = "`validation_failed`: `decisions` is missing, empty (`empty`) or longer than 100 (`too_many`)"),
    ),
)]
pub async fn decisions(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Deadline(deadline): Deadline,
    JsonBody(body): JsonBody<DecisionsBody>,
) -> ApiResult {
    who.require_role(crate::auth::REVIEWERS)
        .map_err(crate::services::ServiceError::from)?;
    let decisions = batch::entries(body.decisions, "decisions", MAX_DECISIONS)?;
    let until = deadline
        .checked_sub(std::time::Duration::from_secs(1))
        .unwrap_or(deadline);
    let mut results = Vec::with_capacity(decisions.len());
    for (i, d) in decisions.iter().enumerate() {
        let product_id = d.product_id.clone();
        let answer: Result<(u16, serde_json::Value), ApiError> =
            match parse(d, &format!("decisions[{i}].")) {
                Err(e) => Err(e.into()),
                Ok(Asked::Decide(id, decision, version)) => app
                    .catalog
                    .decide_product(&who, &id, decision, version)
                    .await
                    .map(|p| (200, serde_json::to_value(p).unwrap_or_default()))
                    .map_err(Into::into),
                Ok(Asked::Merge(id, into)) => app
                    .catalog
                    .merge_product(&who, &id, &into, until)
                    .await
                    .map(|r| {
                        let status = if r.complete { 200 } else { 202 };
                        (status, serde_json::to_value(r).unwrap_or_default())
                    })
                    .map_err(Into::into),
            };
        results.push(match answer {
            Ok((status, outcome)) => DecisionResult {
                product_id,
                status,
                outcome: Some(outcome),
                problem: None,
            },
            Err(error) => {
                let (status, problem) = batch::entry_problem(error, "a review decision");
                DecisionResult {
                    product_id,
                    status,
                    outcome: None,
                    problem,
                }
            }
        });
    }
    Ok(response::json(
        StatusCode::OK,
        DecisionsResponse { results },
    ))
}

/// Filters of the review queue.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// Where the products came from: `api`, `scan`, `import` or `openfoodfacts` (an OFF
    /// export, the demo catalog).
    #[param(pattern = "^(api|scan|import|openfoodfacts)$")]
    source: Option<String>,
    /// A category, or its top level (`Snacks` finds `Snacks > Namkeen`).
    category: Option<String>,
    /// Only products the matcher finds candidates for (`true`), or finds none for (`false`).
    #[serde(default, deserialize_with = "flag")]
    has_candidates: Option<bool>,
    /// `oldest` (the default), `quality` (lowest score first, then oldest) or `-quality`
    /// (highest first, then newest).
    #[param(pattern = "^(oldest|quality|-quality)$")]
    sort: Option<String>,
}

/// `GET /v1/review?source=&category=&has_candidates=&sort=&cursor=&limit=` (admins,
/// reviewers).
#[utoipa::path(
    get, path = "/v1/review", operation_id = "review-queue", tag = "review",
    summary = "The review queue: pending products with their evidence (admins, reviewers)",
    description = "Admins and reviewers. Pending products, oldest first (or by quality score: `sort=quality` lowest first, `sort=-quality` highest first), each with: the record (its `quality_reasons`, `source`, `created_by`, and an import's kept `match_review`), the matcher's candidates now with their evidence, duplicate flags (`barcode_one_digit_off`; `near_identical_name`: same brand and size and a Jaro-Winkler name similarity of at least 0.92), and how many stores stock it with how many units. A filtered page may hold fewer items than `limit` and still have a `next_cursor`.",
    security(("bearer" = [])),
    params(ReviewQuery, PageParams),
    responses(
        (status = 200, description = "A page of the queue", body = Listing<ReviewItem>),
        (status = 403, description = "`forbidden_role` (only admins and reviewers review)"),
    ),
)]
pub async fn queue(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Paged(query, page): Paged<ReviewQuery>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let source = query.source.as_deref().and_then(|s| {
        ProductSource::parse(s).or_else(|| {
            errors.add(
                "query.source",
                "invalid_source",
                format!("source must be api, scan, import or openfoodfacts; not '{s}'"),
            );
            None
        })
    });
    let category = query
        .category
        .as_deref()
        .and_then(|c| super::products::query_category(c, &mut errors));
    let order = match query.sort.as_deref() {
        None | Some("oldest") => ReviewOrder::Oldest,
        Some("quality") => ReviewOrder::LowestQuality,
        Some("-quality") => ReviewOrder::HighestQuality,
        Some(other) => {
            errors.add(
                "query.sort",
                "invalid_sort",
                format!("sort must be oldest, quality or -quality; not '{other}'"),
            );
            ReviewOrder::Oldest
        }
    };
    errors.finish(|| ())?;
    let listing = app
        .catalog
        .review_queue(
            &who,
            ReviewFilter {
                source,
                category,
                has_candidates: query.has_candidates,
                order,
            },
            &page,
        )
        .await?;
    Ok(response::json(StatusCode::OK, listing))
}
