//! The HTTP edge shared by every Lambda function and the local server: routes, request
//! parsing, problem responses.
//!
//! Owns the translation between HTTP and services; no rules live here. A [`Route`] is one
//! method + path template, served by one Lambda function in AWS and by the local server's
//! router in `make run`; both call [`Route::call`], so they behave the same.

mod problem;
pub mod request;
pub mod response;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use http::Method;

pub use problem::{ApiError, PROBLEM_CONTENT_TYPE, Problem};

use crate::app::App;

pub type Request = lambda_http::Request;
pub type Response = http::Response<lambda_http::Body>;
pub type ApiResult = Result<Response, ApiError>;

/// A handler: takes the app and the request, returns a response or an error.
pub type Handler = fn(Arc<App>, Request) -> BoxFuture<'static, ApiResult>;

/// One route: what API Gateway matches, the function that serves it, and its handler.
pub struct Route {
    /// The Lambda function (and crate under `functions/`) that serves this route.
    pub function: &'static str,
    pub method: Method,
    /// API Gateway path template, e.g. `/v1/products/{product_id}`.
    pub path: &'static str,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.function)
    }
}

impl Route {
    /// Runs the handler: errors become problem responses, and a panic becomes a logged 500
    /// rather than a dead function.
    pub async fn call(&self, app: Arc<App>, req: Request) -> Response {
        let started = Instant::now();
        let result = AssertUnwindSafe((self.handler)(app, req))
            .catch_unwind()
            .await;
        let res = match result {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => e.into_response(),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(route = self.path, panic = %msg, "handler panicked");
                Problem::new(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged",
                )
                .into_response()
            }
        };
        tracing::info!(
            method = %self.method,
            route = self.path,
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        res
    }
}
