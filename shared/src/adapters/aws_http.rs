//! The one HTTPS client every AWS SDK client shares, and the SDK configuration built on it.
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

use std::sync::LazyLock;

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, tls::rustls_provider::CryptoMode};

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

/// The SDK configuration loader with [`https_client`]: region, credentials and endpoints
/// from the environment as the SDK reads them (`AWS_REGION`, Lambda's credentials,
/// `AWS_ENDPOINT_URL`), unless the caller sets them.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
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
}
