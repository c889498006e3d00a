//! Building responses: JSON bodies, `ETag` and `Location`. Headers every response carries
//! (`Cache-Control`, `X-Request-Id`, ...) come from the edge's layers.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

pub fn json<T: Serialize>(status: StatusCode, value: T) -> Response {
    (status, Json(value)).into_response()
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Adds `ETag: "<version>"` (what `If-Match` takes back).
pub fn with_etag(mut res: Response, version: u64) -> Response {
    res.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits"),
    );
    res
}

pub fn with_location(mut res: Response, location: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}
