//! Webhooks: a store's subscriptions (a URL and the event types it wants) and the deliveries
//! of events to them, with the retry schedule a failing receiver gets.
//!
//! Owns the rules that need no I/O: which URLs may be targets, when the next attempt is due,
//! when a delivery gives up. Signing and sending are the services' and adapters' business.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Event, EventType, StoreId, Timestamp, WebhookId};

/// Most webhooks a store may have.
pub const MAX_WEBHOOKS: usize = 10;
/// Longest target URL.
pub const MAX_URL_CHARS: usize = 2000;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 120;
/// How long a receiver has to answer one attempt.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an attempt holds its delivery (no other run attempts it meanwhile): longer than
/// an attempt takes, so a run that died mid-attempt is retried this long after.
pub const ATTEMPT_LEASE: time::Duration = time::Duration::seconds(60);
/// The waits after each failed attempt (Standard Webhooks' schedule, shortened to end within a
/// day): the first attempt, then 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 8 h and 8 h later; after
/// the ninth failure, 23 h 36 min after the first, the delivery is parked (`failed`).
pub const RETRY_WAITS: [time::Duration; 8] = [
    time::Duration::seconds(5),
    time::Duration::minutes(1),
    time::Duration::minutes(5),
    time::Duration::minutes(30),
    time::Duration::hours(2),
    time::Duration::hours(5),
    time::Duration::hours(8),
    time::Duration::hours(8),
];
/// Attempts before a delivery is parked.
pub const MAX_ATTEMPTS: u32 = RETRY_WAITS.len() as u32 + 1;
/// How long a delivery's record is kept (listed) after it was made.
pub const DELIVERIES_KEPT: time::Duration = time::Duration::days(30);
/// The most characters of a receiver's error kept with a delivery.
const MAX_ERROR_CHARS: usize = 300;

/// A store's webhook, as stored. Its signing secret is not stored: it is derived from the
/// service's secret, the store and the id (`services::webhooks`), so a database read alone
/// cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub webhook_id: WebhookId,
    pub store_id: StoreId,
    pub url: String,
    pub events: BTreeSet<EventType>,
    #[serde(default)]
    pub description: String,
    /// Who made it (a token's `sub`).
    pub created_by: String,
    pub created_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: an attempt is due at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Parked: every attempt failed (or the webhook was deleted); no more attempts.
    Failed,
}

/// One event on its way to one webhook, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Named by the webhook and the event, so an event announced twice is delivered once.
    pub delivery_id: Uuid,
    pub webhook_id: WebhookId,
    pub store_id: StoreId,
    pub event_id: Uuid,
    pub event_type: EventType,
    /// When the event happened (deliveries are listed newest event first).
    pub event_time: Timestamp,
    /// The request body, as signed: the event's JSON.
    #[serde(default)]
    pub body: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (`pending` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last answer (none: no answer, see `last_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// Bumped by every change; storage writes a change only over the version it was read at.
    pub version: u64,
}

/// Names delivery ids (UUIDv5 of the webhook and the event).
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x3f0c_55d2_8b7e_4b61_a4e9_0c2d_91f7_6a18);

impl Delivery {
    /// The first try of `event` to `webhook`, due at `now`.
    pub fn new(webhook: &Webhook, event: &Event, now: Timestamp) -> Self {
        let mut name = webhook.webhook_id.as_uuid().as_bytes().to_vec();
        name.extend_from_slice(event.id.as_bytes());
        Delivery {
            delivery_id: Uuid::new_v5(&DELIVERY_NAMESPACE, &name),
            webhook_id: webhook.webhook_id,
            store_id: webhook.store_id.clone(),
            event_id: event.id,
            event_type: event.kind,
            event_time: event.timestamp,
            body: serde_json::to_string(event).unwrap_or_default(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            created_at: now,
            version: 1,
        }
    }

    /// Whether an attempt is due at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_none_or(|t| t <= now)
    }

    /// The delivery held by an attempt starting at `now`: the attempt is counted now (so one
    /// whose run dies still uses up its turn), and no other run attempts the delivery until
    /// [`ATTEMPT_LEASE`] has passed (then the attempt was lost, and the next one is due).
    pub fn claimed(&self, now: Timestamp) -> Self {
        Delivery {
            attempts: self.attempts + 1,
            next_attempt_at: Some(now.plus(ATTEMPT_LEASE)),
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// Whether every attempt has been made (the last one's run died if it is still pending).
    pub fn attempts_spent(&self) -> bool {
        self.attempts >= MAX_ATTEMPTS
    }

    /// The held delivery after its attempt at `now`, which the receiver accepted (2xx).
    pub fn delivered(&self, now: Timestamp, status: u16) -> Self {
        Delivery {
            status: DeliveryStatus::Delivered,
            next_attempt_at: None,
            last_attempt_at: Some(now),
            last_status: Some(status),
            last_error: None,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The held delivery after its attempt at `now` failed (`status`: the receiver's answer,
    /// when there was one): due again after the schedule's next wait, or parked after
    /// [`MAX_ATTEMPTS`].
    pub fn attempt_failed(&self, now: Timestamp, status: Option<u16>, error: &str) -> Self {
        let wait = RETRY_WAITS.get((self.attempts as usize).saturating_sub(1));
        Delivery {
            status: if wait.is_some() {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Failed
            },
            next_attempt_at: wait.map(|w| now.plus(*w)),
            last_attempt_at: Some(now),
            last_status: status,
            last_error: Some(error.chars().take(MAX_ERROR_CHARS).collect()),
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The delivery parked without another attempt (`why`: its webhook is gone, or its last
    /// attempt's run died).
    pub fn abandoned(&self, why: &str) -> Self {
        Delivery {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            last_error: Some(why.to_string()),
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// Why a URL cannot be a webhook's target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an absolute http(s) URL: {0}")]
    Malformed(String),
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not be longer than {MAX_URL_CHARS} characters")]
    TooLong,
    /// Loopback, private, link-local and other non-public addresses (SSRF).
    #[error("must be a public address; {0} is not")]
    Private(String),
}

impl TargetError {
    pub fn code(&self) -> &'static str {
        match self {
            TargetError::Private(_) => "private_target",
            TargetError::NotHttps => "https_required",
            _ => "invalid_url",
        }
    }
}

/// Checks a webhook's target URL. `allow_private` (local runs and tests) lets `http` and
/// non-public addresses through; otherwise the URL must be `https` and its host must not be an
/// address or a name that is not public. A name's addresses are checked again when each
/// attempt connects (the name may change what it resolves to).
pub fn check_target(text: &str, allow_private: bool) -> Result<url::Url, TargetError> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(TargetError::TooLong);
    }
    let url = url::Url::parse(text.trim()).map_err(|e| TargetError::Malformed(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Malformed(format!(
            "the scheme is {}",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    let Some(host) = url.host() else {
        return Err(TargetError::Malformed("it has no host".into()));
    };
    if allow_private {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(TargetError::NotHttps);
    }
    match host {
        url::Host::Ipv4(ip) if !is_public(IpAddr::V4(ip)) => {
            Err(TargetError::Private(ip.to_string()))
        }
        url::Host::Ipv6(ip) if !is_public(IpAddr::V6(ip)) => {
            Err(TargetError::Private(ip.to_string()))
        }
        url::Host::Domain(name) if is_internal_name(name) => {
            Err(TargetError::Private(name.to_string()))
        }
        _ => Ok(url),
    }
}

/// Names that never resolve to a public address (RFC 6761, 6762, 8375, and the suffixes
/// clouds use for their private names).
fn is_internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || [
            ".localhost",
            ".local",
            ".internal",
            ".home.arpa",
            ".lan",
            ".intranet",
        ]
        .iter()
        .any(|s| name.ends_with(s))
        || !name.contains('.')
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique local),
/// link-local (the instance metadata service among them), shared (CGNAT), unspecified,
/// broadcast, multicast, documentation or benchmarking, nor one of those inside an IPv6
/// mapping or translation prefix.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let [a, b] = seg[6].to_be_bytes();
        let [c, d] = seg[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local, link-local and the old site-local.
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
        // Documentation, and the tunnels that carry an IPv4 address (6to4, Teredo) or a
        // local translation (64:ff9b:1::/48), whose far end is not this address.
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)
        || seg[0] == 0x2002
        || (seg[0] == 0x2001 && seg[1] == 0)
        || (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1)
        // Discard-only (100::/64) and the IPv4-compatible block.
        || (seg[0] == 0x100 && seg[1..4] == [0, 0, 0])
        || seg[0..6] == [0, 0, 0, 0, 0, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_on_private_addresses_are_refused() {
        for url in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.10/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:c0a8:101::1]/",
            "https://[2001:0:4136:e378::1]/",
            "https://[fec0::1]/",
            "https://192.88.99.1/",
            "https://localhost/",
            "https://api.localhost./",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://intranet/",
        ] {
            assert!(
                matches!(check_target(url, false), Err(TargetError::Private(_))),
                "{url}: {:?}",
                check_target(url, false)
            );
            assert!(check_target(url, true).is_ok(), "{url} is allowed locally");
        }
    }

    #[test]
    fn public_https_targets_are_accepted_and_others_say_why() {
        for url in [
            "https://example.com/hooks/catalog",
            "https://203.0.114.7:8443/x",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check_target(url, false).is_ok(), "{url}");
        }
        let code = |u: &str| check_target(u, false).unwrap_err().code();
        assert_eq!(code("http://example.com/"), "https_required");
        assert_eq!(code("https://user:pw@example.com/"), "invalid_url");
        assert_eq!(code("ftp://example.com/"), "invalid_url");
        assert_eq!(code("example.com/hook"), "invalid_url");
        assert_eq!(
            code(&format!("https://example.com/{}", "a".repeat(2000))),
            "invalid_url"
        );
    }

    fn delivery() -> Delivery {
        let webhook = Webhook {
            webhook_id: WebhookId::new(),
            store_id: StoreId::parse("s1").unwrap(),
            url: "https://example.com/".into(),
            events: [EventType::JobCompleted].into(),
            description: String::new(),
            created_by: "test".into(),
            created_at: Timestamp::now(),
        };
        let event = Event {
            id: Uuid::new_v4(),
            kind: EventType::JobCompleted,
            timestamp: Timestamp::now(),
            store_id: webhook.store_id.clone(),
            version: 1,
            data: serde_json::json!({}),
        };
        Delivery::new(&webhook, &event, Timestamp::now())
    }

    #[test]
    fn a_failing_receiver_is_retried_on_the_schedule_then_parked_within_a_day() {
        let mut d = delivery();
        let start = d.next_attempt_at.unwrap();
        let mut now = start;
        let mut tries = 0;
        while d.status == DeliveryStatus::Pending {
            assert!(d.is_due(now));
            d = d
                .claimed(now)
                .attempt_failed(now, Some(500), "Internal Server Error");
            tries += 1;
            if let Some(next) = d.next_attempt_at {
                assert!(!d.is_due(now));
                now = next;
            }
        }
        assert_eq!(
            (tries, d.attempts, d.status),
            (MAX_ATTEMPTS, 9, DeliveryStatus::Failed)
        );
        let took = now.datetime() - start.datetime();
        assert!(
            took > time::Duration::hours(23) && took < time::Duration::hours(24),
            "{took}"
        );
        assert_eq!(d.next_attempt_at, None);
    }

    #[test]
    fn a_delivery_is_named_by_its_webhook_and_event() {
        let d = delivery();
        let again = Delivery::new(
            &Webhook {
                webhook_id: d.webhook_id,
                store_id: d.store_id.clone(),
                url: String::new(),
                events: BTreeSet::new(),
                description: String::new(),
                created_by: String::new(),
                created_at: Timestamp::now(),
            },
            &serde_json::from_str(&d.body).unwrap(),
            Timestamp::now(),
        );
        assert_eq!(again.delivery_id, d.delivery_id);
        let delivered = d.claimed(Timestamp::now()).delivered(Timestamp::now(), 204);
        assert_eq!(
            (delivered.status, delivered.attempts),
            (DeliveryStatus::Delivered, 1)
        );
        assert!(!delivered.is_due(Timestamp::now()));
    }
}
