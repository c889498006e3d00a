//! The Lambda side: what every function's `main` calls.
//!
//! Owns the cold start: JSON logs, the [`App`] from the environment (once), then the runtime
//! loop handing each API Gateway request to the function's router: the same axum router
//! `catalog serve` runs, restricted to the function's own route.

use crate::api::routes::{self, Route};
use crate::app::App;
use crate::http::layers;
use crate::triggers::Trigger;
/// The error a function `main` returns.
pub use lambda_http::Error;

/// Runs `route` as a Lambda function until the runtime stops it.
pub async fn run(route: &'static Route) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let (app, config) = App::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    let (method, path) = route.method_path();
    tracing::info!(function = route.function, %method, path, "cold start");
    route.warm_up(&app).await;
    lambda_http::run(layers::apply(routes::router(app, [route]), &config.edge)).await
}

/// Runs `trigger` (a function started by a schedule or an S3 notification) until the runtime
/// stops it. A failed run is returned as an error so Lambda records it and the source retries.
pub async fn run_trigger(trigger: &'static Trigger) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let (app, _) = App::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    tracing::info!(function = trigger.function, source = ?trigger.source, "cold start");
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let started = std::time::Instant::now();
            // The context's deadline is wall-clock milliseconds; the run measures by Instant.
            let left = std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
            let left = left.duration_since(std::time::SystemTime::now()).unwrap_or_default();
            let ctx = crate::triggers::TriggerContext {
                deadline: Some(started + left),
                lease: None,
            };
            let result = trigger.call(app, event.payload, ctx).await;
            match &result {
                Ok(summary) => tracing::info!(function = trigger.function, ms = started.elapsed().as_millis() as u64, %summary, "done"),
                Err(e) => tracing::error!(function = trigger.function, error = %e, "failed"),
            }
            result.map_err(|e| lambda_http::Error::from(e.to_string()))
        }
    }))
    .await
}
