//! The HTTP edge shared by every Lambda function and the local server: extractors, problem
//! responses, the layers every response passes through, and the OpenAPI document.
//!
//! Owns the translation between HTTP and services; no rules live here. Handlers (in `api`) take
//! their input through [`extract`] and return [`ApiResult`]; [`layers::apply`] wraps the router
//! that [`crate::api::routes`] builds, in each Lambda function (run by `lambda_http::run`) and
//! in `catalog serve` (run by tokio) alike.

pub mod batch;
pub mod extract;
pub mod layers;
pub mod metrics;
pub mod openapi;
mod problem;
pub mod response;

pub use problem::{ApiError, PROBLEM_CONTENT_TYPE, Problem};

pub type Response = axum::response::Response;
pub type ApiResult = Result<Response, ApiError>;
