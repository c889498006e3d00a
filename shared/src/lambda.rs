//! The Lambda side: what every function's `main` calls.
//!
//! Owns the cold start: JSON logs, the [`App`] from the environment (once), then the runtime
//! loop handing each API Gateway request to the route.

use std::convert::Infallible;

use lambda_http::{Request, service_fn};

use crate::app::App;
use crate::http::Route;
/// The error a function `main` returns.
pub use lambda_http::Error;

/// Runs `route` as a Lambda function until the runtime stops it.
pub async fn run(route: &'static Route) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = App::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    tracing::info!(function = route.function, method = %route.method, path = route.path, "cold start");
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(route.call(app, req).await) }
    }))
    .await
}
