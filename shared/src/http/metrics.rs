//! Request metrics (`crate::metrics`, CloudWatch's Embedded Metric Format): one record per
//! request, `Requests` (count) and `Latency` (milliseconds), by `Route` (`GET
//! /v1/products/{product_id}`) and `Status` class (`2xx`, `4xx`, `5xx`), written as the
//! response's head leaves (the latency is to there: a gzipped body's streaming is not in it).
//! Where no namespace is configured (`catalog serve`) nothing is written.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

use crate::metrics::{Metrics, Unit};

/// The middleware's state: where the records go.
#[derive(Clone)]
pub struct RequestMetrics(Metrics);

impl RequestMetrics {
    pub fn new(metrics: Metrics) -> Self {
        RequestMetrics(metrics)
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
    let record = RequestRecord::new(&route, res.status(), started.elapsed());
    metrics.0.put(&record.dimensions(), &record.values());
    res
}

/// One request's record: its dimensions (`Route`, `Status` class) and values (`Requests`,
/// `Latency`).
struct RequestRecord {
    route: String,
    status: String,
    latency: Duration,
}

impl RequestRecord {
    fn new(route: &str, status: StatusCode, latency: Duration) -> Self {
        RequestRecord {
            route: route.to_string(),
            status: format!("{}xx", status.as_u16() / 100),
            latency,
        }
    }

    fn dimensions(&self) -> [(&str, &str); 2] {
        [("Route", &self.route), ("Status", &self.status)]
    }

    fn values(&self) -> [(&'static str, Unit, f64); 2] {
        [
            ("Requests", Unit::Count, 1.0),
            (
                "Latency",
                Unit::Milliseconds,
                self.latency.as_secs_f64() * 1000.0,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_request_is_its_route_its_status_class_and_its_latency() {
        let r = RequestRecord::new(
            "GET /v1/products/{product_id}",
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_micros(12_500),
        );
        assert_eq!(
            r.dimensions(),
            [
                ("Route", "GET /v1/products/{product_id}"),
                ("Status", "5xx")
            ]
        );
        assert_eq!(
            r.values(),
            [
                ("Requests", Unit::Count, 1.0),
                ("Latency", Unit::Milliseconds, 12.5)
            ]
        );
    }

    #[tokio::test]
    async fn every_request_leaves_one_record_with_its_route_template() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let metrics = RequestMetrics::new(Metrics::new(
            "ns",
            Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_owned())),
        ));
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
