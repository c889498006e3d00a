//! Webhook secrets and signatures, as the Standard Webhooks spec has them
//! (<https://www.standardwebhooks.com>): a secret `whsec_<base64 of 32 bytes>`, and each
//! request signed as `v1,<base64 of HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")>`.
//!
//! Owns the secrets' derivation: a webhook's secret is the MAC of its store and id under a key
//! derived from the service secret. Nothing secret is stored, so a database read alone cannot
//! sign a delivery, and the secret the owner was shown is the one every delivery uses.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{StoreId, WebhookId};

type HmacSha256 = Hmac<Sha256>;

/// What a webhook's secret starts with (the spec's prefix).
pub const SECRET_PREFIX: &str = "whsec_";

/// The key webhook secrets are derived from.
#[derive(Clone)]
pub struct WebhookKey([u8; 32]);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(..)")
    }
}

impl WebhookKey {
    pub fn derive(service_secret: &[u8]) -> Self {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(service_secret)
            .expect("HMAC takes any key length");
        mac.update(b"kirana-catalog webhook secrets v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// The webhook's secret (32 bytes).
    pub fn secret(&self, store: &StoreId, id: &WebhookId) -> [u8; 32] {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("32-byte key");
        mac.update(store.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(id.as_uuid().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The secret as the owner is shown it: `whsec_...`.
    pub fn secret_text(&self, store: &StoreId, id: &WebhookId) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(self.secret(store, id)))
    }
}

/// The `webhook-signature` header's value for one request.
pub fn signature(secret: &[u8], msg_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's own example (standard-webhooks, `spec/standard-webhooks.md`).
    #[test]
    fn signs_the_specs_example() {
        let secret = B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn each_webhook_has_its_own_secret() {
        let key = WebhookKey::derive(b"service secret");
        let s1 = StoreId::parse("s1").unwrap();
        let (a, b) = (WebhookId::new(), WebhookId::new());
        assert_ne!(key.secret(&s1, &a), key.secret(&s1, &b));
        assert_ne!(
            key.secret(&s1, &a),
            key.secret(&StoreId::parse("s2").unwrap(), &a)
        );
        assert_eq!(
            key.secret(&s1, &a),
            WebhookKey::derive(b"service secret").secret(&s1, &a)
        );
        let text = key.secret_text(&s1, &a);
        assert!(text.starts_with("whsec_"));
        assert_eq!(B64.decode(&text[6..]).unwrap(), key.secret(&s1, &a));
    }
}
