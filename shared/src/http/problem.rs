//! RFC 9457 problem details: the one mapping from every failure to an HTTP response.
//!
//! Owns status codes and the stable `code` of each problem (documented in the README). Internal
//! causes are logged here and never sent to the client.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::auth::AuthError;
use crate::domain::{FieldError, FieldErrors};
use crate::services::ServiceError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Everything a request can fail with at the edge or below it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// 400: the request cannot be read at all (`malformed_json`, `invalid_header`, ...).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 422: the request was read but some fields are wrong.
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("unsupported content type {0}")]
    UnsupportedMediaType(String),
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    /// The path exists but not with this method (its `Allow` header lists those that do).
    #[error("{method} is not allowed here; the Allow header lists the methods that are")]
    MethodNotAllowed { method: String },
    /// 500: a bug at the edge (a route wired wrongly); logged, never described to the client.
    #[error("{0}")]
    Internal(String),
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Invalid(e)
    }
}

/// An RFC 9457 problem: what every error response carries, as `application/problem+json`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The status's reason phrase.
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Stable and machine-readable (`validation_failed`, `barcode_taken`, ...).
    pub code: String,
    /// With `validation_failed`: every invalid field at once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Problem-specific members (`existing_product_id`, `current_version`, `available`, ...).
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: impl Into<String>, detail: impl Into<String>) -> Self {
        let code = code.into();
        Problem {
            type_: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Adds a problem-specific member.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    fn with_errors(mut self, errors: FieldErrors) -> Self {
        self.errors = errors.0;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).expect("problem serializes");
        let mut res = (
            status,
            [
                (header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Some(secs) = self
                .extra
                .get("retry_after_seconds")
                .and_then(Value::as_u64)
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(FieldErrors::single(field, code, message))
    }

    pub fn to_problem(&self) -> Problem {
        use StatusCode as S;
        match self {
            ApiError::Auth(e) => Problem::new(S::UNAUTHORIZED, e.code(), e.to_string()),
            ApiError::BadRequest { code, detail } => {
                Problem::new(S::BAD_REQUEST, *code, detail.clone())
            }
            ApiError::Invalid(errors) => validation(errors.clone()),
            ApiError::UnsupportedMediaType(ct) => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body must be application/json; got {ct}"),
            ),
            ApiError::PayloadTooLarge { limit } => Problem::new(
                S::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body must be at most {limit} bytes"),
            )
            .with("limit_bytes", json!(limit)),
            ApiError::PreconditionRequired(d) => {
                Problem::new(S::PRECONDITION_REQUIRED, "precondition_required", d.clone())
            }
            ApiError::RouteNotFound { .. } => {
                Problem::new(S::NOT_FOUND, "route_not_found", self.to_string())
            }
            ApiError::MethodNotAllowed { .. } => Problem::new(
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                self.to_string(),
            ),
            ApiError::Internal(_) => Problem::new(
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            ),
            ApiError::Service(e) => service_problem(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, cause = ?std::error::Error::source(&self), "request failed");
        }
        problem.into_response()
    }
}

fn validation(errors: FieldErrors) -> Problem {
    let detail = if errors.0.len() == 1 {
        errors.0[0].message.clone()
    } else {
        format!("{} fields are invalid", errors.0.len())
    };
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        detail,
    )
    .with_errors(errors)
}

fn service_problem(e: &ServiceError) -> Problem {
    use StatusCode as S;
    match e {
        ServiceError::Forbidden(f) => Problem::new(S::FORBIDDEN, f.code(), f.to_string()),
        ServiceError::Invalid(errors) => validation(errors.clone()),
        ServiceError::NotFound { what, .. } => Problem::new(
            S::NOT_FOUND,
            format!("{}_not_found", what.replace(' ', "_")),
            e.to_string(),
        ),
        ServiceError::BarcodeTaken { existing, .. } => {
            Problem::new(S::CONFLICT, "barcode_taken", e.to_string())
                .with("existing_product_id", json!(existing.to_string()))
        }
        ServiceError::AlreadyExists { .. } => {
            Problem::new(S::CONFLICT, "already_exists", e.to_string())
        }
        ServiceError::Conflict { code, detail } => Problem::new(S::CONFLICT, *code, detail.clone()),
        ServiceError::VersionMismatch { current } => {
            Problem::new(S::PRECONDITION_FAILED, "version_mismatch", e.to_string())
                .with("current_version", json!(current))
        }
        ServiceError::InsufficientStock { available, .. } => {
            Problem::new(S::CONFLICT, "insufficient_stock", e.to_string())
                .with("available", json!(available.to_string()))
        }
        ServiceError::QuantityOverflow { .. } => {
            Problem::new(S::UNPROCESSABLE_ENTITY, "quantity_overflow", e.to_string())
        }
        ServiceError::IdempotencyKeyReused => Problem::new(
            S::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            e.to_string(),
        ),
        ServiceError::InvalidCursor(_) => {
            Problem::new(S::BAD_REQUEST, "invalid_cursor", e.to_string())
        }
        ServiceError::SignIn { code, detail } => {
            Problem::new(S::UNAUTHORIZED, *code, detail.clone())
        }
        ServiceError::RateLimited {
            detail,
            retry_after,
        } => {
            // Whole seconds, rounded up, and never 0 (a client would retry at once).
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            Problem::new(S::TOO_MANY_REQUESTS, "rate_limited", detail.clone())
                .with("retry_after_seconds", json!(secs.max(1)))
        }
        ServiceError::Unavailable(_) => Problem::new(
            S::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is busy or unreachable; retry shortly",
        ),
        ServiceError::Internal(_) => Problem::new(
            S::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        ),
    }
}
