//! [`Id<T>`]: one typed path parameter, by the name the route template gives it.

use std::fmt::Display;

use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;

use crate::domain::{IdError, JobId, ProductId, StoreId};
use crate::http::ApiError;

/// A value a route template names (`{product_id}`), parsed from its text.
pub trait PathParam: Sized {
    /// The parameter's name in the route template.
    const NAME: &'static str;
    type Error: Display;
    fn parse(raw: &str) -> Result<Self, Self::Error>;
}

impl PathParam for ProductId {
    const NAME: &'static str = "product_id";
    type Error = IdError;
    fn parse(raw: &str) -> Result<Self, IdError> {
        ProductId::parse(raw)
    }
}

impl PathParam for StoreId {
    const NAME: &'static str = "store_id";
    type Error = IdError;
    fn parse(raw: &str) -> Result<Self, IdError> {
        StoreId::parse(raw)
    }
}

impl PathParam for JobId {
    const NAME: &'static str = "job_id";
    type Error = IdError;
    fn parse(raw: &str) -> Result<Self, IdError> {
        JobId::parse(raw)
    }
}

/// The path parameter `T::NAME`, parsed; a bad value is 422 `invalid_id` on `path.<name>`.
#[derive(Debug, Clone)]
pub struct Id<T>(pub T);

impl<T: PathParam, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let missing = || {
            ApiError::bad_request(
                "missing_path_parameter",
                format!("the path has no {}", T::NAME),
            )
        };
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| match e {
                // A parameter that is not UTF-8 once percent-decoded.
                axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(_) => {
                    invalid::<T>("(not UTF-8)", "is not valid UTF-8")
                }
                _ => missing(),
            })?;
        let raw = params
            .iter()
            .find_map(|(k, v)| (k == T::NAME).then_some(v))
            .ok_or_else(missing)?;
        T::parse(raw).map(Id).map_err(|e| invalid::<T>(raw, e))
    }
}

fn invalid<T: PathParam>(raw: &str, e: impl Display) -> ApiError {
    ApiError::field(
        &format!("path.{}", T::NAME),
        "invalid_id",
        format!("{} '{raw}' {e}", T::NAME),
    )
}
