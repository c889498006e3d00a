//! [`Query<T>`] and [`Paged<T>`]: strict query strings.
//!
//! `T` derives `Deserialize` with `deny_unknown_fields` (read with `serde_urlencoded`) and
//! `IntoParams` (its parameters in the OpenAPI document). The names the document lists are the
//! names accepted: an unknown name is `unknown_parameter`, a name given twice
//! `repeated_parameter`, and a bad value a field error on `query.<name>`. Field helpers
//! ([`whole_number`], [`flag`]) fail with a message `code: text`, which becomes the error's
//! code; any other serde message gets the code `invalid`.

use std::collections::HashSet;
use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use crate::domain::FieldErrors;
use crate::http::ApiError;
use crate::services::PageRequest;

/// The query string parsed into `T`.
#[derive(Debug)]
pub struct Query<T>(pub T);

/// A listing's query string: `T`'s filters and the page ([`PageParams`]).
#[derive(Debug)]
pub struct Paged<T = NoFilters>(pub T, pub PageRequest);

/// A listing with nothing to filter by.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoFilters {}

/// The page a listing asks for.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `next_cursor` of the previous page (opaque; only valid for the same listing).
    cursor: Option<String>,
    /// Items per page, 1 to 100 (default 25).
    #[serde(default, deserialize_with = "whole_number")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

impl<T: DeserializeOwned + IntoParams, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (pairs, mut errors) = pairs(parts.uri.query().unwrap_or(""));
        let value = decode::<T>(&pairs, &[]).map_err(|e| errors.0.extend(e.0));
        match value {
            Ok(value) => errors.finish(|| Query(value)).map_err(ApiError::Invalid),
            Err(()) => Err(ApiError::Invalid(errors)),
        }
    }
}

/// The names [`PageParams`] takes, read once.
static PAGE_NAMES: LazyLock<Vec<String>> = LazyLock::new(names::<PageParams>);

impl<T: DeserializeOwned + IntoParams, S: Send + Sync> FromRequestParts<S> for Paged<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (pairs, mut errors) = pairs(parts.uri.query().unwrap_or(""));
        let (page, rest): (Vec<_>, Vec<_>) =
            pairs.into_iter().partition(|(k, _)| PAGE_NAMES.contains(k));
        let filters = decode::<T>(&rest, &PAGE_NAMES).map_err(|e| errors.0.extend(e.0));
        let page = decode::<PageParams>(&page, &[]).map_err(|e| errors.0.extend(e.0));
        let page = page.map(|p| PageRequest {
            cursor: p.cursor,
            limit: p.limit,
        });
        if let Ok(page) = &page {
            page.validate(&mut errors);
        }
        match (filters, page) {
            (Ok(filters), Ok(page)) => errors
                .finish(|| Paged(filters, page))
                .map_err(ApiError::Invalid),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

/// The decoded name/value pairs of a query string (a repeated name's first value), and an
/// error for each name given twice.
fn pairs(raw: &str) -> (Vec<(String, String)>, FieldErrors) {
    let mut seen = HashSet::new();
    let mut errors = FieldErrors::new();
    let mut pairs = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()).into_owned() {
        if seen.contains(&k) {
            errors.add(
                format!("query.{k}"),
                "repeated_parameter",
                format!("query parameter '{k}' is given more than once"),
            );
        } else {
            seen.insert(k.clone());
            pairs.push((k, v));
        }
    }
    (pairs, errors)
}

/// The query parameter names `T` documents (and so accepts).
fn names<T: IntoParams>() -> Vec<String> {
    T::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// `pairs` as `T`; `also` are names another part of the extractor takes. (The pairs are
/// encoded again for serde_urlencoded: a microsecond, against the strictness it buys.)
fn decode<T: DeserializeOwned + IntoParams>(
    pairs: &[(String, String)],
    also: &[String],
) -> Result<T, FieldErrors> {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let known = names::<T>();
        let mut errors = FieldErrors::new();
        for (k, _) in pairs.iter().filter(|(k, _)| !known.contains(k)) {
            let mut expected: Vec<&str> = known.iter().map(String::as_str).collect();
            expected.extend(also.iter().map(String::as_str));
            errors.add(
                format!("query.{k}"),
                "unknown_parameter",
                format!(
                    "unknown query parameter '{k}'; expected one of: {}",
                    expected.join(", ")
                ),
            );
        }
        if errors.is_empty() {
            let name = e.path().to_string();
            let message = e.into_inner().to_string();
            match message.split_once(": ").filter(|(code, _)| is_code(code)) {
                Some((code, text)) => {
                    errors.add(format!("query.{name}"), code, format!("{name} {text}"))
                }
                None => errors.add(
                    format!("query.{name}"),
                    "invalid",
                    format!("{name}: {message}"),
                ),
            }
        }
        errors
    })
}

fn is_code(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A whole number parameter (`limit=10`); fails with `invalid_number`.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let raw = std::borrow::Cow::<str>::deserialize(d)?;
    raw.parse().map(Some).map_err(|_| {
        D::Error::custom(format!(
            "invalid_number: must be a whole number, not '{raw}'"
        ))
    })
}

/// A yes/no parameter: `true`/`false`/`1`/`0`; fails with `invalid_bool`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let raw = std::borrow::Cow::<str>::deserialize(d)?;
    match raw.as_ref() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        other => Err(D::Error::custom(format!(
            "invalid_bool: must be true or false, not '{other}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    struct Filters {
        name: Option<String>,
        #[serde(default, deserialize_with = "flag")]
        low_stock: Option<bool>,
    }

    fn parts(query: &str) -> Parts {
        http::Request::get(format!("/x?{query}"))
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    async fn paged(query: &str) -> Result<Paged<Filters>, Vec<(String, String)>> {
        Paged::<Filters>::from_request_parts(&mut parts(query), &())
            .await
            .map_err(|e| {
                e.to_problem()
                    .errors
                    .into_iter()
                    .map(|e| (e.field, e.code))
                    .collect()
            })
    }

    fn err(field: &str, code: &str) -> (String, String) {
        (field.to_string(), code.to_string())
    }

    #[tokio::test]
    async fn queries_are_strict_and_say_which_parameter_is_wrong() {
        let Paged(f, page) = paged("name=dal%20chawal&low_stock=1&limit=5&cursor=abc")
            .await
            .unwrap();
        assert_eq!(
            (
                f.name.as_deref(),
                f.low_stock,
                page.limit,
                page.cursor.as_deref()
            ),
            (Some("dal chawal"), Some(true), Some(5), Some("abc"))
        );
        let Paged(f, page) = paged("").await.unwrap();
        assert_eq!((f.name, page.limit), (None, None));
        assert_eq!(
            paged("store=s1").await.unwrap_err(),
            [err("query.store", "unknown_parameter")]
        );
        assert_eq!(
            paged("limit=1&limit=2").await.unwrap_err(),
            [err("query.limit", "repeated_parameter")]
        );
        assert_eq!(
            paged("limit=zero").await.unwrap_err(),
            [err("query.limit", "invalid_number")]
        );
        assert_eq!(
            paged("limit=0").await.unwrap_err(),
            [err("query.limit", "out_of_range")]
        );
        assert_eq!(
            paged("low_stock=maybe").await.unwrap_err(),
            [err("query.low_stock", "invalid_bool")]
        );
        assert_eq!(
            paged("low_stock=maybe&limit=x").await.unwrap_err(),
            [
                err("query.low_stock", "invalid_bool"),
                err("query.limit", "invalid_number")
            ]
        );
        let q = Query::<Filters>::from_request_parts(&mut parts("limit=3"), &()).await;
        let codes: Vec<String> = q
            .unwrap_err()
            .to_problem()
            .errors
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, ["unknown_parameter"]);
    }
}
