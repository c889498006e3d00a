//! The middleware every response passes through, from tower-http where it exists:
//!
//! - request id: a well-formed `X-Request-Id` from the client is kept, anything else is
//!   replaced (API Gateway's request id in Lambda, a UUID locally), and it is echoed on every
//!   response;
//! - one log line per request (`request`), in a span carrying the id, method, route and the
//!   caller's `sub` (recorded by the [`Caller`](super::extract::Caller) extractor);
//! - where `METRICS_NAMESPACE` is set (the template sets it for every function), one
//!   metrics record per request ([`metrics`](super::metrics): count and latency by route and
//!   status class);
//! - CORS for the configured origins (the PWA's);
//! - `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` unless a route chose its
//!   own (every API response is private);
//! - gzip for responses that ask for it and are large enough to gain;
//! - a panic becomes a logged 500 problem with no detail;
//! - a request still waiting when its Lambda's deadline nears (less [`DEADLINE_MARGIN`]; locally
//!   after [`LOCAL_REQUEST_BUDGET`]) is answered 503 `unavailable`, never cut off;
//! - axum's bare 405 becomes a problem (axum adds `Allow` with the methods the path takes).

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::metrics::{self, RequestMetrics};
use super::{ApiError, PROBLEM_CONTENT_TYPE, Problem};
pub use crate::config::EdgeConfig;

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client request id kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Responses smaller than this are sent as they are (gzip would not pay for its header).
/// Larger ones are compressed at gzip's fastest level (1, nginx's default), not the default
/// (6): a page of 25 inventory items (16 KB of JSON) comes out 8% larger (2.6 KB, not 2.4)
/// for about two thirds of the CPU (zlib's figures), and CPU is what a function is billed
/// for.
const COMPRESS_ABOVE_BYTES: u16 = 1024;
/// A request gives up this long before its Lambda's deadline, to answer 503 itself rather than
/// be cut off by the runtime (which the client would see as API Gateway's bare 503).
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// Locally (no Lambda deadline), the longest a request may wait.
pub const LOCAL_REQUEST_BUDGET: Duration = Duration::from_secs(30);

/// `router` with every layer of the edge.
pub fn apply(router: Router, edge: &EdgeConfig) -> Router {
    let metrics = edge
        .metrics_namespace
        .as_deref()
        .map(|ns| RequestMetrics::new(crate::metrics::Metrics::stdout(ns)));
    apply_with(router, edge, metrics)
}

/// [`apply`], with the metrics records going to `metrics` (a test's sink).
fn apply_with(router: Router, edge: &EdgeConfig, metrics: Option<RequestMetrics>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(edge.cors_origins.iter().cloned()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(600));
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("(no route)", MatchedPath::as_str);
            // In Lambda, API Gateway's own id too (the access log's), when the client sent its.
            let gateway_id = gateway_request_id(req).filter(|g| *g != id);
            tracing::info_span!(
                "request",
                request_id = id,
                gateway_request_id = gateway_id,
                method = %req.method(),
                route,
                sub = tracing::field::Empty,
            )
        })
        .on_request(())
        .on_response(|res: &Response, latency: Duration, _: &Span| {
            tracing::info!(
                status = res.status().as_u16(),
                ms = latency.as_millis() as u64,
                "request"
            );
        })
        .on_failure(());
    let layers = ServiceBuilder::new()
        .map_request(drop_malformed_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        // Outside everything that may answer instead of the handler (a panic's 500, the
        // deadline's 503, CORS preflights), so every answer is counted with its own status.
        .layer(tower::util::option_layer(metrics.map(|m| {
            axum::middleware::from_fn_with_state(m, metrics::record)
        })))
        .layer(cors)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(axum::middleware::from_fn(method_not_allowed_problem))
        .layer(axum::middleware::from_fn(within_deadline))
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE_BYTES))),
        )
        .layer(CatchPanicLayer::custom(panic_problem));
    router.layer(layers)
}

/// Whether a client's request id is kept: 1 to 128 characters of `[A-Za-z0-9._:=-]`.
pub fn is_well_formed_request_id(v: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&v.len())
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'='))
}

fn drop_malformed_request_id(mut req: Request) -> Request {
    if req
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|v| !is_well_formed_request_id(v.as_bytes()))
    {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// A new request id: API Gateway's own in Lambda (so the access log and the function's log
/// share it), else a random UUID.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, req: &http::Request<B>) -> Option<RequestId> {
        let id = gateway_request_id(req)
            .filter(|id| is_well_formed_request_id(id.as_bytes()))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// API Gateway's id of the request, in Lambda.
fn gateway_request_id<B>(req: &http::Request<B>) -> Option<&str> {
    match req
        .extensions()
        .get::<lambda_http::request::RequestContext>()?
    {
        lambda_http::request::RequestContext::ApiGatewayV2(ctx) => ctx.request_id.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// axum answers a known path with an unknown method with a bare 405 (and adds `Allow` to
/// whatever answer goes out).
async fn method_not_allowed_problem(req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().to_string();
    let res = next.run(req).await;
    let bare = res.status() == StatusCode::METHOD_NOT_ALLOWED
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes())
            != Some(PROBLEM_CONTENT_TYPE.as_bytes());
    if bare {
        ApiError::MethodNotAllowed { method }.into_response()
    } else {
        res
    }
}

/// How long `req` may still take: its Lambda's deadline less [`DEADLINE_MARGIN`], else
/// [`LOCAL_REQUEST_BUDGET`].
fn budget(req: &Request) -> Duration {
    match req.extensions().get::<lambda_http::Context>() {
        Some(ctx) => {
            let deadline = std::time::UNIX_EPOCH + Duration::from_millis(ctx.deadline);
            deadline
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(DEADLINE_MARGIN)
        }
        None => LOCAL_REQUEST_BUDGET,
    }
}

async fn within_deadline(mut req: Request, next: axum::middleware::Next) -> Response {
    let budget = budget(&req);
    req.extensions_mut().insert(super::extract::Deadline(
        tokio::time::Instant::now() + budget,
    ));
    match tokio::time::timeout(budget, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::error!(budget_ms = budget.as_millis() as u64, "request out of time");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage did not answer in time; retry shortly",
            )
            .into_response()
        }
    }
}

fn panic_problem(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %msg, "handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; it has been logged",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_is_a_500_problem_that_leaks_nothing() {
        let router = Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                panic!("secret detail");
                #[allow(unreachable_code)]
                ()
            }),
        );
        let res = apply(router, &EdgeConfig::default())
            .oneshot(
                Request::get("/boom")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        assert!(res.headers().contains_key(REQUEST_ID));
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("\"code\":\"internal\""), "{body}");
        assert!(!body.contains("secret"), "{body}");
    }

    /// The metrics layer is outside what answers instead of a handler: a panic's 500 is
    /// counted as a 5xx of its route, like any answer.
    #[tokio::test]
    async fn a_panic_is_counted_as_its_routes_5xx() {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let metrics = RequestMetrics::new(crate::metrics::Metrics::new(
            "ns",
            std::sync::Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_owned())),
        ));
        let router = Router::new()
            .route(
                "/boom/{id}",
                axum::routing::get(|| async {
                    panic!("no");
                    #[allow(unreachable_code)]
                    ()
                }),
            )
            .route("/fine", axum::routing::get(|| async { "ok" }));
        let router = apply_with(router, &EdgeConfig::default(), Some(metrics));
        for (uri, status) in [
            ("/boom/1", StatusCode::INTERNAL_SERVER_ERROR),
            ("/fine", StatusCode::OK),
        ] {
            let res = router
                .clone()
                .oneshot(Request::get(uri).body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), status);
        }
        let records: Vec<serde_json::Value> = lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<_> = records
            .iter()
            .map(|r| (r["Route"].as_str().unwrap(), r["Status"].as_str().unwrap()))
            .collect();
        assert_eq!(got, [("GET /boom/{id}", "5xx"), ("GET /fine", "2xx")]);
    }

    #[test]
    fn request_ids_are_kept_only_when_well_formed() {
        assert!(is_well_formed_request_id(
            b"c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        ));
        assert!(is_well_formed_request_id(b"Root=1:abc_def.2"));
        assert!(!is_well_formed_request_id(b""));
        assert!(!is_well_formed_request_id(b"has space"));
        assert!(!is_well_formed_request_id(b"<script>"));
        assert!(!is_well_formed_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
    }
}
