//! Test support: fresh storage on every backend, and fixtures.
//!
//! The DynamoDB and S3 backends need the servers `make test` starts (DynamoDB Local and
//! ministack); their endpoints come from `CATALOG_TEST_DYNAMODB_ENDPOINT` and
//! `CATALOG_TEST_S3_ENDPOINT`. Without them those tests fail, loudly: they are never skipped.

use std::sync::Arc;

use catalog_core::adapters::blobdir::BlobDir;
use catalog_core::adapters::dynamo::{DynamoStore, TableNames};
use catalog_core::adapters::s3::S3Blobs;
use catalog_core::adapters::sqlite::SqliteStore;
use catalog_core::domain::{Gtin, ProductContent, check_digit};
use catalog_core::ports::{BlobStore, InventoryStore, JobStore, ProductStore};

/// The three stores of one backend, fresh for one test.
pub struct Stores {
    pub products: Arc<dyn ProductStore>,
    pub inventory: Arc<dyn InventoryStore>,
    pub jobs: Arc<dyn JobStore>,
    /// Keeps an embedded backend's folder alive for the test.
    pub _dir: Option<tempfile::TempDir>,
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the local DynamoDB/S3 servers. Run `make test`, or start them with \
             `tests/servers.sh start` and export the variables it prints."
        )
    })
}

/// A unique name for this test's tables or bucket.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "catalog-tests"))
        .load()
        .await
}

pub async fn embedded_stores() -> Stores {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("catalog.db")).expect("open sqlite");
    Stores { products: Arc::new(store.clone()), inventory: Arc::new(store.clone()), jobs: Arc::new(store), _dir: Some(dir) }
}

pub async fn dynamo_store() -> DynamoStore {
    let endpoint = required_env("CATALOG_TEST_DYNAMODB_ENDPOINT");
    let config = sdk_config(&endpoint).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), TableNames::with_prefix(&unique("t")));
    store.create_tables().await.expect("create tables in DynamoDB Local");
    store
}

pub async fn dynamo_stores() -> Stores {
    let store = dynamo_store().await;
    Stores { products: Arc::new(store.clone()), inventory: Arc::new(store.clone()), jobs: Arc::new(store), _dir: None }
}

pub async fn s3_client() -> aws_sdk_s3::Client {
    let endpoint = required_env("CATALOG_TEST_S3_ENDPOINT");
    let config = sdk_config(&endpoint).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build())
}

/// A fresh bucket on the S3 server.
pub async fn s3_blobs() -> S3Blobs {
    let client = s3_client().await;
    let bucket = unique("b");
    client.create_bucket().bucket(&bucket).send().await.expect("create bucket in ministack");
    S3Blobs::new(client, bucket)
}

pub struct LocalBlobs {
    pub blobs: BlobDir,
    pub _dir: tempfile::TempDir,
}

pub fn blob_dir(base_url: &str) -> LocalBlobs {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = BlobDir::new(&dir.path().join("uploads"), "uploads", base_url, b"test-secret").expect("blob dir");
    LocalBlobs { blobs, _dir: dir }
}

pub fn as_blob_store(b: &BlobDir) -> Arc<dyn BlobStore> {
    Arc::new(b.clone())
}

/// A random valid EAN-13 (prefix 890, India).
pub fn random_gtin() -> Gtin {
    let n = uuid::Uuid::new_v4().as_u128();
    let body: Vec<u8> = format!("890{:09}", n % 1_000_000_000).bytes().map(|b| b - b'0').collect();
    let digits: String = body.iter().map(|d| char::from(b'0' + d)).collect();
    Gtin::parse(&format!("{digits}{}", check_digit(&body))).expect("valid by construction")
}

pub fn content(name: &str) -> ProductContent {
    ProductContent { name: name.to_string(), ..Default::default() }
}
