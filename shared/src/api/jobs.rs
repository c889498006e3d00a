//! CSV import and job routes.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{FieldErrors, JobId, StoreId};
use crate::http::extract::{Caller, Id, JsonBody, PageParams, Paged};
use crate::http::{ApiResult, response};
use crate::services::Listing;
use crate::services::imports::{CreatedImport, JobView, NewImport};

/// The file a store owner is about to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewImportBody {
    /// The exact size in bytes of the file to upload.
    #[schema(value_type = u64, required)]
    content_length: Option<u64>,
    /// Defaults to `text/csv`.
    content_type: Option<String>,
}

/// `POST /v1/stores/{store_id}/imports` (store owners, admins): 201 with the job
/// (`awaiting_upload`) and `upload`, the presigned request to send the file with. The import
/// starts when the upload lands.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/imports", operation_id = "imports-create", tag = "imports",
    summary = "Start a CSV import: get a presigned upload for the file",
    description = "Admins and the store's owners. The import starts when the upload lands; follow it at `GET /v1/jobs/{job_id}`.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    request_body(content = NewImportBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The job (`awaiting_upload`) and the request to upload the file with", body = CreatedImport, headers(("Location" = String)),
            links(("GetJob" = (operation_id = "jobs-get", parameters(("job_id" = "$response.body#/job_id")))))),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    JsonBody(body): JsonBody<NewImportBody>,
) -> ApiResult {
    let Some(content_length) = body.content_length else {
        return Err(FieldErrors::single(
            "content_length",
            "required",
            "content_length (the file's size in bytes) is required",
        )
        .into());
    };
    let content_type = body.content_type.unwrap_or_else(|| "text/csv".to_string());
    let created = app
        .catalog
        .create_import(
            &who,
            &store,
            NewImport {
                content_length,
                content_type,
            },
        )
        .await?;
    let location = format!("/v1/jobs/{}", created.job.job.job_id);
    let res = response::json(StatusCode::CREATED, created);
    Ok(response::with_location(res, &location))
}

/// `GET /v1/stores/{store_id}/imports?cursor=&limit=`: the store's jobs, newest first.
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/imports", operation_id = "imports-list", tag = "imports",
    summary = "List a store's imports, newest first",
    description = "Admins and the store's owners.",
    security(("bearer" = [])),
    params(Id<StoreId>, PageParams),
    responses(
        (status = 200, description = "A page of jobs", body = Listing<JobView>),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Paged(_, page): Paged,
) -> ApiResult {
    let jobs = app.catalog.list_jobs(&who, &store, &page).await?;
    let mut items = Vec::with_capacity(jobs.items.len());
    for job in jobs.items {
        items.push(app.catalog.job_view(job).await?);
    }
    Ok(response::json(
        StatusCode::OK,
        Listing {
            items,
            next_cursor: jobs.next_cursor,
        },
    ))
}

/// `GET /v1/jobs/{job_id}`: status, counters, `progress` (0 to 1) and, when rows were
/// rejected, `report_url` (a download link to the error report, valid for an hour). The owner
/// store's owners and admins; anyone else gets 404, as for a job that does not exist.
#[utoipa::path(
    get, path = "/v1/jobs/{job_id}", operation_id = "jobs-get", tag = "imports",
    summary = "Follow an import",
    description = "Admins and the owning store's owners; another store's owner gets 404, as for a job that does not exist, and a scanner 403. `report_url` links the error report when rows were rejected (valid for an hour).",
    security(("bearer" = [])),
    params(Id<JobId>),
    responses(
        (status = 200, description = "The job, its progress (0 to 1) and its report", body = JobView),
        (status = 403, description = "`forbidden_role` (scanners)"),
        (status = 404, description = "`job_not_found`"),
    ),
)]
pub async fn get(State(app): State<Arc<App>>, Caller(who): Caller, Id(id): Id<JobId>) -> ApiResult {
    let job = app.catalog.get_job(&who, &id).await?;
    Ok(response::json(
        StatusCode::OK,
        app.catalog.job_view(job).await?,
    ))
}
