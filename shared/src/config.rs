//! Configuration: everything a function reads from its environment, read once into a
//! [`Config`] before any client is built. Tests and the local binary build a `Config` directly.
//!
//! | variable | meaning |
//! |---|---|
//! | `PRODUCTS_TABLE`, `INVENTORY_TABLE`, `JOBS_TABLE`, `ACCOUNTS_TABLE` | DynamoDB table names |
//! | `UPLOADS_BUCKET`, `IMAGES_BUCKET` | S3 bucket names |
//! | `JWT_SECRET_PARAM` | SSM SecureString parameter holding the token secret |
//! | `JWT_SECRET` | the secret itself (local runs and tests only) |
//! | `MATCH_INDEX_KEY` | the matching-index snapshot in the uploads bucket (default `indexes/match-index-v5.bin`, named by the snapshot format) |
//! | `IMPORT_QUEUE_URL` | an import function's own queue, which it resumes itself through (`csv-import`'s import queue, `off-import`'s) |
//! | `EVENT_BUS_NAME` | where `job.completed` goes (default `default`) |
//! | `ENRICH_QUEUE_URL` | the enrich queue: new products with a barcode go there for their Open Food Facts lookup |
//! | `OFF_BASE_URL` | Open Food Facts (default `https://world.openfoodfacts.org`; `off`: no lookups) |
//! | `OFF_CONTACT`, `OFF_REQUESTS_PER_MINUTE` | the contact in the OFF client's `User-Agent`; its reads a minute (1 to 100, default 60) |
//! | `S3_FORCE_PATH_STYLE` | `true` for S3-compatible local servers |
//! | `CORS_ALLOWED_ORIGINS` | comma-separated origins allowed to call the API from a browser |
//! | `METRICS_NAMESPACE` | CloudWatch namespace of the metrics (requests, match decisions, job rows: EMF on stdout); unset: none |
//! | `AWS_LAMBDA_FUNCTION_NAME` | set by Lambda: the variables below are required, and the local development secret is refused |
//! | `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | set by Lambda: the region and the execution role's credentials |
//! | `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` (SDK standard) | local servers' endpoints |

use http::HeaderValue;
use secrecy::SecretString;

#[cfg(feature = "aws")]
use crate::adapters::aws_http::LambdaEnvironment;
#[cfg(feature = "aws")]
use crate::adapters::dynamo::TableNames;
#[cfg(feature = "aws")]
use crate::ports::BlobKey;

/// Where the match-index builder writes its snapshot (in the uploads bucket) by default. The
/// key names the snapshot format (`matching::FORMAT_VERSION`): while a deploy shifts traffic,
/// and after a rollback, functions of the old code keep reading the old format's snapshot, and
/// the new code's index-build writes its own beside it.
pub const DEFAULT_MATCH_INDEX_KEY: &str = "indexes/match-index-v5.bin";

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Where the token secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// The secret itself (local runs and tests). Never printed.
    Given(SecretString),
    /// An SSM SecureString parameter's name.
    SsmParameter(String),
}

/// What the edge's layers need.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    /// Origins allowed to call the API from a browser (`https://app.example.com`); none by
    /// default.
    pub cors_origins: Vec<HeaderValue>,
    /// Where each request's metrics go (CloudWatch's Embedded Metric Format on stdout); none:
    /// no metrics (locally).
    pub metrics_namespace: Option<String>,
}

impl EdgeConfig {
    /// From a comma-separated list of origins (`https://a.example, https://b.example`).
    pub fn parse_origins(list: &str) -> Result<Self, ConfigError> {
        let cors_origins = list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                let ok = (o.starts_with("https://") || o.starts_with("http://"))
                    && !o.ends_with('/')
                    && !o.contains(char::is_whitespace);
                HeaderValue::from_str(o).ok().filter(|_| ok).ok_or_else(|| {
                    ConfigError(format!(
                        "CORS_ALLOWED_ORIGINS: '{o}' is not an origin like https://app.example.com"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(EdgeConfig {
            cors_origins,
            metrics_namespace: None,
        })
    }
}

/// An environment lookup (the process's, or a test's) in which a blank value counts as unset.
pub struct Vars<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// The variable, or an error naming it.
    pub fn require(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError(format!("{name} is not set")))
    }
}

/// The configuration of a function in AWS (or of tests against the local AWS servers).
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct Config {
    pub tables: TableNames,
    pub uploads_bucket: String,
    pub images_bucket: String,
    pub secret: SecretSource,
    /// Inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set): what Lambda says about AWS (region,
    /// the role's credentials, endpoints). The local development secret is then refused.
    pub lambda: Option<LambdaEnvironment>,
    pub s3_path_style: bool,
    pub match_index_key: BlobKey,
    /// Only the import function has it (it sends job events).
    pub import_queue_url: Option<String>,
    /// Where new products go for their Open Food Facts lookup (the enrich queue).
    pub enrich_queue_url: Option<String>,
    /// How the `enrich` function reaches Open Food Facts (`None`: `OFF_BASE_URL=off`).
    pub off: Option<crate::adapters::off::OffConfig>,
    pub event_bus: String,
    pub edge: EdgeConfig,
    /// Webhooks may target loopback and private addresses, and plain http
    /// (`WEBHOOK_ALLOW_PRIVATE_TARGETS=true`; never in a real deployment: SSRF).
    pub webhooks_allow_private: bool,
    /// How webhook deliveries leave: not a variable, the function's trigger says it
    /// (`webhook-deliver`'s; None elsewhere, so no other binary links an HTTP client for it).
    pub webhook_sender: Option<crate::services::webhooks::MakeSender>,
}

#[cfg(feature = "aws")]
impl Config {
    /// From the process environment (what the SAM template sets).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From `var`, a lookup of environment variables; blank values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(var);
        let get = |name: &str| vars.get(name);
        let require = |name: &str| vars.require(name);
        let secret = match (get("JWT_SECRET"), get("JWT_SECRET_PARAM")) {
            (Some(s), _) => SecretSource::Given(SecretString::from(s)),
            (None, Some(name)) => SecretSource::SsmParameter(name),
            (None, None) => {
                return Err(ConfigError(
                    "set JWT_SECRET_PARAM (or JWT_SECRET for local runs)".into(),
                ));
            }
        };
        let index_key = get("MATCH_INDEX_KEY").unwrap_or_else(|| DEFAULT_MATCH_INDEX_KEY.into());
        Ok(Config {
            tables: TableNames {
                products: require("PRODUCTS_TABLE")?,
                inventory: require("INVENTORY_TABLE")?,
                jobs: require("JOBS_TABLE")?,
                accounts: require("ACCOUNTS_TABLE")?,
            },
            uploads_bucket: require("UPLOADS_BUCKET")?,
            images_bucket: require("IMAGES_BUCKET")?,
            secret,
            lambda: get("AWS_LAMBDA_FUNCTION_NAME")
                .map(|_| LambdaEnvironment::from_vars(&vars))
                .transpose()?,
            s3_path_style: get("S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true" || v == "1"),
            match_index_key: BlobKey::parse(&index_key)
                .map_err(|e| ConfigError(format!("MATCH_INDEX_KEY: {e}")))?,
            import_queue_url: get("IMPORT_QUEUE_URL"),
            enrich_queue_url: get("ENRICH_QUEUE_URL"),
            off: crate::adapters::off::OffConfig::from_vars(get).map_err(ConfigError)?,
            event_bus: get("EVENT_BUS_NAME").unwrap_or_else(|| "default".into()),
            edge: EdgeConfig {
                metrics_namespace: get("METRICS_NAMESPACE"),
                ..EdgeConfig::parse_origins(&get("CORS_ALLOWED_ORIGINS").unwrap_or_default())?
            },
            webhooks_allow_private: get("WEBHOOK_ALLOW_PRIVATE_TARGETS")
                .is_some_and(|v| v == "true" || v == "1"),
            webhook_sender: None,
        })
    }
}

#[cfg(all(test, feature = "aws"))]
pub(crate) mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    /// A lookup of `pairs`, as a test's environment.
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const BASE: &[(&str, &str)] = &[
        ("PRODUCTS_TABLE", "p"),
        ("INVENTORY_TABLE", "i"),
        ("JOBS_TABLE", "j"),
        ("ACCOUNTS_TABLE", "a"),
        ("UPLOADS_BUCKET", "u"),
        ("IMAGES_BUCKET", "m"),
        ("JWT_SECRET_PARAM", "/catalog/jwt"),
    ];

    #[test]
    fn the_environment_becomes_a_typed_config() {
        let c = Config::from_vars(vars(BASE)).unwrap();
        assert_eq!(c.tables.jobs, "j");
        assert!(matches!(&c.secret, SecretSource::SsmParameter(p) if p == "/catalog/jwt"));
        assert_eq!(c.match_index_key.as_str(), DEFAULT_MATCH_INDEX_KEY);
        assert!(
            DEFAULT_MATCH_INDEX_KEY
                .ends_with(&format!("-v{}.bin", crate::matching::FORMAT_VERSION)),
            "the default snapshot key names the snapshot format"
        );
        assert!(c.lambda.is_none() && !c.s3_path_style && c.edge.cors_origins.is_empty());
        assert_eq!(c.edge.metrics_namespace, None, "no metrics unless asked");

        let mut with = BASE.to_vec();
        with.extend([
            ("JWT_SECRET", "s3cr3t-value-that-must-not-print"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:5173",
            ),
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
            ("AWS_REGION", "ap-south-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-key"),
            ("METRICS_NAMESPACE", "KiranaCatalog/stack"),
        ]);
        let c = Config::from_vars(vars(&with)).unwrap();
        assert_eq!(
            c.edge.metrics_namespace.as_deref(),
            Some("KiranaCatalog/stack")
        );
        assert!(matches!(&c.secret,
            SecretSource::Given(s) if s.expose_secret() == "s3cr3t-value-that-must-not-print"));
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "the secret never prints"
        );
        assert_eq!(c.edge.cors_origins.len(), 2);
        assert_eq!(c.lambda.unwrap().region(), "ap-south-1");
    }

    #[test]
    fn missing_or_malformed_settings_are_named() {
        let without: Vec<_> = BASE
            .iter()
            .copied()
            .filter(|(k, _)| *k != "JOBS_TABLE")
            .collect();
        let e = Config::from_vars(vars(&without)).unwrap_err().to_string();
        assert!(e.contains("JOBS_TABLE is not set"), "{e}");
        let mut bad = BASE.to_vec();
        bad.push(("CORS_ALLOWED_ORIGINS", "app.example.com"));
        let e = Config::from_vars(vars(&bad)).unwrap_err().to_string();
        assert!(e.contains("CORS_ALLOWED_ORIGINS"), "{e}");
        // Inside Lambda, the role's credentials are part of the configuration: their absence
        // fails the init.
        let mut lambda = BASE.to_vec();
        lambda.extend([
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
            ("AWS_REGION", "ap-south-1"),
        ]);
        let e = Config::from_vars(vars(&lambda)).unwrap_err().to_string();
        assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    }
}
