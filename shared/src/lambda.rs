//! The Lambda side: what every function's `main` calls.
//!
//! Owns the cold start. Before the runtime's first `next` a function does only what cannot
//! wait: JSON logs and its [`Config`](crate::config::Config) from the environment (a missing
//! variable fails the init, so a deploy that lacks one never serves). Its [`App`] (SDK clients, the
//! token secret read from SSM once for the process) is made by the first invocation that
//! needs it ([`Starting`]), which then starts the route's warm-up (the match index) on a task
//! of its own.
//!
//! An on-demand cold start has its invocation already waiting when the runtime polls, so work
//! done before `next` is on the first request's path all the same: doing it after costs that
//! request nothing and leaves the init as short as an empty function's. Work started alongside
//! `next` would even delay it, competing for a fraction of a vCPU (measured: by the whole app
//! build). Provisioned concurrency initialises ahead of any request, with the environment
//! frozen after `next`: there the init makes the app and waits for its warm-up, up to
//! [`WARM_UP_BUDGET`] ([`init_waits`]), so the first request finds both done.
//!
//! An app that cannot be made (SSM out of reach, a refused secret) is logged, and each
//! request answers 503 `unavailable`; the next attempt comes at most once per
//! [`RETRY_APP_AFTER`], so a broken environment does not call SSM for every request.
//!
//! Each API request goes to the function's router (the same axum router `catalog serve` runs,
//! restricted to the function's own route) through [`FunctionService`], which makes the router
//! when the app is ready; a trigger's event waits for the app the same way.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::StatusCode;
use tokio::sync::OnceCell;
use tower::{Service, ServiceExt};

use crate::api::routes::{self, Route};
use crate::app::{App, ConfigError};
use crate::config::EdgeConfig;
use crate::error_chain::ErrorChain;
use crate::http::{Problem, layers};
use crate::triggers::Trigger;
/// The error a function `main` returns.
pub use lambda_http::Error;

mod logs;

/// Runs `route` as a Lambda function until the runtime stops it.
pub async fn run(route: &'static Route) -> Result<(), lambda_http::Error> {
    logs::init();
    let config = config_from_env()?;
    // Not the route's method and path: they come from its OpenAPI item, which is built for
    // the router at the first request (each request's log line names its route).
    tracing::info!(function = route.function, "cold start");
    let edge = config.edge.clone();
    let starting = Starting::from_config(config, move |app| {
        Box::pin(async move { route.warm_up(&app).await })
    });
    if init_waits() {
        starting.prepare().await;
    }
    lambda_http::run(FunctionService::new(route, starting, edge)).await
}

/// Runs `trigger` (a function started by a schedule, a queue or an S3 notification) until the
/// runtime stops it. A failed run is returned as an error so Lambda records it and the source
/// retries.
pub async fn run_trigger(trigger: &'static Trigger) -> Result<(), lambda_http::Error> {
    logs::init();
    let mut config = config_from_env()?;
    config.webhook_sender = trigger.webhook_sender;
    tracing::info!(function = trigger.function, source = ?trigger.source, "cold start");
    let starting = Starting::from_config(config, move |app| {
        Box::pin(async move { trigger.warm_up(&app).await })
    });
    if init_waits() {
        starting.prepare().await;
    }
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let starting = starting.clone();
        async move {
            let started = Instant::now();
            // The context's deadline is wall-clock milliseconds; the run measures by Instant.
            let left = std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
            let left = left.duration_since(std::time::SystemTime::now()).unwrap_or_default();
            let ctx = crate::triggers::TriggerContext {
                deadline: Some(started + left),
                lease: None,
            };
            let app = starting.app().await.map_err(|e| lambda_http::Error::from(e.to_string()))?;
            let result = trigger.call(app, event.payload, ctx).await;
            match &result {
                Ok(summary) => tracing::info!(function = trigger.function, ms = started.elapsed().as_millis() as u64, %summary, "done"),
                Err(e) => tracing::error!(function = trigger.function, error = %ErrorChain(&e), "failed"),
            }
            result.map_err(|e| lambda_http::Error::from(e.to_string()))
        }
    }))
    .await
}

#[cfg(feature = "aws")]
fn config_from_env() -> Result<crate::config::Config, ConfigError> {
    crate::config::Config::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "cold start failed"))
}

/// Whether the init itself should make the app and warm it up: when Lambda initialises ahead
/// of any request (`AWS_LAMBDA_INITIALIZATION_TYPE` is `provisioned-concurrency`), so that no
/// request pays for it. (SnapStart, the other such case, does not run `provided.al2023`
/// functions; a snapshot would also carry live connections and credentials.)
pub fn init_waits() -> bool {
    std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").is_ok_and(|t| t == "provisioned-concurrency")
}

/// The longest an init that waits ([`init_waits`]) gives the warm-up (Lambda allows an init
/// 10 s); past it the warm-up is dropped, and the first user loads what it needs.
pub const WARM_UP_BUDGET: Duration = Duration::from_secs(5);

/// After an app could not be made, the time before anyone tries again; meanwhile requests
/// answer 503 at once.
pub const RETRY_APP_AFTER: Duration = Duration::from_secs(1);

type BuildApp = Box<dyn Fn() -> BoxFuture<'static, Result<Arc<App>, ConfigError>> + Send + Sync>;
type WarmApp = Box<dyn Fn(Arc<App>) -> BoxFuture<'static, ()> + Send + Sync>;

/// A function's [`App`], made once, by whoever needs it first. A failed build (SSM out of
/// reach) is not kept: a request after [`RETRY_APP_AFTER`] tries again.
pub struct Starting {
    app: OnceCell<Arc<App>>,
    build: BuildApp,
    /// The last failure to make the app, and when.
    failed: Mutex<Option<(Instant, String)>>,
    /// The route's warm-up, started when the app is made.
    warm_up: WarmApp,
}

impl Starting {
    /// An app that `build` makes when first asked for, `warm_up` started then on a task of its
    /// own.
    pub fn new(
        build: impl Fn() -> BoxFuture<'static, Result<Arc<App>, ConfigError>> + Send + Sync + 'static,
        warm_up: impl Fn(Arc<App>) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Starting {
            app: OnceCell::new(),
            build: Box::new(build),
            failed: Mutex::new(None),
            warm_up: Box::new(warm_up),
        })
    }

    /// An app already made (tests).
    pub fn ready(app: Arc<App>) -> Arc<Self> {
        Arc::new(Starting {
            app: OnceCell::new_with(Some(app)),
            build: Box::new(|| Box::pin(async { Err(ConfigError("never built".into())) })),
            failed: Mutex::new(None),
            warm_up: Box::new(|_| Box::pin(async {})),
        })
    }

    /// The app of a function in AWS: [`App::from_env_config`], its time logged.
    #[cfg(feature = "aws")]
    pub fn from_config(
        config: crate::config::Config,
        warm_up: impl Fn(Arc<App>) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Arc<Self> {
        let config = Arc::new(config);
        let build = move || -> BoxFuture<'static, Result<Arc<App>, ConfigError>> {
            let config = config.clone();
            Box::pin(async move {
                let started = Instant::now();
                let app = App::from_env_config(&config)
                    .await
                    .inspect_err(|e| tracing::error!(error = %e, "the app could not start"))?;
                tracing::info!(ms = started.elapsed().as_millis() as u64, "app ready");
                Ok(app)
            })
        };
        Self::new(build, warm_up)
    }

    /// The app, made now if no one has made it yet (or waiting for whoever is making it).
    /// Whoever makes it starts its warm-up alongside.
    pub async fn app(&self) -> Result<Arc<App>, ConfigError> {
        let (app, made) = self.get().await?;
        if made {
            tokio::spawn((self.warm_up)(app.clone()));
        }
        Ok(app)
    }

    /// Makes the app and waits for its warm-up, up to [`WARM_UP_BUDGET`]: an init ahead of
    /// any request ([`init_waits`]). A failure is logged; the first request tries again.
    pub async fn prepare(&self) {
        if let Ok((app, true)) = self.get().await
            && tokio::time::timeout(WARM_UP_BUDGET, (self.warm_up)(app))
                .await
                .is_err()
        {
            tracing::warn!(
                budget_ms = WARM_UP_BUDGET.as_millis() as u64,
                "the warm-up did not finish at init; the first user does what is left"
            );
        }
    }

    /// The app, and whether this call made it.
    async fn get(&self) -> Result<(Arc<App>, bool), ConfigError> {
        if let Some(app) = self.app.get() {
            return Ok((app.clone(), false));
        }
        if let Some((at, error)) = self.failed.lock().expect("not poisoned").as_ref()
            && at.elapsed() < RETRY_APP_AFTER
        {
            return Err(ConfigError(error.clone()));
        }
        let mut made = false;
        let app = self
            .app
            .get_or_try_init(|| {
                made = true;
                (self.build)()
            })
            .await
            .inspect_err(|e| {
                *self.failed.lock().expect("not poisoned") = Some((Instant::now(), e.0.clone()));
            })?;
        Ok((app.clone(), made))
    }
}

/// The service `lambda_http::run` drives: the function's router with every layer of the edge,
/// made when the app is ready. While the app cannot be made, a request answers 503
/// `unavailable` (with `Retry-After`) through the same layers.
#[derive(Clone)]
pub struct FunctionService {
    route: &'static Route,
    starting: Arc<Starting>,
    edge: Arc<EdgeConfig>,
    router: Arc<OnceLock<Router>>,
    /// What answers while the app cannot be made: 503 through the same layers.
    unavailable: Router,
}

impl FunctionService {
    pub fn new(route: &'static Route, starting: Arc<Starting>, edge: EdgeConfig) -> Self {
        let unavailable = layers::apply(
            Router::new().fallback(|| async {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service could not start (its configuration is out of reach); retry shortly",
                )
                .into_response()
            }),
            &edge,
        );
        FunctionService {
            route,
            starting,
            edge: Arc::new(edge),
            router: Arc::new(OnceLock::new()),
            unavailable,
        }
    }

    async fn router(&self) -> Router {
        if let Some(router) = self.router.get() {
            return router.clone();
        }
        match self.starting.app().await {
            Ok(app) => self
                .router
                .get_or_init(|| layers::apply(routes::router(app, [self.route]), &self.edge))
                .clone(),
            Err(_) => self.unavailable.clone(),
        }
    }
}

impl<B> Service<http::Request<B>> for FunctionService
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.router().await.oneshot(req).await })
    }
}
