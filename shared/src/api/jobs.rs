//! CSV job routes.

use std::sync::Arc;

use http::StatusCode;

use crate::app::App;
use crate::domain::JobId;
use crate::http::request::{path_id, principal};
use crate::http::{ApiResult, Request, response};

/// `GET /v1/jobs/{job_id}`: the owner store's owners and admins; anyone else gets 404, as for
/// a job that does not exist.
pub async fn get(app: Arc<App>, req: Request) -> ApiResult {
    let who = principal(&app.tokens, &req)?;
    let id = path_id(&req, "job_id", JobId::parse)?;
    let job = app.catalog.get_job(&who, &id).await?;
    Ok(response::json(StatusCode::OK, &job))
}
