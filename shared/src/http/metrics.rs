//! Request metrics in CloudWatch's Embedded Metric Format (EMF): in Lambda, one JSON line per
//! request on stdout, which CloudWatch Logs turns into two metrics, `Requests` (count) and
//! `Latency` (milliseconds), by `Route` (`GET /v1/products/{product_id}`) and `Status` class
//! (`2xx`, `4xx`, `5xx`), in the stack's namespace. No agent and no API call: the only
//! cost on the request's path is one formatted line, written as the response's head leaves
//! (the latency is to there: a gzipped body's streaming is not in it). Where no namespace is
//! configured (`catalog serve`) nothing is written.
//!
//! Hand-written rather than through a metrics crate: one fixed record per request, a dozen
//! lines of serde_json, where the crates bring a global registry and a flush cycle made for
//! many metrics per invocation.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

/// Where the records go: stdout in Lambda, a buffer in tests.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// The middleware's state: the namespace and the sink.
#[derive(Clone)]
pub struct RequestMetrics {
    namespace: Arc<str>,
    sink: Sink,
}

impl RequestMetrics {
    pub fn new(namespace: &str, sink: Sink) -> Self {
        RequestMetrics {
            namespace: namespace.into(),
            sink,
        }
    }

    /// Records on stdout, one line each (what CloudWatch Logs reads in Lambda).
    pub fn stdout(namespace: &str) -> Self {
        Self::new(
            namespace,
            Arc::new(|line: &str| {
                use std::io::Write;
                // The whole line under stdout's lock, as tracing writes its lines: the two never
                // interleave.
                let _ = std::io::stdout()
                    .lock()
                    .write_all(format!("{line}\n").as_bytes());
            }),
        )
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn record(State(metrics): State<RequestMetrics>, req: Request, next: Next) -> Response {
    let route = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map_or("(no route)", MatchedPath::as_str)
    );
    let started = Instant::now();
    let res = next.run(req).await;
    let line = emf_record(
        &metrics.namespace,
        &route,
        res.status(),
        started.elapsed(),
        SystemTime::now(),
    );
    (metrics.sink)(&line);
    res
}

/// One request's EMF record.
pub fn emf_record(
    namespace: &str,
    route: &str,
    status: StatusCode,
    latency: Duration,
    at: SystemTime,
) -> String {
    let millis = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Route", "Status"]],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Route": route,
        "Status": format!("{}xx", status.as_u16() / 100),
        "Requests": 1,
        "Latency": latency.as_secs_f64() * 1000.0,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn a_record_is_emf_with_its_dimensions_and_values() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_323_600_123);
        let line = emf_record(
            "KiranaCatalog/kirana-catalog-dev",
            "GET /v1/products/{product_id}",
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_micros(12_500),
            at,
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        let meta = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_795_323_600_123u64);
        assert_eq!(meta["Namespace"], "KiranaCatalog/kirana-catalog-dev");
        assert_eq!(meta["Dimensions"], json!([["Route", "Status"]]));
        // Every dimension and metric the metadata names is a member of the record.
        for d in meta["Dimensions"][0].as_array().unwrap() {
            assert!(v[d.as_str().unwrap()].is_string(), "{d}");
        }
        for m in meta["Metrics"].as_array().unwrap() {
            assert!(v[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        assert_eq!(v["Route"], "GET /v1/products/{product_id}");
        assert_eq!(v["Status"], "5xx");
        assert_eq!(v["Requests"], 1);
        assert_eq!(v["Latency"], 12.5);
    }

    #[tokio::test]
    async fn every_request_leaves_one_record_with_its_route_template() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let metrics = RequestMetrics::new(
            "ns",
            Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_owned())),
        );
        let router = Router::new()
            .route("/v1/items/{id}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics, record));
        for uri in ["/v1/items/a", "/v1/items/b"] {
            let res = router
                .clone()
                .oneshot(http::Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2);
        for line in lines.iter() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["Route"], "GET /v1/items/{id}", "the template, not the id");
            assert_eq!(v["Status"], "2xx");
        }
    }
}
