//! Open Food Facts over HTTP: the product API (`/api/v2/product/{barcode}?fields=...`) and
//! its image server, as OFF asks clients to use them.
//!
//! Owns the manners: a descriptive `User-Agent`, one request at a time spaced below OFF's
//! published limit for product reads (100 a minute; [`OffConfig::requests_per_minute`]), a
//! pause for everyone when OFF answers 429, timeouts on every call, answers read only up to a
//! size, and a negative cache (a barcode OFF does not know is not asked again for a day by this
//! process; the product itself records the answer for the others). Images are fetched only
//! from OFF's own hosts (or the configured base's), never from any URL a record names.
//!
//! reqwest (rustls, ring, Mozilla's roots compiled in as for the AWS clients) rather than a
//! hand-made hyper client: redirects, timeouts and body handling are its job.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::StatusCode;

use crate::domain::Gtin;
use crate::off::{PRODUCT_FIELDS, ProductAnswer};
use crate::ports::{Lookup, OpenFoodFacts, Unavailable};

/// OFF's public server.
pub const DEFAULT_BASE_URL: &str = "https://world.openfoodfacts.org";
/// Hosts OFF serves product images from.
const IMAGE_HOSTS: [&str; 2] = ["images.openfoodfacts.org", "static.openfoodfacts.org"];
/// Largest product API answer read (a `fields=` answer is a few KB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Barcodes remembered as unknown by one process.
const MAX_MISSES: usize = 100_000;
/// Longest a lookup waits for its turn (OFF's pause after a 429 is usually longer: the lookup
/// is then told to come back).
const MAX_PACE_WAIT: Duration = Duration::from_secs(5);

/// How to reach OFF and how politely.
#[derive(Debug, Clone)]
pub struct OffConfig {
    /// `https://world.openfoodfacts.org` (a fake server's URL in tests).
    pub base_url: String,
    /// `AppName/Version (contact)`, as OFF asks of every client.
    pub user_agent: String,
    /// Product reads a minute from this process (OFF allows 100).
    pub requests_per_minute: u32,
    /// One whole call, connection included.
    pub timeout: Duration,
    /// How long a barcode OFF does not know is answered from memory.
    pub negative_ttl: Duration,
}

impl OffConfig {
    /// OFF's public server at 60 reads a minute.
    pub fn public(contact: &str) -> Self {
        OffConfig {
            base_url: DEFAULT_BASE_URL.into(),
            user_agent: format!("KiranaCatalog/{} ({contact})", env!("CARGO_PKG_VERSION")),
            requests_per_minute: 60,
            timeout: Duration::from_secs(10),
            negative_ttl: Duration::from_secs(24 * 3600),
        }
    }

    /// From the environment: `OFF_BASE_URL`, `OFF_CONTACT` (the `User-Agent`'s contact),
    /// `OFF_REQUESTS_PER_MINUTE` (1 to 100). `None` when `OFF_BASE_URL` is `off` (lookups
    /// disabled: products stay queued).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let contact = get("OFF_CONTACT").unwrap_or_else(|| "catalog-operators@localhost".into());
        let mut c = Self::public(&contact);
        match get("OFF_BASE_URL").as_deref().map(str::trim) {
            Some("off") => return Ok(None),
            Some(url) if !url.is_empty() => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| format!("OFF_BASE_URL {url:?} is not a URL: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(format!("OFF_BASE_URL {url:?} is not an http(s) URL"));
                }
                c.base_url = url.trim_end_matches('/').to_string();
            }
            _ => {}
        }
        if let Some(rate) = get("OFF_REQUESTS_PER_MINUTE") {
            c.requests_per_minute = rate
                .trim()
                .parse()
                .ok()
                .filter(|r| (1..=100).contains(r))
                .ok_or_else(|| format!("OFF_REQUESTS_PER_MINUTE {rate:?}: 1 to 100"))?;
        }
        Ok(Some(c))
    }
}

/// The OFF client a process builds when it first needs one (the `enrich` function, the
/// local server's worker), from the configuration it was given: functions that never look a
/// product up pay nothing for it at their cold start.
pub struct LazyOff {
    config: Option<OffConfig>,
    client: std::sync::OnceLock<Option<std::sync::Arc<OffClient>>>,
}

impl LazyOff {
    /// `None`: lookups are off here.
    pub fn new(config: Option<OffConfig>) -> Self {
        LazyOff {
            config,
            client: std::sync::OnceLock::new(),
        }
    }

    /// The client (`None` when lookups are off, or it could not be built: logged).
    pub fn get(&self) -> Option<std::sync::Arc<OffClient>> {
        self.client
            .get_or_init(|| {
                let config = self.config.clone()?;
                match OffClient::new(config) {
                    Ok(c) => Some(std::sync::Arc::new(c)),
                    Err(e) => {
                        tracing::error!(error = %e, "no Open Food Facts client");
                        None
                    }
                }
            })
            .clone()
    }

    pub fn config(&self) -> Option<&OffConfig> {
        self.config.as_ref()
    }
}

/// Spaces requests evenly: each waits for the slot after the last one taken. A 429 pushes
/// every later slot back by what OFF asked; a request whose slot is further off than
/// [`MAX_PACE_WAIT`] is not sent (it is told how long is left) rather than kept waiting past
/// its function's deadline.
struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(interval: Duration) -> Self {
        Pacer {
            interval,
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn slot(&self, max_wait: Duration) -> Result<(), Duration> {
        let at = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            if at - now > max_wait {
                return Err(at - now);
            }
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
        Ok(())
    }

    async fn hold_off(&self, pause: Duration) {
        let mut next = self.next.lock().await;
        *next = (*next).max(tokio::time::Instant::now() + pause);
    }
}

pub struct OffClient {
    http: reqwest::Client,
    config: OffConfig,
    /// The configured server's host (a fake OFF's in tests), trusted as OFF's own.
    base_host: Option<String>,
    pacer: Pacer,
    misses: Mutex<HashMap<String, Instant>>,
}

/// Redirects followed: at most three, and only to OFF's hosts or the configured server's (an
/// image URL must not lead anywhere else).
fn off_redirects(base_host: Option<String>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let host = attempt.url().host_str().unwrap_or("");
        let ours = host == "openfoodfacts.org"
            || host.ends_with(".openfoodfacts.org")
            || base_host.as_deref() == Some(host);
        if attempt.previous().len() >= 3 || !ours {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

fn unavailable(detail: impl Into<String>) -> Unavailable {
    Unavailable {
        detail: detail.into(),
        retry_after: None,
    }
}

/// A TLS configuration trusting Mozilla's roots (compiled in), with ring.
pub(crate) fn tls() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports TLS 1.2 and 1.3")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

impl OffClient {
    pub fn new(config: OffConfig) -> Result<Self, String> {
        let base_host = reqwest::Url::parse(&config.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls())
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(3))
            .redirect(off_redirects(base_host.clone()))
            .build()
            .map_err(|e| format!("the Open Food Facts client: {e}"))?;
        let interval = Duration::from_secs(60) / config.requests_per_minute.max(1);
        Ok(OffClient {
            http,
            pacer: Pacer::new(interval),
            config,
            base_host,
            misses: Mutex::new(HashMap::new()),
        })
    }

    fn known_missing(&self, barcode: &str) -> bool {
        let misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        misses
            .get(barcode)
            .is_some_and(|at| at.elapsed() < self.config.negative_ttl)
    }

    fn remember_missing(&self, barcode: &str) {
        let mut misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        if misses.len() >= MAX_MISSES {
            let ttl = self.config.negative_ttl;
            misses.retain(|_, at| at.elapsed() < ttl);
            if misses.len() >= MAX_MISSES {
                misses.clear();
            }
        }
        misses.insert(barcode.to_string(), Instant::now());
    }

    /// Whether `url` is on a host OFF serves images from (or the configured server's).
    fn image_host_allowed(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        matches!(url.scheme(), "http" | "https")
            && (IMAGE_HOSTS.contains(&host) || self.base_host.as_deref() == Some(host))
    }
}

/// The seconds a `Retry-After` header asks for (OFF sends seconds).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

/// A response's body, up to `max` bytes (`None` past it).
async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Option<Bytes>, Unavailable> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Ok(None);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| unavailable(format!("reading the answer: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

#[async_trait]
impl OpenFoodFacts for OffClient {
    async fn lookup(&self, barcode: &Gtin) -> Result<Lookup, Unavailable> {
        let code = barcode.to_string();
        if self.known_missing(&code) {
            return Ok(Lookup::NotFound);
        }
        if let Err(left) = self.pacer.slot(MAX_PACE_WAIT).await {
            return Err(Unavailable {
                detail: format!(
                    "held back for {} s more: Open Food Facts asked for a pause",
                    left.as_secs()
                ),
                retry_after: Some(left),
            });
        }
        let url = format!(
            "{}/api/v2/product/{code}?fields={PRODUCT_FIELDS}",
            self.config.base_url
        );
        let resp = self
            .http
            .get(&url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                unavailable(if e.is_timeout() {
                    format!("no answer within {:?}", self.config.timeout)
                } else {
                    format!("the request failed: {e}")
                })
            })?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let after = retry_after(&resp).unwrap_or(Duration::from_secs(60));
            self.pacer.hold_off(after).await;
            return Err(Unavailable {
                detail: "Open Food Facts answered 429 (too many requests)".into(),
                retry_after: Some(after),
            });
        }
        if status.is_server_error() {
            return Err(Unavailable {
                retry_after: retry_after(&resp),
                detail: format!("Open Food Facts answered {status}"),
            });
        }
        if status != StatusCode::OK && status != StatusCode::NOT_FOUND {
            return Err(unavailable(format!("Open Food Facts answered {status}")));
        }
        let body = read_capped(resp, MAX_ANSWER_BYTES)
            .await?
            .ok_or_else(|| unavailable("the answer was larger than 1 MiB"))?;
        // "Not found" only when it is OFF's own answer saying so (status 0), not a proxy's
        // page or another server's JSON.
        let answer: ProductAnswer = serde_json::from_slice(&body).map_err(|e| {
            unavailable(format!("an answer that is not OFF's JSON ({status}): {e}"))
        })?;
        if status == StatusCode::OK
            && answer.says_found()
            && let Some(p) = answer.product
        {
            return Ok(Lookup::Found(Box::new(p)));
        }
        if answer.says_not_found() {
            self.remember_missing(&code);
            return Ok(Lookup::NotFound);
        }
        Err(unavailable(format!(
            "an answer ({status}) that says neither found nor not found"
        )))
    }

    async fn image(&self, url: &str, max_bytes: u64) -> Result<Option<Bytes>, Unavailable> {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Ok(None);
        };
        if !self.image_host_allowed(&parsed) {
            tracing::warn!(url, "not an Open Food Facts image URL: not fetched");
            return Ok(None);
        }
        let resp = self
            .http
            .get(parsed)
            .send()
            .await
            .map_err(|e| unavailable(format!("fetching the image: {e}")))?;
        let status = resp.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Unavailable {
                retry_after: retry_after(&resp),
                detail: format!("the image server answered {status}"),
            });
        }
        if !status.is_success() {
            return Ok(None);
        }
        read_capped(resp, usize::try_from(max_bytes).unwrap_or(usize::MAX)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn configuration_is_checked() {
        let c = OffConfig::from_vars(vars(&[])).unwrap().unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert!(c.user_agent.starts_with("KiranaCatalog/"));
        assert!(
            OffConfig::from_vars(vars(&[("OFF_BASE_URL", "off")]))
                .unwrap()
                .is_none()
        );
        let local = OffConfig::from_vars(vars(&[("OFF_BASE_URL", "http://127.0.0.1:9/")]))
            .unwrap()
            .unwrap();
        assert_eq!(local.base_url, "http://127.0.0.1:9");
        assert!(OffConfig::from_vars(vars(&[("OFF_BASE_URL", "ftp://x")])).is_err());
        assert!(OffConfig::from_vars(vars(&[("OFF_REQUESTS_PER_MINUTE", "500")])).is_err());
    }

    #[tokio::test]
    async fn images_come_only_from_off_hosts() {
        let c = OffClient::new(OffConfig::public("test")).unwrap();
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8080/x.jpg",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert_eq!(c.image(bad, 10).await.unwrap(), None, "{bad}");
        }
        assert!(c.image_host_allowed(
            &reqwest::Url::parse("https://images.openfoodfacts.org/images/products/1.jpg").unwrap()
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_and_a_429_pauses_everyone() {
        let pacer = Pacer::new(Duration::from_secs(1));
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            pacer.slot(MAX_PACE_WAIT).await.unwrap();
        }
        assert_eq!(start.elapsed().as_secs(), 2);
        // A 429's pause: no request is sent, each is told how long is left.
        pacer.hold_off(Duration::from_secs(30)).await;
        let left = pacer.slot(MAX_PACE_WAIT).await.unwrap_err();
        assert!(left > Duration::from_secs(29), "{left:?}");
        tokio::time::sleep(left).await;
        pacer.slot(MAX_PACE_WAIT).await.unwrap();
        assert!(start.elapsed().as_secs() >= 32);
    }
}
