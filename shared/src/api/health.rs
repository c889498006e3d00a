//! `GET /v1/health` (liveness: no authentication, no storage calls) and `GET /v1/health/ready`
//! (readiness: one cheap read of each table and bucket).

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::App;
use crate::http::{ApiResult, Problem, response};
use crate::services::health::Readiness;

/// The function is up.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// The build's version.
    version: &'static str,
    /// `aws` or `embedded`.
    backend: &'static str,
}

#[utoipa::path(
    get, path = "/v1/health", operation_id = "health", tag = "health",
    summary = "Liveness: the function answers (no storage call)",
    responses((status = 200, description = "Up", body = Health)),
)]
pub async fn get(State(app): State<Arc<App>>) -> ApiResult {
    Ok(response::json(
        StatusCode::OK,
        Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            backend: app.backend,
        },
    ))
}

#[utoipa::path(
    get, path = "/v1/health/ready", operation_id = "health-ready", tag = "health",
    summary = "Readiness: every table and bucket answers a read",
    description = "One read of an absent item from each table and an absent object from each bucket, each within 3 s.",
    responses(
        (status = 200, description = "Every part answered", body = Readiness),
        (status = 503, description = "`not_ready`: `checks` says which part is down"),
    ),
)]
pub async fn ready(State(app): State<Arc<App>>) -> ApiResult {
    let readiness = app.catalog.readiness(app.accounts.probe()).await;
    if readiness.ready {
        return Ok(response::json(StatusCode::OK, readiness));
    }
    let down: Vec<&str> = readiness
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.part)
        .collect();
    let problem = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        format!("storage is not answering: {}", down.join(", ")),
    )
    .with("checks", json!(readiness.checks));
    Ok(problem.into_response())
}
