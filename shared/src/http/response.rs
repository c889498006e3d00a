//! Building responses: JSON bodies with the headers every response carries.

use http::{HeaderValue, StatusCode, header};
use lambda_http::Body;
use serde::Serialize;

use super::Response;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_string(value).expect("response types serialize");
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .expect("valid response")
}

pub fn no_content() -> Response {
    http::Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("valid response")
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
