//! Test support: fresh storage on every backend, and fixtures.
//!
//! The DynamoDB and S3 backends need the servers `make test` starts (DynamoDB Local and
//! ministack); their endpoints come from `CATALOG_TEST_DYNAMODB_ENDPOINT` and
//! `CATALOG_TEST_S3_ENDPOINT`. Without them those tests fail, loudly: they are never skipped.

use std::sync::Arc;

pub mod fake_off;

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
    pub accounts: Arc<dyn catalog_core::ports::AccountStore>,
    /// Keeps an embedded backend's folder alive for the test.
    pub _dir: Option<tempfile::TempDir>,
}

/// A local server's endpoint (or other variable) `make test` sets; a clear panic without it.
pub fn required_env(name: &str) -> String {
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
    catalog_core::adapters::aws_http::sdk_loader()
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
        jobs: Arc::new(store.clone()),
        accounts: Arc::new(store),
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
        jobs: Arc::new(store.clone()),
        accounts: Arc::new(store),
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

/// A random valid EAN-13 (prefix 890, India). Thousands of them can collide (a birthday
/// bound of about 2% at 7,000): a test that needs many distinct ones takes [`gtin_run`].
pub fn random_gtin() -> Gtin {
    gtin_at((uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as u64)
}

/// `n` distinct valid EAN-13s from a random start.
pub fn gtin_run(n: usize) -> Vec<Gtin> {
    let start = (uuid::Uuid::new_v4().as_u128() % (1_000_000_000 - n as u128)) as u64;
    (0..n as u64).map(|i| gtin_at(start + i)).collect()
}

/// The valid EAN-13 `890` + `n` (9 digits) + its check digit.
fn gtin_at(n: u64) -> Gtin {
    let body: Vec<u8> = format!("890{n:09}").bytes().map(|b| b - b'0').collect();
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

/// The test's own hand in the catalog, as a product's history records it.
pub fn tester() -> catalog_core::domain::Actor {
    catalog_core::domain::Actor {
        sub: "tester".into(),
        role: "admin".into(),
        request_id: None,
    }
}

/// The history entry of `p`'s creation by the test.
pub fn created_by_test(p: &catalog_core::domain::Product) -> catalog_core::domain::HistoryEntry {
    catalog_core::domain::HistoryEntry::created(p, tester(), None)
}

/// The history entry of the test's change from `before` to `after`.
pub fn changed_by_test(
    before: &catalog_core::domain::Product,
    after: &catalog_core::domain::Product,
) -> catalog_core::domain::HistoryEntry {
    catalog_core::domain::HistoryEntry::of(
        Some(before),
        after,
        catalog_core::domain::ProductAction::Updated,
        tester(),
        None,
    )
}

/// The secret of test apps (the local development one, so `events/` tokens verify too).
pub const TEST_SECRET: &str = catalog_core::app::DEV_JWT_SECRET;

/// What [`RecordedEvents`] records a run's request for another run as.
pub const RUN_AGAIN: &str = "(run again)";

/// Events announced by a test app, kept to be looked at; [`RecordedEvents::fail`] makes the
/// bus refuse them (an outage).
#[derive(Default)]
pub struct RecordedEvents(
    std::sync::Mutex<Vec<(String, serde_json::Value)>>,
    std::sync::atomic::AtomicBool,
);

impl RecordedEvents {
    /// While `down`, every publish fails as EventBridge would when unreachable.
    pub fn fail(&self, down: bool) {
        self.1.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// The payloads (`data`) of the events of `kind` so far.
    pub fn of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.events(kind)
            .into_iter()
            .map(|e| e.get("data").cloned().unwrap_or(e))
            .collect()
    }

    /// The events of `kind` so far, whole (their envelopes), or what a run asked for
    /// ([`RUN_AGAIN`]).
    pub fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(t, _)| t == kind)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl catalog_core::ports::Events for RecordedEvents {
    async fn publish(
        &self,
        event: &catalog_core::domain::Event,
    ) -> Result<(), catalog_core::ports::StorageError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(catalog_core::ports::StorageError::Unavailable(
                "the event bus is down (test)".into(),
            ));
        }
        self.0
            .lock()
            .unwrap()
            .push((event.kind.to_string(), serde_json::to_value(event).unwrap()));
        Ok(())
    }

    /// Recorded as an event of type [`RUN_AGAIN`].
    async fn run_again(
        &self,
        message: serde_json::Value,
    ) -> Result<(), catalog_core::ports::StorageError> {
        self.0
            .lock()
            .unwrap()
            .push((RUN_AGAIN.to_string(), message));
        Ok(())
    }
}

/// The SMS a test app sent (sign-in codes), by number, in order.
#[derive(Default)]
pub struct RecordedCodes(std::sync::Mutex<Vec<(String, String)>>);

impl RecordedCodes {
    /// How many messages went to `phone`.
    pub fn count(&self, phone: &str) -> usize {
        let all = self.0.lock().unwrap();
        all.iter().filter(|(p, _)| p == phone).count()
    }

    /// The code in the last message to `phone` (its first six digits in a row).
    pub fn last_code(&self, phone: &str) -> Option<String> {
        let all = self.0.lock().unwrap();
        let (_, message) = all.iter().rev().find(|(p, _)| p == phone)?;
        message
            .as_bytes()
            .windows(6)
            .find(|w| w.iter().all(u8::is_ascii_digit))
            .map(|w| String::from_utf8_lossy(w).to_string())
    }
}

#[async_trait::async_trait]
impl catalog_core::ports::CodeSender for RecordedCodes {
    async fn send(
        &self,
        phone: &catalog_core::domain::Phone,
        message: &str,
    ) -> Result<(), catalog_core::ports::StorageError> {
        self.0
            .lock()
            .unwrap()
            .push((phone.as_str().to_string(), message.to_string()));
        Ok(())
    }
}

/// A running local server over one backend, and a client for it.
pub struct TestApi {
    pub base: String,
    pub app: Arc<App>,
    /// What the app announced (not wired for [`TestApi::aws_with_imports`], whose events go
    /// to EventBridge).
    pub events: Arc<RecordedEvents>,
    /// The sign-in codes the app sent.
    pub codes: Arc<RecordedCodes>,
    /// The metrics records (EMF lines) the app wrote: the AWS backend's only (locally there
    /// are none).
    pub metrics: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
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
        events: Arc<RecordedEvents>,
        codes: Arc<RecordedCodes>,
        blobs: Vec<BlobDir>,
        dir: Option<tempfile::TempDir>,
        listener: tokio::net::TcpListener,
    ) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = catalog_core::local::router(
            app.clone(),
            blobs,
            &Default::default(),
            catalog_core::local::LOCAL_IMPORT_LEASE,
        );
        let server = tokio::spawn(async move {
            // As `catalog serve`: the peer's address reaches the handlers (limits per client).
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service).await.unwrap();
        });
        TestApi {
            base,
            app,
            events,
            codes,
            metrics: Default::default(),
            http: reqwest::Client::new(),
            keys: TokenKeys::new(TEST_SECRET.as_bytes()).unwrap(),
            _dir: dir,
            server,
        }
    }

    /// The embedded backend in a temporary folder.
    pub async fn embedded() -> Self {
        Self::embedded_with_off(None).await
    }

    /// The embedded backend in a temporary folder, its products looked up in the Open Food
    /// Facts `off` names by a worker as `catalog serve` runs it, and its sweep running.
    pub async fn embedded_with_off(off: Option<catalog_core::adapters::off::OffConfig>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let events = Arc::new(RecordedEvents::default());
        let codes = Arc::new(RecordedCodes::default());
        let enrich = off.is_some();
        let (app, paths) = App::embedded_with(
            dir.path(),
            &base,
            TEST_SECRET,
            events.clone(),
            codes.clone(),
            off,
        )
        .unwrap();
        if enrich {
            let off = app.off.get().expect("an OFF client");
            tokio::spawn(catalog_core::local::enrich_products(
                app.clone(),
                off,
                paths.enrich_requests,
            ));
        }
        Self::start(
            app,
            events,
            codes,
            vec![paths.uploads, paths.images],
            Some(dir),
            listener,
        )
        .await
    }

    /// DynamoDB Local and ministack, fresh tables and buckets.
    pub async fn aws() -> Self {
        let events = Arc::new(RecordedEvents::default());
        let recorder = events.clone();
        let mut api = Self::aws_with(None, move |c, _, _| c.with_events(recorder)).await;
        api.events = events;
        api
    }

    /// DynamoDB Local and ministack, with the import path wired as in AWS: uploads to
    /// `imports/*.csv` notify a fresh SQS queue, the import's job events go to that queue
    /// (resumes) and to EventBridge, and a rule forwards `job.completed` to a second queue.
    pub async fn aws_with_imports() -> (Self, AwsRig) {
        let endpoint = required_env("CATALOG_TEST_S3_ENDPOINT");
        let config = sdk_config(&endpoint).await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let queue = |name: String| {
            let sqs = sqs.clone();
            async move {
                let url = sqs
                    .create_queue()
                    .queue_name(name)
                    .send()
                    .await
                    .expect("create queue in ministack")
                    .queue_url
                    .unwrap();
                let arn = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .unwrap()
                    .attributes
                    .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
                    .clone();
                (url, arn)
            }
        };
        let (import_queue, import_arn) = queue(unique("imports")).await;
        let (image_queue, image_arn) = queue(unique("images")).await;
        let (completions_queue, completions_arn) = queue(unique("completions")).await;
        // A bus of its own, so tests running at once never see each other's events.
        let bus = unique("bus");
        events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("create EventBridge bus in ministack");
        let rule = unique("completed");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(r#"{"source": ["kirana.catalog"], "detail-type": ["job.completed"]}"#)
            .send()
            .await
            .expect("create EventBridge rule in ministack");
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("completions")
                    .arn(completions_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let job_events = Arc::new(catalog_core::adapters::events::AwsEvents {
            sqs: sqs.clone(),
            queue_url: Some(import_queue.clone()),
            events: events.clone(),
            bus,
        });
        let (mut bucket, mut images_bucket) = (String::new(), String::new());
        let api = Self::aws_with(None, |c, uploads, images| {
            bucket = uploads.to_string();
            images_bucket = images.to_string();
            c.with_events(job_events)
        })
        .await;
        let s3 = s3_client().await;
        notify(&s3, &bucket, import_arn, &["imports/"], Some(".csv")).await;
        // As infra/template.yaml: product images and store photos.
        let images = ["uploads/products/", "uploads/stores/"];
        notify(&s3, &images_bucket, image_arn, &images, None).await;
        (
            api,
            AwsRig {
                sqs,
                s3,
                uploads_bucket: bucket,
                images_bucket,
                import_queue,
                image_queue,
                completions_queue,
            },
        )
    }

    /// DynamoDB Local and ministack, with new products' lookups sent to a fresh SQS queue (its
    /// URL answered) and the app's Open Food Facts as `off` says (what the `enrich` function
    /// reads the queue with).
    pub async fn aws_with_enrichment(
        off: catalog_core::adapters::off::OffConfig,
    ) -> (Self, aws_sdk_sqs::Client, String) {
        let endpoint = required_env("CATALOG_TEST_S3_ENDPOINT");
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(&endpoint).await);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("enrich"))
            .send()
            .await
            .expect("create queue in ministack")
            .queue_url
            .unwrap();
        let queue = Arc::new(catalog_core::adapters::queues::SqsEnrichQueue {
            sqs: sqs.clone(),
            queue_url: queue_url.clone(),
        });
        let api = Self::aws_with(Some(off), |c, _, _| c.with_enrich_queue(queue)).await;
        (api, sqs, queue_url)
    }

    async fn aws_with(
        off: Option<catalog_core::adapters::off::OffConfig>,
        wire: impl FnOnce(Catalog, &str, &str) -> Catalog,
    ) -> Self {
        let store = Arc::new(dynamo_store().await);
        let accounts: Arc<dyn catalog_core::ports::AccountStore> = store.clone();
        let (uploads, images) = (s3_blobs().await, s3_blobs().await);
        let (uploads_bucket, images_bucket) =
            (uploads.bucket().to_string(), images.bucket().to_string());
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
            store.clone(),
            uploads,
            Arc::new(images),
            matcher,
            CursorKey::derive(TEST_SECRET.as_bytes()),
        );
        let metrics: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
        let recorded = metrics.clone();
        // DynamoDB Local writes an index with its item: a change settles at once (1 s covers a
        // write stamped just before the read).
        let catalog = wire(catalog, &uploads_bucket, &images_bucket)
            .with_change_settle(std::time::Duration::from_secs(1))
            .with_metrics(catalog_core::metrics::Metrics::new(
                "KiranaCatalog/test",
                Arc::new(move |line: &str| {
                    recorded
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(line).unwrap())
                }),
            ));
        let codes = Arc::new(RecordedCodes::default());
        let app = App::new(
            catalog,
            accounts,
            codes.clone(),
            TEST_SECRET.as_bytes(),
            TokenKeys::new(TEST_SECRET.as_bytes()).unwrap(),
            "aws",
            off,
            // Test receivers listen on loopback.
            catalog_core::services::webhooks::WebhookConfig {
                allow_private: true,
                sender: Some(catalog_core::adapters::webhook_http::HttpWebhooks::make),
                ..Default::default()
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut api = Self::start(app, Default::default(), codes, vec![], None, listener).await;
        api.metrics = metrics;
        api
    }

    /// The recorded metrics records whose dimensions have these values.
    pub fn metric_records(&self, dimensions: &[(&str, &str)]) -> Vec<serde_json::Value> {
        self.metrics
            .lock()
            .unwrap()
            .iter()
            .filter(|r| dimensions.iter().all(|(k, v)| r[*k] == *v))
            .cloned()
            .collect()
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

    /// Creates an import job for `store` through the API and uploads `csv` with the presigned
    /// request it returns (exactly as a client would).
    pub async fn upload_import(
        &self,
        owner: &str,
        store: &str,
        csv: &[u8],
    ) -> catalog_core::domain::JobId {
        let r = self
            .post(
                &format!("/v1/stores/{store}/imports"),
                owner,
                serde_json::json!({"content_length": csv.len(), "content_type": "text/csv"}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        assert_eq!(r.body["status"], "awaiting_upload");
        let upload = &r.body["upload"];
        let mut req = self.http.request(
            upload["method"].as_str().unwrap().parse().unwrap(),
            upload["url"].as_str().unwrap(),
        );
        for h in upload["headers"].as_array().unwrap() {
            req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
        }
        let res = req.body(csv.to_vec()).send().await.unwrap();
        assert!(
            res.status().is_success(),
            "upload refused: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
        catalog_core::domain::JobId::parse(r.body["job_id"].as_str().unwrap()).unwrap()
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

/// The AWS side of the import path in ministack (see [`TestApi::aws_with_imports`]).
/// Has `bucket` notify the queue `queue_arn` of objects created under `prefix` (ending in
/// `suffix`), as the SAM template configures it.
async fn notify(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    queue_arn: String,
    prefixes: &[&str],
    suffix: Option<&str>,
) {
    use aws_sdk_s3::types::{
        Event, FilterRule, NotificationConfiguration, NotificationConfigurationFilter,
        QueueConfiguration, S3KeyFilter,
    };
    let mut notification = NotificationConfiguration::builder();
    for prefix in prefixes {
        let mut key = S3KeyFilter::builder().filter_rules(
            FilterRule::builder()
                .name("prefix".into())
                .value(*prefix)
                .build(),
        );
        if let Some(suffix) = suffix {
            key = key.filter_rules(
                FilterRule::builder()
                    .name("suffix".into())
                    .value(suffix)
                    .build(),
            );
        }
        notification = notification.queue_configurations(
            QueueConfiguration::builder()
                .queue_arn(queue_arn.clone())
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(key.build())
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    let notification = notification.build();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notification)
        .send()
        .await
        .expect("configure upload notifications in ministack");
}

pub struct AwsRig {
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub uploads_bucket: String,
    pub images_bucket: String,
    /// S3 notifications and resume requests land here.
    pub import_queue: String,
    /// Notifications of image uploads land here.
    pub image_queue: String,
    /// `job.completed` events land here.
    pub completions_queue: String,
}

impl AwsRig {
    /// Waits (up to 15 s) for messages on `queue` and takes them off it.
    pub async fn receive(&self, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
        for _ in 0..30 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let mut messages = out.messages.unwrap_or_default();
            for m in &messages {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            // S3 announces a new notification configuration with a test event: not what a
            // test waits for (it may arrive alone, before the upload's notification).
            messages.retain(|m| !is_s3_test_event(m.body().unwrap_or("")));
            if !messages.is_empty() {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("no message arrived on {queue}");
    }

    /// The Lambda SQS event the event source mapping would deliver for `messages`.
    pub fn lambda_event(messages: &[aws_sdk_sqs::types::Message]) -> serde_json::Value {
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                    "attributes": {}, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:imports", "awsRegion": "us-east-1"
                })
            })
            .collect();
        serde_json::json!({ "Records": records })
    }
}

fn is_s3_test_event(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent"))
}

// ---------- the AWS configuration ----------

use catalog_core::adapters::dynamo::TableNames as Tables;
use catalog_core::app::AwsClients;
use catalog_core::config::{Config, EdgeConfig, SecretSource};

/// The configuration the SAM template would give a function using these tables and buckets.
pub fn aws_config(tables: Tables, uploads: &str, images: &str, secret: SecretSource) -> Config {
    Config {
        tables,
        uploads_bucket: uploads.to_string(),
        images_bucket: images.to_string(),
        secret,
        lambda: None,
        s3_path_style: true,
        match_index_key: BlobKey::parse(catalog_core::app::DEFAULT_MATCH_INDEX_KEY).unwrap(),
        import_queue_url: None,
        enrich_queue_url: None,
        off: None,
        event_bus: "default".into(),
        edge: EdgeConfig::default(),
        webhooks_allow_private: false,
        // Not a variable: the webhook-deliver trigger's static sets it (lambda::run_trigger).
        webhook_sender: None,
    }
}

/// What Lambda's environment would tell a function about AWS if it were deployed against the
/// local servers: ministack for every service, DynamoDB Local by DynamoDB's own variable,
/// and credentials as ministack gives its functions (a blank session token).
pub fn lambda_environment() -> catalog_core::adapters::aws_http::LambdaEnvironment {
    let env: std::collections::HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "".into()),
        ("AWS_ENDPOINT_URL", required_env("CATALOG_TEST_S3_ENDPOINT")),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            required_env("CATALOG_TEST_DYNAMODB_ENDPOINT"),
        ),
    ]
    .into_iter()
    .collect();
    catalog_core::adapters::aws_http::LambdaEnvironment::from_vars(&catalog_core::config::Vars(
        |name: &str| env.get(name).cloned(),
    ))
    .expect("Lambda's variables are all there")
}

/// The app's clients (with their budgets) for the local servers: DynamoDB Local, and
/// ministack for S3, SSM, SQS and EventBridge.
pub async fn local_clients() -> AwsClients {
    let ddb = required_env("CATALOG_TEST_DYNAMODB_ENDPOINT");
    let s3 = required_env("CATALOG_TEST_S3_ENDPOINT");
    let mut clients = AwsClients::new(&sdk_config(&s3).await, true);
    clients.dynamodb = AwsClients::new(&sdk_config(&ddb).await, true).dynamodb;
    clients
}
