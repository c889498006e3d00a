//! The conditional and idempotency headers: [`IfMatch`], [`IfNoneMatch`], [`Idempotency`].

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::domain::IdempotencyKey;
use crate::http::ApiError;

/// `If-Match` as a version: `"3"` (an ETag as this API sends it) or `3`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

/// `If-None-Match: *` (create only); any other value is refused.
#[derive(Debug, Clone, Copy)]
pub struct IfNoneMatch(pub bool);

/// The `Idempotency-Key` header: the same key again means the same request again.
#[derive(Debug, Clone)]
pub struct Idempotency(pub Option<IdempotencyKey>);

/// A header value as text, or 400 `invalid_header` if it is not text.
fn text<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, ApiError> {
    match parts.headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::bad_request("invalid_header", format!("the {name} header is not text"))
        }),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = text(parts, "if-match")? else {
            return Ok(IfMatch(None));
        };
        let bare = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(v);
        bare.parse::<u64>().map(|n| IfMatch(Some(n))).map_err(|_| {
            ApiError::field(
                "header.If-Match",
                "invalid_etag",
                format!("If-Match must be an ETag from this API, like \"3\"; got {v}"),
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match text(parts, "if-none-match")? {
            None => Ok(IfNoneMatch(false)),
            Some("*") => Ok(IfNoneMatch(true)),
            Some(other) => Err(ApiError::field(
                "header.If-None-Match",
                "unsupported",
                format!("only If-None-Match: * is supported; got {other}"),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match text(parts, "idempotency-key")? {
            None => Ok(Idempotency(None)),
            Some(v) => IdempotencyKey::parse(v)
                .map(|k| Idempotency(Some(k)))
                .map_err(|e| {
                    ApiError::field(
                        "header.Idempotency-Key",
                        "invalid_id",
                        format!("Idempotency-Key {e}"),
                    )
                }),
        }
    }
}
