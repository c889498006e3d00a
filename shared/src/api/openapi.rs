//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document, generated from the handlers (see
//! [`super::routes::document`]); public, like the API's own documentation.

use std::sync::LazyLock;

use axum::response::IntoResponse;
use http::{HeaderValue, StatusCode, header};

use crate::http::ApiResult;

/// The document as served: built once per process, on the first request.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| super::routes::document().to_string());

/// Builds the document now (a function's init) rather than on the first request.
pub fn warm_up() {
    LazyLock::force(&DOCUMENT);
}

#[utoipa::path(
    get, path = "/v1/openapi.json", operation_id = "openapi", tag = "health",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn get() -> ApiResult {
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        DOCUMENT.as_str(),
    )
        .into_response())
}
