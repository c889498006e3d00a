//! The HTTP edge itself: the router and the OpenAPI document cover the same routes, and the
//! layers every response passes through (request ids and the request's log line, security
//! headers, CORS, compression, readiness).

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use catalog_core::api::routes;
use catalog_core::app::App;
use catalog_core::config::{EdgeConfig, SecretSource};
use catalog_tests::{TEST_SECRET, TestApi};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A sample value for each path parameter the routes use.
fn fill(template: &str) -> String {
    template
        .replace("{product_id}", "0190f1a2-7c3e-7d4a-9b1c-2f3e4d5c6b7a")
        .replace("{store_id}", "s1")
        .replace("{job_id}", "0190f1a2-8000-7000-8000-000000000001")
}

#[tokio::test]
async fn the_router_and_the_document_cover_the_same_routes() {
    let doc = routes::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routed: Vec<(String, String)> = routes::ALL
        .iter()
        .map(|r| {
            let (m, p) = r.method_path();
            (m.to_string(), p)
        })
        .collect();
    routed.sort();
    assert_eq!(
        documented, routed,
        "every route is documented, and only routes are"
    );

    // And the router answers each documented operation (not with route_not_found or 405).
    let api = TestApi::embedded().await;
    let admin = api.admin();
    for (method, path) in &documented {
        let r = api.send(method, &fill(path), Some(&admin), None, &[]).await;
        assert!(
            r.status != 405 && r.code() != "route_not_found",
            "{method} {path}: {r:?}"
        );
    }
    let r = api
        .send("GET", "/v1/nothing-here", Some(&admin), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (404, "route_not_found"));
}

#[tokio::test]
async fn each_operation_is_documented_with_its_function_roles_and_problems() {
    let doc = routes::document();
    for route in routes::ALL {
        let (method, path) = route.method_path();
        let op = &doc["paths"][&path][method.as_str().to_lowercase()];
        assert_eq!(op["operationId"], route.function, "{path}");
        let public = ["health", "health-ready", "openapi"].contains(&route.function);
        // Signing in needs no token (it is how one is had), but storage behind it.
        let sign_in = ["auth-code", "auth-token", "auth-sign-out"].contains(&route.function);
        assert_eq!(
            op["security"].is_null(),
            public || sign_in,
            "{path}: security"
        );
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.as_str() >= "400" {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{path} {status}"
                );
            }
        }
        assert!(op["responses"]["500"].is_object(), "{path}");
        if !public && !sign_in {
            assert!(op["responses"]["401"].is_object(), "{path}");
        }
        if !public {
            assert!(op["responses"]["503"].is_object(), "{path}");
        }
        // Every operation that takes a token can refuse an integration key (403); those that
        // take keys list the scopes that reach them, and their rate (429).
        let secured = !public && !sign_in;
        assert_eq!(
            op["responses"]["403"].is_object(),
            secured || route.function == "auth-token",
            "{path}: 403"
        );
        if secured {
            let refusal = op["responses"]["403"]["description"].as_str().unwrap();
            assert!(
                refusal.contains("`forbidden_key_scope`"),
                "{path}: {refusal}"
            );
        }
        let scopes: Vec<&str> = route.keys.iter().map(|k| k.as_str()).collect();
        let listed = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|s| s.get("integrationKey"));
        assert_eq!(
            listed.cloned(),
            (!scopes.is_empty()).then(|| serde_json::json!(scopes)),
            "{path}: key scopes"
        );
        if !scopes.is_empty() {
            assert!(op["responses"]["429"].is_object(), "{path}: 429");
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[test]
fn the_documented_limits_are_the_code_s() {
    use catalog_core::api::matching::{MAX_BARCODE_CHARS, MAX_QUANTITY_CHARS};
    use catalog_core::api::products::MAX_QUERY_CHARS;
    use catalog_core::domain::inventory::{
        MAX_LOCATION_CHARS, MAX_NOTES_CHARS, MAX_SUPPLIER_CHARS,
    };
    use catalog_core::domain::product::{MAX_BRAND_CHARS, MAX_CATEGORY_CHARS, MAX_NAME_CHARS};
    use catalog_core::ports::MAX_PAGE_SIZE;
    use catalog_core::services::matching::MAX_MATCH_CANDIDATES;

    let doc = routes::document();
    let schema =
        |name: &str, field: &str| doc["components"]["schemas"][name]["properties"][field].clone();
    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))["schema"]
            .clone()
    };
    let max_len = |v: serde_json::Value| v["maxLength"].as_u64().map(|n| n as usize);
    for (schema_name, field, limit) in [
        ("NewProductBody", "name", MAX_NAME_CHARS),
        ("NewProductBody", "brand", MAX_BRAND_CHARS),
        ("NewProductBody", "category", MAX_CATEGORY_CHARS),
        ("ProductPatchBody", "name", MAX_NAME_CHARS),
        ("ProductPatchBody", "brand", MAX_BRAND_CHARS),
        ("ProductPatchBody", "category", MAX_CATEGORY_CHARS),
        ("InventoryBody", "supplier", MAX_SUPPLIER_CHARS),
        ("InventoryBody", "location", MAX_LOCATION_CHARS),
        ("InventoryBody", "notes", MAX_NOTES_CHARS),
    ] {
        assert_eq!(
            max_len(schema(schema_name, field)),
            Some(limit),
            "{schema_name}.{field}"
        );
    }
    for (path, name, limit) in [
        ("/v1/products", "q", MAX_QUERY_CHARS),
        ("/v1/products/match", "name", MAX_NAME_CHARS),
        ("/v1/products/match", "brand", MAX_BRAND_CHARS),
        ("/v1/products/match", "quantity", MAX_QUANTITY_CHARS),
        ("/v1/products/match", "barcode", MAX_BARCODE_CHARS),
    ] {
        assert_eq!(max_len(param(path, name)), Some(limit), "{path} {name}");
    }
    assert_eq!(
        param("/v1/products/match", "limit")["maximum"].as_u64(),
        Some(MAX_MATCH_CANDIDATES as u64)
    );
    assert_eq!(
        param("/v1/products", "limit")["maximum"].as_u64(),
        Some(MAX_PAGE_SIZE as u64)
    );
}

#[tokio::test]
async fn a_patch_without_if_match_is_428_before_its_body_is_read() {
    let api = TestApi::embedded().await;
    let id = api.create_product("Tata Salt 1 kg", None).await;
    let path = format!("/v1/products/{id}");
    // No If-Match and a body that is not JSON: the precondition is what the client must fix.
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&api.admin()),
            None,
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (428, "precondition_required"),
        "{r:?}"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let api = TestApi::embedded().await;
    let r = api.send("GET", "/v1/openapi.json", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, routes::document());
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let api = TestApi::embedded().await;
    let admin = api.admin();
    // Generated when absent, on success and on every kind of problem.
    for (path, token) in [
        ("/v1/health", None),
        ("/v1/products", None),
        ("/v1/products", Some(admin.as_str())),
        ("/v1/products/not-a-uuid", Some(admin.as_str())),
        ("/v1/nothing-here", None),
    ] {
        let r = api.send("GET", path, token, None, &[]).await;
        let id = r.header("x-request-id").unwrap_or_default();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {r:?}");
    }
    // Kept when well-formed, replaced when not.
    let r = api
        .send(
            "GET",
            "/v1/health",
            None,
            None,
            &[("x-request-id", "pwa-42.retry:1")],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("pwa-42.retry:1"));
    let long = "x".repeat(129);
    for bad in ["has space", "<script>", long.as_str()] {
        let r = api
            .send("GET", "/v1/health", None, None, &[("x-request-id", bad)])
            .await;
        let id = r.header("x-request-id").unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{bad:?} -> {id}");
    }
    // A 405 is a problem too, with Allow.
    let r = api.send("DELETE", "/v1/health", None, None, &[]).await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    assert_eq!(r.header("allow"), Some("GET,HEAD"));
    assert!(r.header("x-request-id").is_some());
}

/// A writer the test's log lines go to.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_request_log_line_carries_its_id_route_status_and_caller() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let (app, _) = App::embedded(dir.path(), "http://127.0.0.1:0", TEST_SECRET).unwrap();
    let token = app.tokens.mint(
        "owner-7",
        catalog_core::auth::Role::StoreOwner,
        &[catalog_core::domain::StoreId::parse("s1").unwrap()],
        time::Duration::hours(1),
    );
    let router = catalog_core::http::layers::apply(
        routes::router(app, routes::ALL.iter().copied()),
        &EdgeConfig::default(),
    );
    let req = Request::get("/v1/stores/s1/inventory?limit=5")
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", "req-log-test-1")
        .body(Body::empty())
        .unwrap();
    let res = router.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "req-log-test-1");

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("no request line in:\n{text}"));
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert!(line["fields"]["ms"].is_u64(), "{line}");
    let span = &line["span"];
    assert_eq!(span["request_id"], "req-log-test-1", "{line}");
    assert_eq!(span["route"], "/v1/stores/{store_id}/inventory", "{line}");
    assert_eq!(span["method"], "GET", "{line}");
    assert_eq!(span["sub"], "owner-7", "{line}");
}

#[tokio::test]
async fn responses_are_private_unsniffable_and_compressed_when_large() {
    let api = TestApi::embedded().await;
    let r = api.get("/v1/products", &api.admin()).await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = api.send("GET", "/v1/products", None, None, &[]).await;
    assert_eq!(r.header("cache-control"), Some("no-store"), "problems too");

    // reqwest here does not decompress: the raw answer says what was sent.
    let raw = api
        .http
        .get(format!("{}/v1/openapi.json", api.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-encoding"], "gzip");
    let small = api
        .http
        .get(format!("{}/v1/health", api.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = App::embedded(dir.path(), "http://127.0.0.1:0", TEST_SECRET).unwrap();
    let edge = EdgeConfig::parse_origins("https://pwa.example.com").unwrap();
    let router =
        catalog_core::http::layers::apply(routes::router(app, routes::ALL.iter().copied()), &edge);
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/products")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            )
            .body(Body::empty())
            .unwrap()
    };
    let res = router
        .clone()
        .oneshot(preflight("https://pwa.example.com"))
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://pwa.example.com"
    );
    let res = router
        .oneshot(preflight("https://evil.example.com"))
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn readiness_says_which_part_of_the_storage_is_down() {
    let api = TestApi::embedded().await;
    let r = api.send("GET", "/v1/health/ready", None, None, &[]).await;
    assert_eq!(
        (r.status, r.body["ready"].as_bool()),
        (200, Some(true)),
        "{r:?}"
    );
    let parts: Vec<&str> = r.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["part"].as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        [
            "products",
            "inventory",
            "jobs",
            "accounts",
            "uploads",
            "images"
        ]
    );

    // Tables that do not exist (DynamoDB Local), a bucket that does and one that does not.
    let bucket = catalog_tests::s3_blobs().await;
    let config = catalog_tests::aws_config(
        catalog_core::adapters::dynamo::TableNames::with_prefix(&catalog_tests::unique("absent")),
        bucket.bucket(),
        &catalog_tests::unique("no-such-bucket"),
        SecretSource::Given(TEST_SECRET.to_string().into()),
    );
    let clients = catalog_tests::local_clients().await;
    let app = App::from_config(&config, clients).await.unwrap();
    let router = catalog_core::http::layers::apply(
        routes::router(app, [&routes::HEALTH_READY]),
        &EdgeConfig::default(),
    );
    let res = router
        .oneshot(
            Request::get("/v1/health/ready")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "not_ready");
    let down: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["part"].as_str().unwrap())
        .collect();
    assert_eq!(
        down,
        ["products", "inventory", "jobs", "accounts", "images"],
        "{body}"
    );
}
