//! The Lambda cold start: configuration from the environment the SAM template sets, the token
//! secret from an SSM SecureString (ministack), and the refusals that keep a misconfigured
//! function from serving. Each test runs in its own process (nextest), so setting the
//! environment here touches nothing else.

use catalog_core::app::{App, DEV_JWT_SECRET};
use catalog_core::auth::Role;
use catalog_core::domain::{ProductContent, StoreId};

async fn aws_environment(secret_param: &str) -> catalog_core::adapters::dynamo::TableNames {
    let ddb = std::env::var("CATALOG_TEST_DYNAMODB_ENDPOINT")
        .expect("CATALOG_TEST_DYNAMODB_ENDPOINT (run `make test`)");
    let s3 = std::env::var("CATALOG_TEST_S3_ENDPOINT")
        .expect("CATALOG_TEST_S3_ENDPOINT (run `make test`)");
    let store = catalog_tests::dynamo_store().await;
    let (uploads, images) = (
        catalog_tests::s3_blobs().await,
        catalog_tests::s3_blobs().await,
    );
    let t = store.tables().clone();
    // SAFETY: nextest runs this test alone in its process; nothing else reads the environment.
    unsafe {
        for (k, v) in [
            ("AWS_ENDPOINT_URL_DYNAMODB", ddb.as_str()),
            ("AWS_ENDPOINT_URL_S3", s3.as_str()),
            ("AWS_ENDPOINT_URL_SSM", s3.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("PRODUCTS_TABLE", &t.products),
            ("INVENTORY_TABLE", &t.inventory),
            ("JOBS_TABLE", &t.jobs),
            ("UPLOADS_BUCKET", uploads.bucket()),
            ("IMAGES_BUCKET", images.bucket()),
            ("JWT_SECRET_PARAM", secret_param),
            ("AWS_LAMBDA_FUNCTION_NAME", "catalog-test-function"),
        ] {
            std::env::set_var(k, v);
        }
        std::env::remove_var("JWT_SECRET");
    }
    t
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
    aws_environment(&name).await;
    let app = App::from_env().await.expect("cold start");
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
    aws_environment(&name).await;
    let err = App::from_env().await.err().expect("must refuse");
    assert!(err.to_string().contains("development"), "{err}");
}

#[tokio::test]
async fn a_missing_parameter_or_table_name_is_a_clear_error() {
    aws_environment("/does/not/exist").await;
    let err = App::from_env().await.err().expect("must fail").to_string();
    assert!(err.contains("/does/not/exist"), "{err}");
    unsafe { std::env::remove_var("PRODUCTS_TABLE") };
    let err = App::from_env().await.err().expect("must fail").to_string();
    assert!(err.contains("PRODUCTS_TABLE is not set"), "{err}");
}
