//! The Lambda cold start: the [`Config`] the environment gives (built here directly, as
//! `Config::from_env` would), the token secret from an SSM SecureString (ministack), and the
//! refusals that keep a misconfigured function from serving.

use catalog_core::app::{App, DEV_JWT_SECRET};
use catalog_core::auth::Role;
use catalog_core::config::{Config, SecretSource};
use catalog_core::domain::{ProductContent, StoreId};

/// Fresh tables and buckets, and a configuration naming them as the SAM template would, in a
/// Lambda.
async fn aws_config(secret_param: &str) -> Config {
    let store = catalog_tests::dynamo_store().await;
    let (uploads, images) = (
        catalog_tests::s3_blobs().await,
        catalog_tests::s3_blobs().await,
    );
    Config {
        lambda: Some(catalog_tests::lambda_environment()),
        ..catalog_tests::aws_config(
            store.tables().clone(),
            uploads.bucket(),
            images.bucket(),
            SecretSource::SsmParameter(secret_param.to_string()),
        )
    }
}

async fn put_secret(name: &str, value: &str) {
    let config =
        catalog_tests::sdk_config(&catalog_tests::required_env("CATALOG_TEST_S3_ENDPOINT")).await;
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put SSM parameter in ministack");
}

#[tokio::test]
async fn the_secret_comes_from_ssm_and_the_app_serves() {
    let name = format!("/{}/jwt-secret", catalog_tests::unique("cold"));
    let secret = "a-production-like-secret-of-enough-length-0123456789";
    put_secret(&name, secret).await;
    let config = aws_config(&name).await;
    // As a function makes it: clients from Lambda's variables (`config.lambda`).
    let app = App::from_env_config(&config).await.expect("cold start");
    assert_eq!(app.backend, "aws");
    // Tokens minted with the parameter's secret verify; the app reaches its tables.
    let keys = catalog_core::auth::TokenKeys::new(secret.as_bytes()).unwrap();
    let who = app
        .tokens
        .verify(&keys.mint(
            "u",
            Role::StoreOwner,
            &[StoreId::parse("s").unwrap()],
            time::Duration::days(1),
        ))
        .unwrap();
    let created = app
        .catalog
        .create_product(
            &who,
            ProductContent {
                name: "Cold Start Dal".into(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(created.created);
    assert_eq!(
        app.catalog
            .get_product(&who, &created.value.product_id)
            .await
            .unwrap()
            .name,
        "Cold Start Dal"
    );
}

#[tokio::test]
async fn lambda_refuses_the_local_development_secret() {
    let name = format!("/{}/jwt-secret", catalog_tests::unique("dev"));
    put_secret(&name, DEV_JWT_SECRET).await;
    let config = aws_config(&name).await;
    let err = App::from_config(&config, catalog_tests::local_clients().await)
        .await
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("development"), "{err}");
}

#[tokio::test]
async fn a_missing_parameter_is_a_clear_error() {
    let config = aws_config("/does/not/exist").await;
    let err = App::from_config(&config, catalog_tests::local_clients().await)
        .await
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("/does/not/exist"), "{err}");
}

/// A function polls for its first request before it has its app: a request that finds the app
/// unable to start (the secret's parameter not there yet) answers 503 `unavailable` through
/// the edge's layers, and a later request (after `RETRY_APP_AFTER`) starts it.
#[tokio::test]
async fn a_function_whose_app_cannot_start_answers_503_and_starts_later() {
    use catalog_core::lambda::{FunctionService, Starting};
    use tower::ServiceExt;

    let name = format!("/{}/jwt-secret", catalog_tests::unique("late"));
    let config = aws_config(&name).await;
    let starting = Starting::new(
        move || {
            let config = config.clone();
            Box::pin(async move {
                App::from_config(&config, catalog_tests::local_clients().await).await
            })
        },
        |_| Box::pin(async {}),
    );
    let service = FunctionService::new(
        &catalog_core::api::routes::OPENAPI,
        starting.clone(),
        Default::default(),
    );
    let get = || {
        http::Request::get("/v1/openapi.json")
            .header("x-request-id", "cold-1")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let res = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["x-request-id"], "cold-1");
    assert_eq!(
        res.headers()["content-type"],
        catalog_core::http::PROBLEM_CONTENT_TYPE
    );
    assert!(starting.app().await.is_err(), "still no parameter");

    put_secret(
        &name,
        "a-production-like-secret-of-enough-length-0123456789",
    )
    .await;
    // A failure is remembered for a moment (requests meanwhile answer 503 at once).
    tokio::time::sleep(catalog_core::lambda::RETRY_APP_AFTER).await;
    let res = service.oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(starting.app().await.unwrap().backend, "aws");
}
