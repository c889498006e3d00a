//! Accounts: stores as records, the people who use them, their memberships, and what signing
//! in leaves behind (a one-time code, a session).
//!
//! Owns the shapes and the rules that need no storage: what a phone number is, which roles a
//! membership can give, when a code or a session is still good. Secrets never live here in the
//! clear: a code and a refresh token are kept as their MACs (`services::accounts` computes
//! them with a key derived from the service secret).

use serde::{Deserialize, Serialize};

use super::{DeviceId, RegionCode, SessionId, StoreId, Timestamp, UserId};

/// Longest display name of a person, and of a store.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
pub const MAX_STORE_NAME_CHARS: usize = 200;

/// How long a sign-in code may be used.
pub const CODE_TTL: time::Duration = time::Duration::minutes(10);
/// Wrong codes allowed before the code is spent: the next try, even with the right code, is
/// refused and a new code must be asked for.
pub const CODE_ATTEMPTS: u8 = 5;
/// How long a device's pairing code may be used (the owner shows it as a QR code; the device
/// scans it at once).
pub const PAIRING_TTL: time::Duration = time::Duration::minutes(10);
/// Longest name of a device.
pub const MAX_DEVICE_NAME_CHARS: usize = 60;
/// Most devices a store may have paired at once (revoked ones do not count).
pub const MAX_DEVICES: usize = 50;

/// Spent refresh secrets a session remembers (a refresh every 15 minutes: the last five hours).
pub const SPENT_SECRETS_KEPT: usize = 20;

/// How long after a refresh the token it spent may be sent again, as a client whose answer was
/// lost does (a phone's network dropped it, the app was closed while it came): that refresh is
/// granted, not taken for theft, and again if that answer is lost too (each within this long
/// of the last). Only the token the client last sent, only this long: an older one, or one
/// sent later, still ends the family; the lost answer's token, never used, is then spent, so
/// any use of it ends the family. The price: a token stolen and used within this long of its
/// own refresh forks the family until one side's next refresh.
pub const LOST_ANSWER_GRACE: time::Duration = time::Duration::minutes(5);

/// A person's refresh-token family lives this long from sign-in, however often it is rotated
/// (the product brief's 30 days); then the person signs in again. A paired device's lives this
/// long from its last refresh (it was paired once, and cannot sign in by itself).
pub const SESSION_TTL: time::Duration = time::Duration::days(30);

/// A mobile number in E.164 form (`+919876543210`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a mobile number: give it in international form (+919876543210) or as a 10-digit Indian mobile number"
)]
pub struct PhoneError(pub String);

impl Phone {
    /// Accepts `+<country><number>` (8 to 15 digits, as E.164 allows) and, for the catalog's
    /// first users, an Indian mobile number written locally: 10 digits starting with 6 to 9,
    /// optionally after a trunk `0` or a bare `91`. Spaces, dashes, dots and parentheses are
    /// ignored.
    pub fn parse(s: &str) -> Result<Self, PhoneError> {
        let bad = || PhoneError(s.chars().take(40).collect());
        let t = s.trim();
        let (plus, rest) = match t.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(bad()),
            }
        }
        let indian_mobile = |d: &str| d.len() == 10 && matches!(d.as_bytes()[0], b'6'..=b'9');
        let e164 = if plus {
            digits
        } else if indian_mobile(&digits) {
            format!("91{digits}")
        } else if let Some(d) = digits.strip_prefix('0').filter(|d| indian_mobile(d)) {
            format!("91{d}")
        } else if digits.len() == 12 && digits.starts_with("91") && indian_mobile(&digits[2..]) {
            digits
        } else {
            return Err(bad());
        };
        if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
            return Err(bad());
        }
        Ok(Phone(format!("+{e164}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs and answers that must not disclose the number: `+91******3210`.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let keep_end = 4.min(n);
        let keep_start = 3.min(n - keep_end);
        let hidden = n - keep_start - keep_end;
        format!(
            "{}{}{}",
            &self.0[..keep_start],
            "*".repeat(hidden),
            &self.0[n - keep_end..]
        )
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Phone::parse(&s).map_err(serde::de::Error::custom)
    }
}

text_schema!(
    Phone,
    "Phone",
    "A mobile number: international form (+919876543210) or a 10-digit Indian mobile number.",
);

/// A role someone holds in one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreRole {
    /// Runs the store: inventory, imports, its people.
    StoreOwner,
    /// Scans into the store, nothing else.
    Scanner,
}

impl StoreRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            StoreRole::StoreOwner => "store_owner",
            StoreRole::Scanner => "scanner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StoreRole::StoreOwner, StoreRole::Scanner]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A role that holds across the catalog rather than in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GlobalRole {
    Admin,
    Reviewer,
}

impl GlobalRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            GlobalRole::Admin => "admin",
            GlobalRole::Reviewer => "reviewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [GlobalRole::Admin, GlobalRole::Reviewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A person. The phone number is unique: it is how they sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub user_id: UserId,
    pub phone: Phone,
    pub display_name: String,
    /// `admin` or `reviewer` across the catalog; store roles come from memberships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_role: Option<GlobalRole>,
    /// A disabled user cannot sign in or refresh.
    pub disabled: bool,
    /// Sessions started before this are no longer valid ("sign out everywhere").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_valid_after: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A store as a record: what the inventory's `store_id` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub store_id: StoreId,
    pub name: String,
    pub region: RegionCode,
    pub owner: UserId,
    pub created_at: Timestamp,
}

/// A user's role in a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub store_id: StoreId,
    pub user_id: UserId,
    pub role: StoreRole,
    /// Who added them (a token's `sub`).
    pub added_by: String,
    pub added_at: Timestamp,
}

/// The one-time code last sent to a phone (a new one replaces it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInCode {
    pub phone: Phone,
    /// The code's MAC; the code itself is only in the message that was sent.
    pub code_mac: String,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
    /// Tries left; each try spends one before it is checked.
    pub attempts_left: u8,
}

impl SignInCode {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// A store's scanner device: made by an owner, paired once with its one-time code, then signed
/// in as the store's scanner until an owner revokes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: DeviceId,
    pub store_id: StoreId,
    pub name: String,
    /// Who made it (a token's `sub`).
    pub added_by: String,
    pub created_at: Timestamp,
    /// The pairing code's MAC until the device is paired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_mac: Option<String>,
    pub pairing_expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_at: Option<Timestamp>,
    /// The session its pairing started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl Device {
    /// Whether its pairing code may still be used at `now`.
    pub fn pairable(&self, now: Timestamp) -> bool {
        self.pairing_mac.is_some()
            && self.paired_at.is_none()
            && self.revoked_at.is_none()
            && now < self.pairing_expires_at
    }
}

/// Whom a session signs in: a person, or a store's paired device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    User {
        user_id: UserId,
    },
    Device {
        store_id: StoreId,
        device_id: DeviceId,
    },
}

impl Holder {
    /// The access token's `sub`: the user's id, or `device:<id>`.
    pub fn subject(&self) -> String {
        match self {
            Holder::User { user_id } => user_id.to_string(),
            Holder::Device { device_id, .. } => format!("device:{device_id}"),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.subject())
    }
}

/// One signed-in device: a family of refresh tokens, of which only the newest is good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_id: SessionId,
    pub holder: Holder,
    /// The MAC of the family's current refresh secret.
    pub secret_mac: String,
    /// The MACs of its spent secrets, newest first (at most [`SPENT_SECRETS_KEPT`]): one of
    /// them presented again is a reuse, which ends the family; a secret in neither list is
    /// just not a token of ours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent_macs: Vec<String>,
    /// How many times the token was rotated.
    pub generation: u32,
    pub created_at: Timestamp,
    pub refreshed_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set when the session was signed out or an old token of it was used again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    /// Whether a refresh may still be granted from this family (the user's own state aside).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_to_e164() {
        for s in [
            "+919876543210",
            "9876543210",
            "98765 43210",
            "098765-43210",
            "919876543210",
            "+91 (98765) 43210",
        ] {
            assert_eq!(Phone::parse(s).unwrap().as_str(), "+919876543210", "{s}");
        }
        assert_eq!(
            Phone::parse("+44 7700 900123").unwrap().as_str(),
            "+447700900123"
        );
    }

    #[test]
    fn what_is_not_a_phone_is_refused() {
        for s in [
            "",
            "12345",
            "5876543210", // an Indian mobile starts with 6 to 9
            "+0123456789",
            "+1234567890123456",
            "98765x43210",
            "+91 98765 43210 ext 2",
            "phone",
        ] {
            assert!(Phone::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn a_masked_phone_keeps_only_its_ends() {
        let p = Phone::parse("9876543210").unwrap();
        assert_eq!(p.masked(), "+91******3210");
    }

    #[test]
    fn roles_round_trip() {
        for r in [StoreRole::StoreOwner, StoreRole::Scanner] {
            assert_eq!(StoreRole::parse(r.as_str()), Some(r));
        }
        for r in [GlobalRole::Admin, GlobalRole::Reviewer] {
            assert_eq!(GlobalRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(StoreRole::parse("admin"), None);
    }
}
