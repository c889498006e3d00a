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
        in_lambda: true,
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
        catalog_tests::sdk_config(&std::env::var("CATALOG_TEST_S3_ENDPOINT").unwrap()).await;
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
    let app = App::from_config(&config, catalog_tests::local_clients().await)
        .await
        .expect("cold start");
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
