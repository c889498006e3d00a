//! The one HTTPS client every AWS SDK client shares, and the SDK configurations built on it
//! (a Lambda function's, from its environment; the CLI's and the tests', from the SDK's chain).
//!
//! Owns how the functions reach AWS: hyper 1 + rustls with ring, trusting Mozilla's root
//! certificates compiled into the binary (`webpki-root-certs`). The SDK's default client
//! would read the system trust store (`rustls-native-certs`: the bundle and every hashed file
//! in `/etc/ssl/certs`, about 9 ms of a cold start on Debian), and it links aws-lc besides. AWS
//! endpoints present Amazon Trust Services chains, which Mozilla's list carries; a Lambda
//! image's own bundle adds nothing an AWS call needs. Plain `http://` endpoints (DynamoDB
//! Local, ministack) go through the same client.
//!
//! The roots become one PEM bundle (what the SDK's `TrustStore` takes) when the client is
//! first asked for, as the app is made; rustls parses them for each connector the client
//! builds, one per distinct set of timeouts (`app::budgets`: two), on its first connection.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, tls::rustls_provider::CryptoMode};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::{ConfigError, Vars};

/// The SDK's HTTP client type, as `aws_config` and each service's config take it.
pub use aws_sdk_s3::config::SharedHttpClient;

/// Mozilla's roots as one PEM bundle: what the SDK's trust store takes (`TrustStore` reads
/// PEM only). Made once per process from the compiled-in DER.
static ROOTS_PEM: LazyLock<Vec<u8>> = LazyLock::new(|| {
    use base64::Engine as _;
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
});

/// The HTTPS client for every SDK client of a process.
pub fn https_client() -> SharedHttpClient {
    static CLIENT: LazyLock<SharedHttpClient> = LazyLock::new(|| {
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(ROOTS_PEM.as_slice());
        let context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .expect("a trust store of compiled-in certificates is valid");
        Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context)
            .build_https()
    });
    CLIENT.clone()
}

/// The SDK configuration loader with [`https_client`] and the SDK's whole default chain
/// (profiles, SSO, web identity, container and instance credentials): for the CLI and the
/// tests. A Lambda function uses [`LambdaEnvironment::sdk_config`] instead.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// What Lambda tells a function about AWS in its environment, read with the rest of its
/// configuration before the runtime's first poll (`Config::from_vars`: a missing variable
/// fails the init): the region (`AWS_REGION`), the execution role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, valid for the
/// execution environment's life), and endpoints for local servers (`AWS_ENDPOINT_URL`, and
/// `AWS_ENDPOINT_URL_<SERVICE>` for the services the app uses, such as
/// `AWS_ENDPOINT_URL_DYNAMODB`). Its [`sdk_config`](Self::sdk_config) is what the app's
/// clients are made from.
///
/// Why not [`sdk_loader`]: its default chain looks for profile files and links the STS, SSO
/// and instance-metadata clients that it would try in turn, none of which a function's
/// environment has; leaving them out makes every function about 0.6 MB smaller (README,
/// "Cold start"), and making the app reads no files. The SDK's other environment settings
/// (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`, `AWS_MAX_ATTEMPTS`,
/// `AWS_RETRY_MODE`, ...) are not read: the template sets none of them.
#[derive(Clone)]
pub struct LambdaEnvironment {
    region: String,
    credentials: Credentials,
    /// The endpoint variables that are set, by name.
    endpoints: BTreeMap<String, String>,
}

/// The services the app has clients for, as the SDK names their endpoint variables
/// (`AWS_ENDPOINT_URL_<SERVICE>`: the service id upper-cased, spaces as `_`).
const SERVICES: [&str; 5] = ["DYNAMODB", "S3", "SSM", "SQS", "EVENTBRIDGE"];

impl LambdaEnvironment {
    pub fn from_vars(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let region = vars
            .get("AWS_REGION")
            .or_else(|| vars.get("AWS_DEFAULT_REGION"))
            .ok_or_else(|| ConfigError("AWS_REGION (or AWS_DEFAULT_REGION) is not set".into()))?;
        let credentials = Credentials::new(
            vars.require("AWS_ACCESS_KEY_ID")?.trim(),
            vars.require("AWS_SECRET_ACCESS_KEY")?.trim(),
            vars.get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            None,
            "lambda-environment",
        );
        let endpoints = std::iter::once("AWS_ENDPOINT_URL".to_string())
            .chain(SERVICES.iter().map(|s| format!("AWS_ENDPOINT_URL_{s}")))
            .filter_map(|name| Some((name.clone(), vars.get(&name)?)))
            .collect();
        Ok(LambdaEnvironment {
            region,
            credentials,
            endpoints,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK configuration over [`https_client`], with the SDK's standard retries (each
    /// client adds its call budgets).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials.clone()))
            .retry_config(aws_smithy_types::retry::RetryConfig::standard())
            .http_client(https_client())
            .service_config(ServiceEndpoints(self.endpoints.clone()))
            .build()
    }
}

impl std::fmt::Debug for LambdaEnvironment {
    /// The region and endpoints; never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaEnvironment")
            .field("region", &self.region)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// A service's endpoint as its configuration asks for it while it is built (the profile key
/// `endpoint_url`): `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, as the SDK's own
/// environment loader reads them.
#[derive(Debug)]
struct ServiceEndpoints(BTreeMap<String, String>);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.profile() != "endpoint_url" {
            return None;
        }
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.0
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn every_compiled_in_root_survives_the_pem_round_trip() {
        let pem = std::str::from_utf8(&ROOTS_PEM).expect("PEM is ASCII");
        let back: Vec<Vec<u8>> = pem
            .split("-----END CERTIFICATE-----\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let body = block
                    .strip_prefix("-----BEGIN CERTIFICATE-----\n")
                    .expect("each block opens with its label");
                assert!(body.lines().all(|l| l.len() <= 64), "PEM lines are 64 wide");
                base64::engine::general_purpose::STANDARD
                    .decode(body.replace('\n', ""))
                    .expect("base64")
            })
            .collect();
        assert!(back.len() > 100, "Mozilla's list has well over 100 roots");
        assert_eq!(back.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        for (ours, theirs) in back.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(ours.as_slice(), theirs.as_ref());
        }
    }

    /// The SDK adds each root with `expect`: one rustls could not read would panic on the
    /// first connection.
    #[test]
    fn rustls_takes_every_root() {
        let mut roots = rustls::RootCertStore::empty();
        let (added, refused) = roots
            .add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        assert_eq!(refused, 0);
        assert_eq!(added, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "ap-south-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "session\n"),
    ];

    fn lambda(pairs: &[(&str, &str)]) -> Result<LambdaEnvironment, ConfigError> {
        LambdaEnvironment::from_vars(&Vars(crate::config::tests::vars(pairs)))
    }

    #[tokio::test]
    async fn a_function_takes_its_region_and_role_from_lambdas_variables() {
        use aws_sdk_s3::config::ProvideCredentials as _;

        let env = lambda(LAMBDA).unwrap();
        assert!(!format!("{env:?}").contains("secret"), "{env:?}");
        let sdk = env.sdk_config();
        assert_eq!(sdk.region().unwrap().as_ref(), "ap-south-1");
        let credentials = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("session"));
    }

    #[test]
    fn a_missing_or_blank_variable_is_named() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            for blank in [false, true] {
                let pairs: Vec<(&str, &str)> = LAMBDA
                    .iter()
                    .map(|&(k, v)| (k, if k == missing { " " } else { v }))
                    .filter(|&(k, _)| blank || k != missing)
                    .collect();
                let err = lambda(&pairs).unwrap_err();
                assert!(err.to_string().contains(missing), "{err}");
            }
        }
        // The session token is optional (long-term keys have none; ministack's is blank).
        let without_token: Vec<_> = LAMBDA[..3].to_vec();
        assert!(lambda(&without_token).is_ok());
    }

    #[test]
    fn a_service_endpoint_wins_over_the_global_one() {
        let mut pairs = LAMBDA.to_vec();
        pairs.extend([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", "http://127.0.0.1:4999"),
        ]);
        let endpoints = ServiceEndpoints(lambda(&pairs).unwrap().endpoints);
        let key = |service, env, profile| {
            ServiceConfigKey::builder()
                .service_id(service)
                .env(env)
                .profile(profile)
                .build()
                .unwrap()
        };
        let url = |service| endpoints.load_config(key(service, "AWS_ENDPOINT_URL", "endpoint_url"));
        assert_eq!(url("DynamoDB").as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(url("EventBridge").as_deref(), Some("http://127.0.0.1:4999"));
        assert_eq!(url("S3").as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(
            endpoints.load_config(key(
                "S3",
                "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH",
                "s3_disable_express_session_auth"
            )),
            None
        );
    }
}
