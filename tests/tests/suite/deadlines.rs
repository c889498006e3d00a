//! No remote call waits forever: against a server that accepts connections and never answers,
//! each AWS client gives up within its budget (`app::budgets`), and an API request answers 503
//! before its Lambda's deadline.

use std::time::{Duration, Instant};

use axum::body::Body;
use catalog_core::adapters::dynamo::{DynamoStore, TableNames};
use catalog_core::adapters::s3::S3Blobs;
use catalog_core::api::routes;
use catalog_core::app::{App, AwsClients};
use catalog_core::config::{EdgeConfig, SecretSource};
use catalog_core::domain::ProductId;
use catalog_core::http::layers::{self, DEADLINE_MARGIN};
use catalog_core::ports::{BlobKey, BlobStore, ProductStore, StorageError};
use catalog_tests::TEST_SECRET;
use http::Request;
use tower::ServiceExt;

/// A server on loopback that accepts every connection and never says a word. Its URL.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

async fn silent_clients() -> AwsClients {
    let url = silent_server().await;
    AwsClients::new(&catalog_tests::sdk_config(&url).await, true)
}

fn unavailable<T: std::fmt::Debug>(r: Result<T, StorageError>) -> bool {
    matches!(r, Err(StorageError::Unavailable(_)))
}

#[tokio::test]
async fn dynamodb_gives_up_within_its_budget() {
    let store = DynamoStore::new(
        silent_clients().await.dynamodb,
        TableNames::with_prefix("t"),
    );
    let started = Instant::now();
    let r = store.get(&ProductId::new()).await;
    let took = started.elapsed();
    assert!(unavailable(r), "a silent DynamoDB is unavailable");
    // The call's budget is 5 s (no attempt is cut short: a late write is not sent again).
    assert!(took <= Duration::from_millis(5_500), "{took:?}");
}

#[tokio::test]
async fn s3_gives_up_within_its_budget() {
    let blobs = S3Blobs::new(silent_clients().await.s3, "uploads".to_string());
    let started = Instant::now();
    let r = blobs.get(&BlobKey::parse("imports/x.csv").unwrap()).await;
    let took = started.elapsed();
    assert!(unavailable(r), "a silent S3 is unavailable");
    // No answer for 3 s ends an attempt; three attempts and their back-off, within 30 s.
    assert!(took <= Duration::from_secs(15), "{took:?}");
}

#[tokio::test]
async fn a_cold_start_does_not_hang_on_ssm() {
    let config = catalog_tests::aws_config(
        TableNames::with_prefix("t"),
        "uploads",
        "images",
        SecretSource::SsmParameter("/catalog/jwt".into()),
    );
    let started = Instant::now();
    let err = App::from_config(&config, silent_clients().await)
        .await
        .err();
    let took = started.elapsed();
    assert!(err.is_some_and(|e| e.to_string().contains("/catalog/jwt")));
    assert!(took <= Duration::from_millis(5_500), "{took:?}");
}

#[tokio::test]
async fn an_api_request_answers_before_its_lambda_deadline() {
    let clients = silent_clients().await;
    // The token secret is given, so the app builds without a call.
    let config = catalog_tests::aws_config(
        TableNames::with_prefix("t"),
        "uploads",
        "images",
        SecretSource::Given(TEST_SECRET.to_string().into()),
    );
    let app = App::from_config(&config, clients).await.unwrap();
    let token = app.tokens.mint(
        "u",
        catalog_core::auth::Role::Admin,
        &[],
        time::Duration::hours(1),
    );
    let router = layers::apply(
        routes::router(app, [&routes::PRODUCTS_GET]),
        &EdgeConfig::default(),
    );
    // A Lambda invocation with 1.5 s left (the SDK alone would wait up to 5 s).
    let mut ctx = lambda_http::Context::default();
    let left = Duration::from_millis(1_500);
    ctx.deadline = (std::time::SystemTime::now() + left)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut req = Request::get(format!("/v1/products/{}", ProductId::new()))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut().insert(ctx);
    let started = Instant::now();
    let res = router.oneshot(req).await.unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["retry-after"], "1");
    assert!(took < left, "answered after the deadline: {took:?}");
    assert!(
        took >= left - DEADLINE_MARGIN - Duration::from_millis(100),
        "{took:?}"
    );
}
