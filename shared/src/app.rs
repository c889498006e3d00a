//! The application: configuration, clients and services, built once per cold start (or once
//! by the local server) and shared by every request.
//!
//! Owns configuration: which backend, where its tables and buckets are, and the token secret.
//! In AWS everything comes from the environment the SAM template sets:
//!
//! | variable | meaning |
//! |---|---|
//! | `PRODUCTS_TABLE`, `INVENTORY_TABLE`, `JOBS_TABLE` | DynamoDB table names |
//! | `UPLOADS_BUCKET`, `IMAGES_BUCKET` | S3 bucket names |
//! | `JWT_SECRET_PARAM` | SSM SecureString parameter holding the token secret |
//! | `JWT_SECRET` | the secret itself (local runs and tests only) |
//! | `MATCH_INDEX_KEY` | the matching-index snapshot in the uploads bucket (default `indexes/match-index.bin`) |
//! | `IMPORT_QUEUE_URL` | the import queue (the import function resumes itself through it) |
//! | `EVENT_BUS_NAME` | where `job.completed` goes (default `default`) |
//! | `S3_FORCE_PATH_STYLE` | `true` for S3-compatible local servers |
//! | `AWS_ENDPOINT_URL` (SDK standard) | local DynamoDB/S3 endpoints |

#[cfg(feature = "embedded")]
use std::path::Path;
use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::cursor::CursorKey;
use crate::services::Catalog;
use crate::services::matching::{IndexSource, MatcherState};

/// Where the match-index builder writes its snapshot (in the uploads bucket) by default.
pub const DEFAULT_MATCH_INDEX_KEY: &str = "indexes/match-index.bin";
/// How long a Lambda serves a loaded index before looking for a newer snapshot.
pub const MATCH_INDEX_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Locally the index is rebuilt from the database when older than this.
pub const LOCAL_MATCH_INDEX_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// The well-known secret of local runs and sample events. Refused inside Lambda.
pub const DEV_JWT_SECRET: &str = "kirana-catalog-local-dev-secret-not-for-aws";

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

pub struct App {
    pub catalog: Catalog,
    pub tokens: TokenKeys,
    /// `aws` or `embedded`.
    pub backend: &'static str,
}

impl App {
    pub fn new(catalog: Catalog, tokens: TokenKeys, backend: &'static str) -> Arc<Self> {
        Arc::new(App {
            catalog,
            tokens,
            backend,
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn require_env(name: &str) -> Result<String, ConfigError> {
    env(name).ok_or_else(|| ConfigError(format!("{name} is not set")))
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

#[cfg(feature = "aws")]
impl App {
    /// The AWS configuration (every Lambda function): DynamoDB + S3, secret from SSM.
    pub async fn from_env() -> Result<Arc<Self>, ConfigError> {
        use crate::adapters::dynamo::{DynamoStore, TableNames};
        use crate::adapters::s3::S3Blobs;

        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let tables = TableNames {
            products: require_env("PRODUCTS_TABLE")?,
            inventory: require_env("INVENTORY_TABLE")?,
            jobs: require_env("JOBS_TABLE")?,
        };
        let path_style = env("S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true" || v == "1");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(path_style)
                .build(),
        );
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables);
        let secret = match (env("JWT_SECRET"), env("JWT_SECRET_PARAM")) {
            (Some(s), _) => s,
            (None, Some(name)) => read_parameter(&aws_sdk_ssm::Client::new(&sdk), &name).await?,
            (None, None) => {
                return Err(ConfigError(
                    "set JWT_SECRET_PARAM (or JWT_SECRET for local runs)".into(),
                ));
            }
        };
        let (tokens, cursors) =
            keys_from_secret(&secret, env("AWS_LAMBDA_FUNCTION_NAME").is_some())?;
        let store = Arc::new(store);
        let uploads: Arc<dyn crate::ports::BlobStore> =
            Arc::new(S3Blobs::new(s3.clone(), require_env("UPLOADS_BUCKET")?));
        let index_key =
            env("MATCH_INDEX_KEY").unwrap_or_else(|| DEFAULT_MATCH_INDEX_KEY.to_string());
        let index_key = crate::ports::BlobKey::parse(&index_key)
            .map_err(|e| ConfigError(format!("MATCH_INDEX_KEY: {e}")))?;
        let matcher = MatcherState::new(
            IndexSource::Snapshot {
                blobs: uploads.clone(),
                key: index_key,
            },
            MATCH_INDEX_MAX_AGE,
        );
        let mut catalog = Catalog::new(
            store.clone(),
            store.clone(),
            store,
            uploads,
            Arc::new(S3Blobs::new(s3, require_env("IMAGES_BUCKET")?)),
            matcher,
            cursors,
        );
        // Only the import function sends job events (it has the queue's URL).
        if let Some(queue_url) = env("IMPORT_QUEUE_URL") {
            catalog = catalog.with_events(Arc::new(crate::adapters::events::AwsJobEvents {
                sqs: aws_sdk_sqs::Client::new(&sdk),
                queue_url,
                events: aws_sdk_eventbridge::Client::new(&sdk),
                bus: env("EVENT_BUS_NAME").unwrap_or_else(|| "default".into()),
            }));
        }
        Ok(App::new(catalog, tokens, "aws"))
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
        Self::embedded_with_events(
            data_dir,
            base_url,
            secret,
            Arc::new(crate::services::LoggedJobEvents),
        )
    }

    /// [`App::embedded`], announcing job events to `events` (the local binary's webhook).
    pub fn embedded_with_events(
        data_dir: &Path,
        base_url: &str,
        secret: &str,
        events: Arc<dyn crate::ports::JobEvents>,
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
        let catalog = Catalog::new(
            store.clone(),
            store.clone(),
            store,
            Arc::new(uploads.clone()),
            Arc::new(images.clone()),
            MatcherState::new(IndexSource::Store, LOCAL_MATCH_INDEX_MAX_AGE),
            cursors,
        )
        .with_events(events);
        Ok((
            App::new(catalog, tokens, "embedded"),
            EmbeddedPaths {
                database,
                uploads,
                images,
            },
        ))
    }
}
