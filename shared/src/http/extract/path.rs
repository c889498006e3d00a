//! [`Id<T>`]: one typed path parameter, by the name the route template gives it. It documents
//! itself too (`params(Id<ProductId>)` in a handler's `#[utoipa::path]`).

use std::fmt::Display;

use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, PartialSchema};

use crate::domain::{DeviceId, IdError, JobId, KeyId, ProductId, StoreId, UserId, WebhookId};
use crate::http::ApiError;

/// A value a route template names (`{product_id}`), parsed from its text.
pub trait PathParam: Sized + PartialSchema {
    /// The parameter's name in the route template.
    const NAME: &'static str;
    /// What it is, for the document.
    const DESCRIPTION: &'static str;
    type Error: Display;
    fn parse(raw: &str) -> Result<Self, Self::Error>;
}

macro_rules! path_param {
    ($ty:ty, $name:literal, $description:literal) => {
        impl PathParam for $ty {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $description;
            type Error = IdError;
            fn parse(raw: &str) -> Result<Self, IdError> {
                <$ty>::parse(raw)
            }
        }
    };
}

path_param!(ProductId, "product_id", "The catalog product.");
path_param!(StoreId, "store_id", "The store.");
path_param!(JobId, "job_id", "The import job.");
path_param!(UserId, "user_id", "The user.");
path_param!(DeviceId, "device_id", "The store's device.");
path_param!(KeyId, "key_id", "The store's integration key.");
path_param!(WebhookId, "webhook_id", "The store's webhook.");

/// The path parameter `T::NAME`, parsed; a bad value is 422 `invalid_id` on `path.<name>`.
#[derive(Debug, Clone)]
pub struct Id<T>(pub T);

impl<T: PathParam, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| match e {
                // A parameter that is not UTF-8 once percent-decoded.
                axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(_) => {
                    invalid::<T>("(not UTF-8)", "is not valid UTF-8")
                }
                other => ApiError::Internal(format!("path parameters: {other}")),
            })?;
        // Only a handler routed under a template without the parameter gets here: a bug.
        let raw = params
            .iter()
            .find_map(|(k, v)| (k == T::NAME).then_some(v))
            .ok_or_else(|| ApiError::Internal(format!("the route has no {{{}}}", T::NAME)))?;
        T::parse(raw).map(Id).map_err(|e| invalid::<T>(raw, e))
    }
}

impl<T: PathParam> IntoParams for Id<T> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name(T::NAME)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(T::DESCRIPTION))
                .schema(Some(T::schema()))
                .build(),
        ]
    }
}

fn invalid<T: PathParam>(raw: &str, e: impl Display) -> ApiError {
    ApiError::field(
        &format!("path.{}", T::NAME),
        "invalid_id",
        format!("{} '{raw}' {e}", T::NAME),
    )
}
