//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document; public, like the API's own
//! documentation.
//!
//! The document is generated from the handlers ([`super::routes::document`], `catalog
//! openapi`) and kept in the repository as `shared/openapi.json`, which this route serves as
//! it is. Built at run time instead, it would make the `openapi` function link every
//! route's handler to describe them: the largest function of all, the first over the 5 MB zip
//! limit as routes are added (README, "Cold start"). A test fails when the file is not what
//! the handlers generate; `make openapi` writes it again.

use axum::response::IntoResponse;
use http::{HeaderValue, StatusCode, header};

use crate::http::ApiResult;

/// The document as served.
static DOCUMENT: &str = include_str!("../../openapi.json");

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
        DOCUMENT,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    /// The served document is the one the handlers generate, byte for byte as `catalog
    /// openapi` prints it (`make openapi` writes it).
    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        assert!(
            super::DOCUMENT == crate::api::routes::document_text(),
            "shared/openapi.json is not the document the handlers generate: run `make openapi`"
        );
    }
}
