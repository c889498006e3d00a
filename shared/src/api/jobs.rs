//! CSV import and job routes.

use std::sync::Arc;

use http::StatusCode;
use serde::Deserialize;

use crate::app::App;
use crate::domain::{FieldErrors, JobId, StoreId};
use crate::http::request::{Query, json_body, path_id, principal};
use crate::http::{ApiResult, Request, response};
use crate::services::imports::NewImport;
use crate::services::{Listing, PageRequest};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewImportBody {
    /// The exact size in bytes of the file to upload.
    content_length: Option<u64>,
    /// Defaults to `text/csv`.
    content_type: Option<String>,
}

/// `POST /v1/stores/{store_id}/imports` (store owners, admins): 201 with the job
/// (`awaiting_upload`) and `upload`, the presigned request to send the file with. The import
/// starts when the upload lands.
pub async fn create(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let store = path_id(&req, "store_id", StoreId::parse)?;
    let body = json_body::<NewImportBody>(&req, &[])?;
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
    let res = response::json(StatusCode::CREATED, &created);
    Ok(response::with_location(
        res,
        &format!("/v1/jobs/{}", created.job.job.job_id),
    ))
}

/// `GET /v1/stores/{store_id}/imports?cursor=&limit=`: the store's jobs, newest first.
pub async fn list(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let store = path_id(&req, "store_id", StoreId::parse)?;
    let query = Query::parse(&req, &["cursor", "limit"])?;
    let mut errors = FieldErrors::new();
    let page = PageRequest {
        cursor: query.get("cursor").map(str::to_string),
        limit: query.u32("limit", &mut errors),
    };
    page.validate(&mut errors);
    errors.finish(|| ())?;
    let jobs = app.catalog.list_jobs(&who, &store, &page).await?;
    let mut items = Vec::with_capacity(jobs.items.len());
    for job in jobs.items {
        items.push(app.catalog.job_view(job).await?);
    }
    Ok(response::json(
        StatusCode::OK,
        &Listing {
            items,
            next_cursor: jobs.next_cursor,
        },
    ))
}

/// `GET /v1/jobs/{job_id}`: status, counters, `progress` (0 to 1) and, when rows were
/// rejected, `report_url` (a download link to the error report, valid for an hour). The owner
/// store's owners and admins; anyone else gets 404, as for a job that does not exist.
pub async fn get(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let id = path_id(&req, "job_id", JobId::parse)?;
    let job = app.catalog.get_job(&who, &id).await?;
    Ok(response::json(
        StatusCode::OK,
        &app.catalog.job_view(job).await?,
    ))
}
