//! The application: configuration, clients and services, built once per cold start (or once
//! by the local server) and shared by every request.
//!
//! Owns the wiring: which backend, and the clients and keys built from the [`Config`]
//! (`crate::config`) in AWS or from a data folder locally.

#[cfg(feature = "embedded")]
use std::path::Path;
use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::cursor::CursorKey;
use crate::ports::{AccountStore, CodeSender};
use crate::services::Catalog;
use crate::services::accounts::Accounts;
#[cfg(any(feature = "aws", feature = "embedded"))]
use crate::services::matching::{IndexSource, MatcherState};
use crate::services::webhooks::{WebhookConfig, Webhooks};

pub use crate::config::{ConfigError, DEFAULT_MATCH_INDEX_KEY};
/// How long a Lambda serves a loaded index before looking for a newer snapshot.
pub const MATCH_INDEX_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Locally the index is rebuilt from the database when older than this.
pub const LOCAL_MATCH_INDEX_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// The well-known secret of local runs and sample events. Refused inside Lambda.
pub const DEV_JWT_SECRET: &str = "kirana-catalog-local-dev-secret-not-for-aws";

pub struct App {
    pub catalog: Catalog,
    /// Stores, their people, and signing in.
    pub accounts: Accounts,
    /// Stores' webhooks and the delivery of events to them.
    pub webhooks: Webhooks,
    pub tokens: TokenKeys,
    /// `aws` or `embedded`.
    pub backend: &'static str,
    /// Open Food Facts, for the functions that look products up (built on first use).
    pub off: crate::adapters::off::LazyOff,
}

impl App {
    /// The app over `catalog`, with accounts (and webhooks) on `accounts` whose codes leave
    /// by `codes`; the token keys, the accounts' MAC key and the webhooks' secrets all come
    /// from `secret`; products are looked up in Open Food Facts as `off` says (`None`: not
    /// here); webhooks reach the targets `webhooks` allows.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: Catalog,
        accounts: Arc<dyn AccountStore>,
        codes: Arc<dyn CodeSender>,
        secret: &[u8],
        tokens: TokenKeys,
        backend: &'static str,
        off: Option<crate::adapters::off::OffConfig>,
        webhooks: WebhookConfig,
    ) -> Arc<Self> {
        let sender = webhooks.sender.map(|make| make(webhooks.allow_private));
        let hooks = Webhooks::new(
            accounts.clone(),
            sender,
            secret,
            catalog.cursor_key().clone(),
            webhooks.allow_private,
        )
        .with_metrics(catalog.metrics.clone())
        .with_wake(webhooks.wake);
        let accounts = Accounts::new(accounts, codes, tokens.clone(), secret);
        Arc::new(App {
            catalog,
            accounts,
            webhooks: hooks,
            tokens,
            backend,
            off: crate::adapters::off::LazyOff::new(off),
        })
    }
}

/// What the edge's `Caller` extractor verifies tokens and keys with (the router's state is the
/// app).
impl crate::http::extract::Verifiers for Arc<App> {
    fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }

    fn keys(&self) -> &crate::services::accounts::Accounts {
        &self.accounts
    }
}

/// Checks a secret and derives the token and cursor keys from it.
pub fn keys_from_secret(
    secret: &str,
    in_lambda: bool,
) -> Result<(TokenKeys, CursorKey), ConfigError> {
    if in_lambda && secret == DEV_JWT_SECRET {
        return Err(ConfigError(
            "the local development JWT secret must not be used in AWS".into(),
        ));
    }
    let tokens = TokenKeys::new(secret.as_bytes()).map_err(|e| ConfigError(e.to_string()))?;
    Ok((tokens, CursorKey::derive(secret.as_bytes())))
}

/// The AWS clients a function uses, built from one SDK configuration (or, in tests, from the
/// local servers' endpoints).
#[cfg(feature = "aws")]
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub sns: aws_sdk_sns::Client,
}

/// How long a call to AWS may take, so that none waits forever on a server that accepted the
/// connection and never answers: a call over its budget fails as `unavailable` (503 with
/// `Retry-After` at the edge). An API request also stops at its Lambda's deadline
/// (`http::layers`), whichever comes first.
///
/// DynamoDB and the messaging services get a connect and a whole-call budget only: a timed-out
/// *attempt* is retried by the SDK, and a write that committed but answered late (an `ADD`, a
/// conditional job save) must not be sent twice. S3's calls are idempotent (a PUT of the same
/// bytes, a GET), so a silent attempt is cut short and retried; a PUT's attempt grows with its
/// size (`adapters::s3`), as the read timeout covers sending the body too.
#[cfg(feature = "aws")]
pub mod budgets {
    use std::time::Duration;

    use aws_smithy_types::timeout::TimeoutConfig;

    /// To open a connection, for every service.
    pub const CONNECT: Duration = Duration::from_secs(1);
    /// A whole DynamoDB, SSM, SQS or EventBridge call, retries included.
    pub const CALL: Duration = Duration::from_secs(5);
    /// An S3 request whose answer does not start within this is cut short and retried.
    pub const S3_READ: Duration = Duration::from_secs(3);
    /// One S3 attempt, and a whole S3 call.
    pub const S3_ATTEMPT: Duration = Duration::from_secs(10);
    pub const S3_CALL: Duration = Duration::from_secs(30);

    /// DynamoDB, SSM, SQS, EventBridge.
    pub fn call() -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(CONNECT)
            .operation_timeout(CALL)
            .build()
    }

    /// S3 reads and small writes (a PUT overrides it by its size).
    pub fn s3() -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(CONNECT)
            .read_timeout(S3_READ)
            .operation_attempt_timeout(S3_ATTEMPT)
            .operation_timeout(S3_CALL)
            .build()
    }
}

#[cfg(feature = "aws")]
impl AwsClients {
    /// Clients from one SDK configuration, each with its call [`budgets`].
    pub fn new(sdk: &aws_config::SdkConfig, s3_path_style: bool) -> Self {
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .timeout_config(budgets::call())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(s3_path_style)
                    .timeout_config(budgets::s3())
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(sdk)
                    .timeout_config(budgets::call())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(sdk)
                    .timeout_config(budgets::call())
                    .build(),
            ),
            eventbridge: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(sdk)
                    .timeout_config(budgets::call())
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(sdk)
                    .timeout_config(budgets::call())
                    .build(),
            ),
        }
    }
}

#[cfg(feature = "aws")]
impl App {
    /// A Lambda function's app: clients from what Lambda's environment says about AWS
    /// (`config.lambda`: region, credentials, endpoints), then [`App::from_config`].
    pub async fn from_env_config(config: &crate::config::Config) -> Result<Arc<Self>, ConfigError> {
        let lambda = config.lambda.as_ref().ok_or_else(|| {
            ConfigError("not in Lambda (AWS_LAMBDA_FUNCTION_NAME is not set)".into())
        })?;
        let clients = AwsClients::new(&lambda.sdk_config(), config.s3_path_style);
        Self::from_config(config, clients).await
    }

    /// DynamoDB + S3, the secret from `config` (or SSM).
    pub async fn from_config(
        config: &crate::config::Config,
        clients: AwsClients,
    ) -> Result<Arc<Self>, ConfigError> {
        use crate::adapters::dynamo::DynamoStore;
        use crate::adapters::s3::S3Blobs;
        use crate::config::SecretSource;
        use secrecy::{ExposeSecret, SecretString};

        let secret: SecretString = match &config.secret {
            SecretSource::Given(s) => s.clone(),
            SecretSource::SsmParameter(name) => read_parameter(&clients.ssm, name).await?.into(),
        };
        let (tokens, cursors) = keys_from_secret(secret.expose_secret(), config.lambda.is_some())?;
        let store = Arc::new(DynamoStore::new(clients.dynamodb, config.tables.clone()));
        let uploads: Arc<dyn crate::ports::BlobStore> = Arc::new(S3Blobs::new(
            clients.s3.clone(),
            config.uploads_bucket.clone(),
        ));
        let matcher = MatcherState::new(
            IndexSource::Snapshot {
                blobs: uploads.clone(),
                key: config.match_index_key.clone(),
            },
            MATCH_INDEX_MAX_AGE,
        );
        let mut catalog = Catalog::new(
            store.clone(),
            store.clone(),
            store.clone(),
            uploads,
            Arc::new(S3Blobs::new(clients.s3, config.images_bucket.clone())),
            matcher,
            cursors,
        );
        // Every function announces its events on the bus; only the import function has the
        // queue a paused job is resumed through.
        catalog = catalog.with_events(Arc::new(crate::adapters::events::AwsEvents {
            sqs: clients.sqs.clone(),
            queue_url: config.import_queue_url.clone(),
            events: clients.eventbridge,
            bus: config.event_bus.clone(),
        }));
        catalog = catalog.with_metrics(crate::metrics::Metrics::stdout_or_none(
            config.edge.metrics_namespace.as_deref(),
        ));
        if let Some(queue_url) = &config.enrich_queue_url {
            catalog =
                catalog.with_enrich_queue(Arc::new(crate::adapters::queues::SqsEnrichQueue {
                    sqs: clients.sqs.clone(),
                    queue_url: queue_url.clone(),
                }));
        }
        let codes = Arc::new(crate::adapters::sms::SnsCodes {
            client: clients.sns,
            dlt: None,
        });
        Ok(App::new(
            catalog,
            store,
            codes,
            secret.expose_secret().as_bytes(),
            tokens,
            "aws",
            config.off.clone(),
            WebhookConfig {
                allow_private: config.webhooks_allow_private,
                sender: config.webhook_sender,
                ..WebhookConfig::default()
            },
        ))
    }
}

/// Reads a (SecureString) SSM parameter, decrypted.
#[cfg(feature = "aws")]
pub async fn read_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, ConfigError> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            ConfigError(format!(
                "reading SSM parameter {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            ))
        })?;
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError(format!("SSM parameter {name} is empty")))
}

/// Where the embedded backend keeps its files.
#[cfg(feature = "embedded")]
pub struct EmbeddedPaths {
    pub database: std::path::PathBuf,
    pub uploads: crate::adapters::blobdir::BlobDir,
    pub images: crate::adapters::blobdir::BlobDir,
    /// The products the catalog asks to have looked up in Open Food Facts: the local
    /// server's worker reads them (`local::enrich_products`); dropped, the products stay
    /// queued in storage for the next server's sweep.
    pub enrich_requests: crate::adapters::queues::LocalEnrichReceiver,
}

#[cfg(feature = "embedded")]
impl App {
    /// The local default: an SQLite file and blob folders under `data_dir`. `base_url` is where
    /// the local server answers (presigned blob URLs point there).
    pub fn embedded(
        data_dir: &Path,
        base_url: &str,
        secret: &str,
    ) -> Result<(Arc<Self>, EmbeddedPaths), ConfigError> {
        Self::embedded_with(
            data_dir,
            base_url,
            secret,
            Arc::new(crate::services::LoggedEvents),
            Arc::new(crate::adapters::sms::LoggedCodes),
            None,
        )
    }

    /// [`App::embedded`], announcing job events to `events` (the local binary's webhook),
    /// sending sign-in codes by `codes` and looking products up in Open Food Facts as `off`
    /// says (by the worker the caller runs on [`EmbeddedPaths::enrich_requests`]).
    pub fn embedded_with(
        data_dir: &Path,
        base_url: &str,
        secret: &str,
        events: Arc<dyn crate::ports::Events>,
        codes: Arc<dyn CodeSender>,
        off: Option<crate::adapters::off::OffConfig>,
    ) -> Result<(Arc<Self>, EmbeddedPaths), ConfigError> {
        use crate::adapters::blobdir::BlobDir;
        use crate::adapters::sqlite::SqliteStore;

        let io =
            |e: std::io::Error| ConfigError(format!("data folder {}: {e}", data_dir.display()));
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let database = data_dir.join("catalog.sqlite3");
        let store = Arc::new(
            SqliteStore::open(&database)
                .map_err(|e| ConfigError(format!("opening {}: {e}", database.display())))?,
        );
        let uploads = BlobDir::new(
            &data_dir.join("blobs/uploads"),
            "uploads",
            base_url,
            secret.as_bytes(),
        )
        .map_err(io)?;
        let images = BlobDir::new(
            &data_dir.join("blobs/images"),
            "images",
            base_url,
            secret.as_bytes(),
        )
        .map_err(io)?;
        let (tokens, cursors) = keys_from_secret(secret, false)?;
        let (enrich_queue, enrich_requests) = crate::adapters::queues::LocalEnrichQueue::new();
        let catalog = Catalog::new(
            store.clone(),
            store.clone(),
            store.clone(),
            Arc::new(uploads.clone()),
            Arc::new(images.clone()),
            MatcherState::new(IndexSource::Store, LOCAL_MATCH_INDEX_MAX_AGE),
            cursors,
        );
        // The local bus: events go to `events` and to the webhooks, whose deliveries the local
        // server's loop attempts (`local::deliver_webhooks`).
        let webhooks = WebhookConfig {
            allow_private: true,
            sender: Some(crate::adapters::webhook_http::HttpWebhooks::make),
            ..WebhookConfig::default()
        };
        let bus = crate::services::webhooks::WebhookBus::new(
            events,
            store.clone(),
            webhooks.wake.clone(),
        );
        let catalog = catalog
            .with_events(Arc::new(bus))
            .with_enrich_queue(Arc::new(enrich_queue));
        Ok((
            App::new(
                catalog,
                store,
                codes,
                secret.as_bytes(),
                tokens,
                "embedded",
                off,
                webhooks,
            ),
            EmbeddedPaths {
                database,
                uploads,
                images,
                enrich_requests,
            },
        ))
    }
}
