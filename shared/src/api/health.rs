//! `GET /v1/health`: liveness, no authentication, no storage calls.

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;

use crate::app::App;
use crate::http::{ApiResult, Request, response};

pub async fn get(app: Arc<App>, _req: Request) -> ApiResult {
    Ok(response::json(
        StatusCode::OK,
        &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "backend": app.backend }),
    ))
}
