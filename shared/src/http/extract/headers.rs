//! The conditional and idempotency headers: [`IfMatch`], [`RequireIfMatch`], [`IfNoneMatch`],
//! [`Idempotency`]. Each documents itself (`params(IfMatch)` in a handler's
//! `#[utoipa::path]`), with the pattern it accepts.

use axum::extract::FromRequestParts;
use http::request::Parts;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use crate::domain::IdempotencyKey;
use crate::http::ApiError;

/// `If-Match` as a version: `"3"` (an ETag as this API sends it) or `3`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

/// `If-Match`, required: without it, 428 `precondition_required` (an edit that does not say
/// which version it read could undo someone else's).
#[derive(Debug, Clone, Copy)]
pub struct RequireIfMatch(pub u64);

/// `If-None-Match: *` (create only); any other value is refused.
#[derive(Debug, Clone, Copy)]
pub struct IfNoneMatch(pub bool);

/// The `Idempotency-Key` header: the same key again means the same request again.
#[derive(Debug, Clone)]
pub struct Idempotency(pub Option<IdempotencyKey>);

const IF_MATCH_PATTERN: &str = "^([0-9]{1,19}|\"[0-9]{1,19}\")$";

/// A header value as text, or 400 `invalid_header` if it is not text.
fn text<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, ApiError> {
    match parts.headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::bad_request("invalid_header", format!("the {name} header is not text"))
        }),
    }
}

fn version(parts: &Parts) -> Result<Option<u64>, ApiError> {
    let Some(v) = text(parts, "if-match")? else {
        return Ok(None);
    };
    let bare = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v);
    bare.parse::<u64>().map(Some).map_err(|_| {
        ApiError::field(
            "header.If-Match",
            "invalid_etag",
            format!("If-Match must be an ETag from this API, like \"3\"; got {v}"),
        )
    })
}

/// The document's entry for a header.
fn header(name: &str, required: bool, pattern: &str, description: &str) -> Vec<Parameter> {
    vec![
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(if required {
                Required::True
            } else {
                Required::False
            })
            .description(Some(description))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(pattern)),
            ))
            .build(),
    ]
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        version(parts).map(IfMatch)
    }
}

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        header(
            "If-Match",
            false,
            IF_MATCH_PATTERN,
            "Act only on this version: the ETag from a read, like \"3\" (else 412).",
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequireIfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        version(parts)?.map(RequireIfMatch).ok_or_else(|| {
            ApiError::PreconditionRequired(
                "send If-Match with the ETag from a read so concurrent edits are not lost".into(),
            )
        })
    }
}

impl IntoParams for RequireIfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        header(
            "If-Match",
            true,
            IF_MATCH_PATTERN,
            "The ETag from a read, like \"3\": the edit applies only to that version (else 412; 428 without it).",
        )
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

impl IntoParams for IfNoneMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        header(
            "If-None-Match",
            false,
            "^[*]$",
            "`*`: only create (else 409 `already_exists`).",
        )
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

impl IntoParams for Idempotency {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        header(
            "Idempotency-Key",
            false,
            "^[!-~]{1,128}$",
            "The same key again means the same request again: it is applied once, and answered \
             as the first time (1 to 128 visible ASCII characters; reused with another request: \
             422 `idempotency_key_reused`).",
        )
    }
}
