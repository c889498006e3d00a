//! Reading requests: the bearer token, JSON bodies, query strings, path ids and conditional
//! headers, each failing with a precise [`ApiError`].

use std::collections::{BTreeMap, HashSet};

use http::header;
use lambda_http::RequestExt;
use serde::de::DeserializeOwned;

use crate::auth::{AuthError, Principal, TokenKeys};
use crate::domain::{FieldErrors, IdempotencyKey};

use super::{ApiError, Request};

/// Largest JSON body accepted (API Gateway allows far more; nothing we take needs more).
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// The verified caller of `req`.
pub fn principal(tokens: &TokenKeys, req: &Request) -> Result<Principal, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::NotBearer.into());
    }
    Ok(tokens.verify(token.trim())?)
}

/// Parses a JSON body into `T` (whose serde derive should deny unknown fields). The body must
/// be `application/json` (or a `+json` type in `also`), at most [`MAX_JSON_BODY_BYTES`].
/// Syntax errors are 400 `malformed_json`; type and shape errors are 422 with the field's path.
pub fn json_body<T: DeserializeOwned>(req: &Request, also: &[&str]) -> Result<T, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
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
            ct.to_string()
        }));
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_JSON_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_JSON_BODY_BYTES,
        });
    }
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
                let message = strip_position(&inner.to_string());
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
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// A path parameter (API Gateway fills them from the route template).
pub fn path_param(req: &Request, name: &str) -> Result<String, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request("missing_path_parameter", format!("the path has no {name}"))
        })
}

/// Parses a path parameter with `parse`, reporting failures as a field error on `path.<name>`.
pub fn path_id<T, E: std::fmt::Display>(
    req: &Request,
    name: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    let raw = path_param(req, name)?;
    parse(&raw).map_err(|e| {
        ApiError::field(
            &format!("path.{name}"),
            "invalid_id",
            format!("{name} '{raw}' {e}"),
        )
    })
}

/// The query string: only `allowed` names, each at most once.
pub struct Query {
    values: BTreeMap<String, String>,
}

impl Query {
    pub fn parse(req: &Request, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut values = BTreeMap::new();
        let mut errors = FieldErrors::new();
        if let Some(q) = req.query_string_parameters_ref() {
            let mut seen = HashSet::new();
            for (k, v) in q.iter() {
                let field = format!("query.{k}");
                if !allowed.contains(&k) {
                    errors.add(
                        &field,
                        "unknown_parameter",
                        format!(
                            "unknown query parameter '{k}'; expected one of: {}",
                            allowed.join(", ")
                        ),
                    );
                } else if !seen.insert(k.to_string()) {
                    errors.add(
                        &field,
                        "repeated_parameter",
                        format!("query parameter '{k}' is given more than once"),
                    );
                } else {
                    values.insert(k.to_string(), v.to_string());
                }
            }
        }
        errors
            .finish(|| Query { values })
            .map_err(ApiError::Invalid)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A bool parameter: `true`/`false`/`1`/`0`.
    pub fn bool(&self, name: &str, errors: &mut FieldErrors) -> Option<bool> {
        match self.get(name)? {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            other => {
                errors.add(
                    format!("query.{name}"),
                    "invalid_bool",
                    format!("{name} must be true or false, not '{other}'"),
                );
                None
            }
        }
    }

    pub fn u32(&self, name: &str, errors: &mut FieldErrors) -> Option<u32> {
        let raw = self.get(name)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.add(
                    format!("query.{name}"),
                    "invalid_number",
                    format!("{name} must be a whole number, not '{raw}'"),
                );
                None
            }
        }
    }
}

/// A header value as text, or a 400 if it is not text.
fn header_text<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::bad_request("invalid_header", format!("the {name} header is not text"))
        }),
    }
}

/// `If-Match` as a version: `"3"` (an ETag as we send it) or `3`.
pub fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(v) = header_text(req, "if-match")? else {
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

/// `If-None-Match: *` (create only).
pub fn if_none_match_any(req: &Request) -> Result<bool, ApiError> {
    match header_text(req, "if-none-match")? {
        None => Ok(false),
        Some("*") => Ok(true),
        Some(other) => Err(ApiError::field(
            "header.If-None-Match",
            "unsupported",
            format!("only If-None-Match: * is supported; got {other}"),
        )),
    }
}

/// The `Idempotency-Key` header.
pub fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    match header_text(req, "idempotency-key")? {
        None => Ok(None),
        Some(v) => IdempotencyKey::parse(v).map(Some).map_err(|e| {
            ApiError::field(
                "header.Idempotency-Key",
                "invalid_id",
                format!("Idempotency-Key {e}"),
            )
        }),
    }
}
