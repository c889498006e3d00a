//! Webhook requests over HTTPS (reqwest on rustls, Mozilla's roots), in both runtimes.
//!
//! Owns the network side of the SSRF rule: unless private targets are allowed (local runs and
//! tests), a target is reached only on public addresses. A name is resolved by this adapter's
//! resolver, which drops every address that is not public, so the check holds for the address
//! actually connected to (a name that resolved to a public address when the webhook was made
//! and to a private one now is refused now); an address in the URL itself is checked before
//! the request. Redirects are not followed (a receiver that moved must be subscribed again),
//! proxies from the environment are not used, and each attempt has
//! [`ATTEMPT_TIMEOUT`](crate::domain::webhook::ATTEMPT_TIMEOUT).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::webhook::{ATTEMPT_TIMEOUT, is_public};
use crate::error_chain::ErrorChain;
use crate::ports::{WebhookAnswer, WebhookRequest, WebhookSender};

/// The `User-Agent` of deliveries.
const USER_AGENT: &str = concat!("kirana-catalog-webhooks/", env!("CARGO_PKG_VERSION"));

pub struct HttpWebhooks {
    /// Built at the first delivery: only `webhook-deliver` (and the local server) send, and
    /// the TLS roots cost every other function's cold start nothing.
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
    allow_private: bool,
}

/// Resolves names as the system does, keeping only public addresses.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address ({}); webhook targets must be public",
                    all.iter()
                        .map(|a| a.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpWebhooks {
    /// `allow_private`: reach loopback and private addresses too (never in AWS).
    pub fn new(allow_private: bool) -> Self {
        HttpWebhooks {
            http: std::sync::OnceLock::new(),
            allow_private,
        }
    }

    /// The sender, for [`WebhookConfig::sender`](crate::services::webhooks::WebhookConfig).
    pub fn make(allow_private: bool) -> std::sync::Arc<dyn WebhookSender> {
        std::sync::Arc::new(Self::new(allow_private))
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| Self::build(self.allow_private))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build(allow_private: bool) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(super::off::tls())
            .user_agent(USER_AGENT)
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        builder
            .build()
            .map_err(|e| format!("the webhook client: {e}"))
    }
}

#[async_trait]
impl WebhookSender for HttpWebhooks {
    async fn send(&self, request: &WebhookRequest) -> WebhookAnswer {
        let url = match reqwest::Url::parse(&request.url) {
            Ok(u) => u,
            Err(e) => return WebhookAnswer::NoAnswer(format!("the URL does not parse: {e}")),
        };
        if !self.allow_private {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return WebhookAnswer::NoAnswer(format!(
                    "{ip} is not a public address; webhook targets must be public"
                ));
            }
        }
        let http = match self.client() {
            Ok(c) => c,
            Err(e) => return WebhookAnswer::NoAnswer(e),
        };
        let mut req = http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        for (name, value) in &request.headers {
            req = req.header(*name, value);
        }
        match req.send().await {
            Ok(r) => WebhookAnswer::Status(r.status().as_u16()),
            Err(e) if e.is_timeout() => {
                WebhookAnswer::NoAnswer(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))
            }
            Err(e) => WebhookAnswer::NoAnswer(ErrorChain(&e).to_string()),
        }
    }
}
