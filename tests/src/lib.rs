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
use catalog_core::ports::{BlobKey, BlobStore, InventoryStore, JobStore, ProductStore};

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
             `tests/scripts/servers.sh start` and `eval \"$(tests/scripts/servers.sh env)\"`."
        )
    })
}

/// A unique name for this test's tables or bucket.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "catalog-tests",
        ))
        .load()
        .await
}

pub async fn embedded_stores() -> Stores {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("catalog.db")).expect("open sqlite");
    Stores {
        products: Arc::new(store.clone()),
        inventory: Arc::new(store.clone()),
        jobs: Arc::new(store),
        _dir: Some(dir),
    }
}

pub async fn dynamo_store() -> DynamoStore {
    let endpoint = required_env("CATALOG_TEST_DYNAMODB_ENDPOINT");
    let config = sdk_config(&endpoint).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        TableNames::with_prefix(&unique("t")),
    );
    store
        .create_tables()
        .await
        .expect("create tables in DynamoDB Local");
    store
}

pub async fn dynamo_stores() -> Stores {
    let store = dynamo_store().await;
    Stores {
        products: Arc::new(store.clone()),
        inventory: Arc::new(store.clone()),
        jobs: Arc::new(store),
        _dir: None,
    }
}

pub async fn s3_client() -> aws_sdk_s3::Client {
    let endpoint = required_env("CATALOG_TEST_S3_ENDPOINT");
    let config = sdk_config(&endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A fresh bucket on the S3 server.
pub async fn s3_blobs() -> S3Blobs {
    let client = s3_client().await;
    let bucket = unique("b");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket in ministack");
    S3Blobs::new(client, bucket)
}

pub struct LocalBlobs {
    pub blobs: BlobDir,
    pub _dir: tempfile::TempDir,
}

pub fn blob_dir(base_url: &str) -> LocalBlobs {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = BlobDir::new(
        &dir.path().join("uploads"),
        "uploads",
        base_url,
        b"test-secret",
    )
    .expect("blob dir");
    LocalBlobs { blobs, _dir: dir }
}

pub fn as_blob_store(b: &BlobDir) -> Arc<dyn BlobStore> {
    Arc::new(b.clone())
}

/// A random valid EAN-13 (prefix 890, India).
pub fn random_gtin() -> Gtin {
    let n = uuid::Uuid::new_v4().as_u128();
    let body: Vec<u8> = format!("890{:09}", n % 1_000_000_000)
        .bytes()
        .map(|b| b - b'0')
        .collect();
    let digits: String = body.iter().map(|d| char::from(b'0' + d)).collect();
    Gtin::parse(&format!("{digits}{}", check_digit(&body))).expect("valid by construction")
}

pub fn content(name: &str) -> ProductContent {
    ProductContent {
        name: name.to_string(),
        ..Default::default()
    }
}

// ---------- the API over HTTP ----------

use catalog_core::app::App;
use catalog_core::auth::{Role, TokenKeys};
use catalog_core::cursor::CursorKey;
use catalog_core::domain::StoreId;
use catalog_core::services::Catalog;
use catalog_core::services::matching::{IndexSource, MatcherState};

/// The secret of test apps (the local development one, so `events/` tokens verify too).
pub const TEST_SECRET: &str = catalog_core::app::DEV_JWT_SECRET;

/// A running local server over one backend, and a client for it.
pub struct TestApi {
    pub base: String,
    pub app: Arc<App>,
    pub http: reqwest::Client,
    keys: TokenKeys,
    _dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `code`, for error replies.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestApi {
    async fn start(
        app: Arc<App>,
        blobs: Vec<BlobDir>,
        dir: Option<tempfile::TempDir>,
        listener: tokio::net::TcpListener,
    ) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = catalog_core::local::router(app.clone(), blobs);
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        TestApi {
            base,
            app,
            http: reqwest::Client::new(),
            keys: TokenKeys::new(TEST_SECRET.as_bytes()).unwrap(),
            _dir: dir,
            server,
        }
    }

    /// The embedded backend in a temporary folder.
    pub async fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (app, paths) = App::embedded(dir.path(), &base, TEST_SECRET).unwrap();
        Self::start(app, vec![paths.uploads, paths.images], Some(dir), listener).await
    }

    /// DynamoDB Local and ministack, fresh tables and buckets.
    pub async fn aws() -> Self {
        let store = Arc::new(dynamo_store().await);
        let (uploads, images) = (s3_blobs().await, s3_blobs().await);
        let uploads: Arc<dyn BlobStore> = Arc::new(uploads);
        // As in AWS: matching loads the snapshot the index-build trigger published to the uploads
        // bucket (on every request here, so a test sees its own publish at once).
        let key = BlobKey::parse(catalog_core::app::DEFAULT_MATCH_INDEX_KEY).unwrap();
        let matcher = MatcherState::new(
            IndexSource::Snapshot {
                blobs: uploads.clone(),
                key,
            },
            std::time::Duration::ZERO,
        );
        let catalog = Catalog::new(
            store.clone(),
            store.clone(),
            store,
            uploads,
            Arc::new(images),
            matcher,
            CursorKey::derive(TEST_SECRET.as_bytes()),
        );
        let app = App::new(
            catalog,
            TokenKeys::new(TEST_SECRET.as_bytes()).unwrap(),
            "aws",
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start(app, vec![], None, listener).await
    }

    pub fn token(&self, role: Role, stores: &[&str]) -> String {
        let stores: Vec<StoreId> = stores.iter().map(|s| StoreId::parse(s).unwrap()).collect();
        self.keys.mint(
            &format!("test-{}", role.as_str()),
            role,
            &stores,
            catalog_core::auth::DEFAULT_TOKEN_TTL,
        )
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin, &[])
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request reaches the local server");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: serde_json::Value) -> Reply {
        self.send("POST", path, Some(token), Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, token: &str, body: serde_json::Value) -> Reply {
        self.send("PUT", path, Some(token), Some(body), &[]).await
    }

    /// Creates a product as an admin; returns its id.
    pub async fn create_product(&self, name: &str, barcode: Option<&str>) -> String {
        let mut body = serde_json::json!({ "name": name });
        if let Some(b) = barcode {
            body["barcode"] = b.into();
        }
        let r = self.post("/v1/products", &self.admin(), body).await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body["product_id"].as_str().unwrap().to_string()
    }
}

pub use catalog_core::auth::Role as TestRole;
