//! The secrets of signing in: the key that MACs them, the OS's random numbers they are made
//! of, and the text forms of the tokens that carry them.
//!
//! A refresh token is `kcrt_<session id, 32 hex>.<secret>`, a device's pairing code
//! `kcpc_<store id>.<device id, 32 hex>.<secret>` and an integration key
//! `kck_<store id>.<key id, 32 hex>.<secret>`, each secret 32 random bytes in base64url
//! (43 characters): the prefix makes them recognisable in logs and to secret scanners, the id
//! finds the record in one read, and only the secret's MAC is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::super::{ServiceError, ServiceResult};
use crate::domain::{DeviceId, KeyId, SessionId, StoreId};
use crate::ports::StorageError;

type HmacSha256 = Hmac<Sha256>;

/// What a refresh token starts with.
pub const REFRESH_TOKEN_PREFIX: &str = "kcrt_";
/// What a device's pairing code starts with.
pub const PAIRING_CODE_PREFIX: &str = "kcpc_";
/// What an integration key starts with.
pub const INTEGRATION_KEY_PREFIX: &str = "kck_";
/// Characters of a secret (32 bytes, base64url without padding).
const SECRET_CHARS: usize = 43;

/// The key that MACs codes and refresh secrets, derived from the service secret (one secret to
/// manage; a database read alone gives neither a code nor a token).
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"kirana-catalog account secrets v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn hmac<P: AsRef<[u8]>>(&self, purpose: &str, parts: &[P]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("32-byte key");
        mac.update(purpose.as_bytes());
        for p in parts {
            mac.update(&[0]);
            mac.update(p.as_ref());
        }
        mac
    }

    /// The MAC of `parts` for `purpose` (`code`, `refresh`, `pairing`), base64url.
    pub fn mac<P: AsRef<[u8]>>(&self, purpose: &str, parts: &[P]) -> String {
        B64.encode(self.hmac(purpose, parts).finalize().into_bytes())
    }

    /// Whether `stored` is the MAC of `parts` (compared in constant time).
    pub fn verify<P: AsRef<[u8]>>(&self, purpose: &str, parts: &[P], stored: &str) -> bool {
        B64.decode(stored)
            .is_ok_and(|tag| self.hmac(purpose, parts).verify_slice(&tag).is_ok())
    }
}

/// A random 6-digit code, uniform (rejection sampling over the OS's random numbers).
pub fn random_code() -> ServiceResult<String> {
    const ZONE: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let n = getrandom::u32().map_err(random_failed)?;
        if n < ZONE {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// 32 random bytes, base64url.
pub fn random_secret() -> ServiceResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(random_failed)?;
    Ok(B64.encode(bytes))
}

fn random_failed(e: getrandom::Error) -> ServiceError {
    ServiceError::Internal(StorageError::backend(format!(
        "the OS gave no random numbers: {e}"
    )))
}

fn uuid_hex(s: &str) -> Option<uuid::Uuid> {
    (s.len() == 32).then_some(())?;
    uuid::Uuid::try_parse(s).ok()
}

/// `kcrt_<session>.<secret>` -> (session, secret).
pub fn parse_refresh(token: &str) -> Option<(SessionId, &str)> {
    let rest = token.trim().strip_prefix(REFRESH_TOKEN_PREFIX)?;
    let (sid, secret) = rest.split_once('.')?;
    (secret.len() == SECRET_CHARS).then_some(())?;
    Some((SessionId::from_uuid(uuid_hex(sid)?), secret))
}

pub fn refresh_token(session: &SessionId, secret: &str) -> String {
    format!(
        "{REFRESH_TOKEN_PREFIX}{}.{secret}",
        session.as_uuid().simple()
    )
}

/// `<prefix><store>.<id, 32 hex>.<secret>` -> (store, id, secret).
fn parse_store_secret<'a>(prefix: &str, text: &'a str) -> Option<(StoreId, uuid::Uuid, &'a str)> {
    let rest = text.trim().strip_prefix(prefix)?;
    let (store, rest) = rest.split_once('.')?;
    let (id, secret) = rest.split_once('.')?;
    (secret.len() == SECRET_CHARS).then_some(())?;
    Some((StoreId::parse(store).ok()?, uuid_hex(id)?, secret))
}

/// `kcpc_<store>.<device>.<secret>` -> (store, device, secret).
pub fn parse_pairing(code: &str) -> Option<(StoreId, DeviceId, &str)> {
    let (store, id, secret) = parse_store_secret(PAIRING_CODE_PREFIX, code)?;
    Some((store, DeviceId::from_uuid(id), secret))
}

/// `kck_<store>.<key>.<secret>` -> (store, key, secret).
pub fn parse_integration_key(key: &str) -> Option<(StoreId, KeyId, &str)> {
    let (store, id, secret) = parse_store_secret(INTEGRATION_KEY_PREFIX, key)?;
    Some((store, KeyId::from_uuid(id), secret))
}

pub fn integration_key(store: &StoreId, id: &KeyId, secret: &str) -> String {
    format!(
        "{INTEGRATION_KEY_PREFIX}{store}.{}.{secret}",
        id.as_uuid().simple()
    )
}

pub fn pairing_code(store: &StoreId, device: &DeviceId, secret: &str) -> String {
    format!(
        "{PAIRING_CODE_PREFIX}{store}.{}.{secret}",
        device.as_uuid().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let c = random_code().unwrap();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn refresh_tokens_round_trip_and_refuse_lookalikes() {
        let sid = SessionId::new();
        let secret = random_secret().unwrap();
        let token = refresh_token(&sid, &secret);
        assert!(token.starts_with("kcrt_"));
        assert_eq!(parse_refresh(&token), Some((sid, secret.as_str())));
        for bad in [
            "",
            "kcrt_",
            &token.replacen("kcrt_", "kcat_", 1),
            &token[..token.len() - 1],
            &format!("{token}x"),
            &token.replacen('.', "_", 1),
        ] {
            assert_eq!(parse_refresh(bad), None, "{bad}");
        }
    }

    #[test]
    fn pairing_codes_round_trip_and_refuse_lookalikes() {
        let (store, device) = (StoreId::parse("asha-pune_1").unwrap(), DeviceId::new());
        let secret = random_secret().unwrap();
        let code = pairing_code(&store, &device, &secret);
        assert!(code.starts_with("kcpc_asha-pune_1."));
        assert_eq!(
            parse_pairing(&code),
            Some((store.clone(), device, secret.as_str()))
        );
        let refresh = refresh_token(&SessionId::from_uuid(device.as_uuid()), &secret);
        for bad in [
            "",
            refresh.as_str(),
            &code.replacen("kcpc_", "kcrt_", 1),
            &code[..code.len() - 1],
            &code.replacen("asha-pune_1", "a/b", 1),
        ] {
            assert_eq!(parse_pairing(bad), None, "{bad}");
        }
    }

    #[test]
    fn integration_keys_round_trip_and_refuse_lookalikes() {
        let (store, id) = (StoreId::parse("asha-pune_1").unwrap(), KeyId::new());
        let secret = random_secret().unwrap();
        let key = integration_key(&store, &id, &secret);
        assert!(key.starts_with("kck_asha-pune_1."));
        assert_eq!(
            parse_integration_key(&key),
            Some((store.clone(), id, secret.as_str()))
        );
        let pairing = pairing_code(&store, &DeviceId::from_uuid(id.as_uuid()), &secret);
        for bad in [
            "",
            pairing.as_str(),
            &key[..key.len() - 1],
            &key.replacen("asha-pune_1", "a b", 1),
            &key.replacen('.', "-", 1),
        ] {
            assert_eq!(parse_integration_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn macs_verify_only_what_they_were_made_of() {
        let k = SecretKey::derive(b"0123456789abcdef0123456789abcdef");
        let m = k.mac("code", &["+919876543210", "123456"]);
        assert!(k.verify("code", &["+919876543210", "123456"], &m));
        assert!(!k.verify("code", &["+919876543210", "123457"], &m));
        assert!(!k.verify("refresh", &["+919876543210", "123456"], &m));
        assert!(!k.verify("code", &["+919876543210", "123456"], "not base64!"));
        let other = SecretKey::derive(b"another-secret-another-secret-xx");
        assert!(!other.verify("code", &["+919876543210", "123456"], &m));
    }
}
