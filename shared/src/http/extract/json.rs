//! [`JsonBody`] and [`MergePatch`]: strict JSON request bodies.
//!
//! The checks run in the order a client can act on: the content type (415), the size (413), an
//! empty body or broken syntax (400 `malformed_json`), then the shape (422 with the field's
//! path, from `serde_path_to_error`). Body types deny unknown fields in their serde derive.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::http::ApiError;

/// Largest JSON body accepted (API Gateway allows far more; nothing we take needs more).
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// A body over the limit but under this is still read to its end before the 413 goes out: a
/// client that is still sending then gets the answer, not a connection reset mid-upload (the
/// local server; in Lambda the body has arrived whole). Larger ones are refused at once.
const DRAIN_BYTES: usize = 1024 * 1024;

/// A JSON body (`application/json`) parsed into `T`, of at most `LIMIT` bytes (a route that
/// takes more, such as a batch of scans, says so in its type).
#[derive(Debug)]
pub struct JsonBody<T, const LIMIT: usize = MAX_JSON_BODY_BYTES>(pub T);

/// A JSON merge patch (RFC 7396): `application/merge-patch+json` or `application/json`.
#[derive(Debug)]
pub struct MergePatch<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync, const LIMIT: usize> FromRequest<S>
    for JsonBody<T, LIMIT>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        const { assert!(LIMIT <= DRAIN_BYTES) };
        let bytes = read(req, &[], LIMIT).await?;
        parse(&bytes).map(JsonBody)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MergePatch<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = read(req, &["application/merge-patch+json"], MAX_JSON_BODY_BYTES).await?;
        parse(&bytes).map(MergePatch)
    }
}

/// The body's bytes, once its content type (`application/json` or one of `also`) and size (at
/// most `limit`) pass.
async fn read(req: Request, also: &[&str], limit: usize) -> Result<Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !also.contains(&mime.as_str()) {
        return Err(ApiError::UnsupportedMediaType(if ct.is_empty() {
            "none".into()
        } else {
            ct
        }));
    }
    let too_large = ApiError::PayloadTooLarge { limit };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_BYTES as u64) {
        return Err(too_large);
    }
    match Limited::new(req.into_body(), DRAIN_BYTES).collect().await {
        Ok(body) => {
            let bytes = body.to_bytes();
            if bytes.len() > limit {
                return Err(too_large);
            }
            Ok(bytes)
        }
        Err(e) if e.is::<LengthLimitError>() => Err(too_large),
        Err(e) => {
            tracing::warn!(error = %e, "request body unreadable");
            Err(ApiError::bad_request(
                "body_unreadable",
                "the request body could not be read to its end",
            ))
        }
    }
}

/// Parses `bytes` into `T`: syntax errors are 400 `malformed_json`, type and shape errors 422
/// with the field's path.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "malformed_json",
            "the request body is empty; send a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    "body".to_string()
                } else {
                    path
                };
                let message = inner.to_string();
                let message = strip_position(&message);
                ApiError::field(&field, "invalid", format!("{field}: {message}"))
            }
            _ => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 20" to data errors; the field path says more.
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        n: Option<u32>,
    }

    fn request(ct: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder();
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(axum::body::Body::from(body.to_string())).unwrap()
    }

    async fn code(ct: Option<&str>, body: &str) -> String {
        match JsonBody::<Body>::from_request(request(ct, body), &()).await {
            Ok(_) => "ok".into(),
            Err(e) => e.to_problem().code,
        }
    }

    #[tokio::test]
    async fn bodies_fail_in_the_order_a_client_can_fix_them() {
        let json = Some("application/json; charset=utf-8");
        assert_eq!(code(json, r#"{"name":"x"}"#).await, "ok");
        assert_eq!(
            code(None, r#"{"name":"x"}"#).await,
            "unsupported_media_type"
        );
        assert_eq!(
            code(Some("text/plain"), "{}").await,
            "unsupported_media_type"
        );
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_JSON_BODY_BYTES));
        assert_eq!(code(json, &big).await, "body_too_large");
        assert_eq!(code(json, "  ").await, "malformed_json");
        assert_eq!(code(json, "{").await, "malformed_json");
        assert_eq!(code(json, r#"{"name":"x"} {}"#).await, "malformed_json");
        assert_eq!(
            code(json, r#"{"name":"x","extra":1}"#).await,
            "validation_failed"
        );
        let e = JsonBody::<Body>::from_request(request(json, r#"{"name":"x","n":-1}"#), &())
            .await
            .unwrap_err()
            .to_problem();
        assert_eq!(e.errors[0].field, "n");
        let patch = MergePatch::<Body>::from_request(
            request(Some("application/merge-patch+json"), r#"{"name":"x"}"#),
            &(),
        )
        .await;
        assert!(patch.is_ok());
    }
}
