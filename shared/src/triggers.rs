//! The functions that are not API routes: each runs on an AWS event (a schedule, an S3
//! notification) rather than an HTTP request.
//!
//! Owns the event-to-service translation for them, as `api` does for routes. [`ALL`] is the
//! list the Lambda functions, the SAM template check and the sample events follow.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::app::App;
use crate::services::ServiceError;

/// What starts a trigger function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerSource {
    /// An EventBridge schedule.
    Schedule,
}

/// A trigger's handler: the app and the raw event in, a JSON summary (logged by Lambda) out.
pub type TriggerHandler = fn(Arc<App>, Value) -> BoxFuture<'static, Result<Value, ServiceError>>;

pub struct Trigger {
    /// The Lambda function (and crate under `functions/`).
    pub function: &'static str,
    pub source: TriggerSource,
    pub handler: TriggerHandler,
}

impl Trigger {
    pub async fn call(&self, app: Arc<App>, event: Value) -> Result<Value, ServiceError> {
        (self.handler)(app, event).await
    }
}

/// `index-build`: rebuilds the matching index from the catalog and publishes its snapshot.
/// The event (a scheduled EventBridge event) carries nothing it needs.
pub static INDEX_BUILD: Trigger = Trigger {
    function: "index-build",
    source: TriggerSource::Schedule,
    handler: |app, _event| {
        Box::pin(async move {
            let published = app.catalog.publish_match_index().await?;
            Ok(serde_json::to_value(published).unwrap_or(Value::Null))
        })
    },
};

/// Every trigger function.
pub static ALL: &[&Trigger] = &[&INDEX_BUILD];

/// The trigger a Lambda function runs, by function name.
pub fn by_function(name: &str) -> Option<&'static Trigger> {
    ALL.iter().copied().find(|t| t.function == name)
}
