//! Opaque, tamper-proof page cursors.
//!
//! Owns how a storage adapter's continuation (its own "where I stopped", e.g. a DynamoDB
//! LastEvaluatedKey) is handed to a client and taken back. A cursor is bound by HMAC-SHA256 to
//! the scope it was issued for (which listing, which store, which filters), so a client can
//! neither edit it nor replay it against another store's listing.
//!
//! Format: `c1.<base64url(continuation)>.<base64url(mac[..16])>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::ports::Continuation;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "c1";
const MAC_BYTES: usize = 16;
/// Cursors longer than this are refused before any work.
pub const MAX_CURSOR_CHARS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not valid for this listing; start again without a cursor")]
pub struct InvalidCursor;

#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// Derives the cursor key from the service secret, so there is one secret to manage.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"kirana-catalog cursor key v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> Vec<u8> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("32-byte key");
        mac.update(VERSION.as_bytes());
        mac.update(&[0]);
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac.finalize().into_bytes()[..MAC_BYTES].to_vec()
    }

    pub fn seal(&self, scope: &str, continuation: &Continuation) -> String {
        let payload = continuation.0.as_bytes();
        format!(
            "{VERSION}.{}.{}",
            B64.encode(payload),
            B64.encode(self.mac(scope, payload))
        )
    }

    pub fn open(&self, scope: &str, cursor: &str) -> Result<Continuation, InvalidCursor> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(InvalidCursor);
        }
        let mut parts = cursor.split('.');
        let (Some(VERSION), Some(p), Some(m), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidCursor);
        };
        let payload = B64.decode(p).map_err(|_| InvalidCursor)?;
        let tag = B64.decode(m).map_err(|_| InvalidCursor)?;
        if tag.len() != MAC_BYTES {
            return Err(InvalidCursor);
        }
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("32-byte key");
        mac.update(VERSION.as_bytes());
        mac.update(&[0]);
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(&payload);
        mac.verify_truncated_left(&tag).map_err(|_| InvalidCursor)?;
        String::from_utf8(payload)
            .map(Continuation)
            .map_err(|_| InvalidCursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_scope_binding() {
        let k = CursorKey::derive(b"secret");
        let c = k.seal("inventory|store=a", &Continuation("{\"pk\":\"a\"}".into()));
        assert_eq!(k.open("inventory|store=a", &c).unwrap().0, "{\"pk\":\"a\"}");
        assert_eq!(k.open("inventory|store=b", &c), Err(InvalidCursor));
        assert_eq!(
            CursorKey::derive(b"other").open("inventory|store=a", &c),
            Err(InvalidCursor)
        );
    }

    #[test]
    fn edited_cursors_are_refused() {
        let k = CursorKey::derive(b"secret");
        let c = k.seal("s", &Continuation("{\"pk\":\"store-a\"}".into()));
        let parts: Vec<&str> = c.split('.').collect();
        let forged = format!("c1.{}.{}", B64.encode("{\"pk\":\"store-b\"}"), parts[2]);
        assert_eq!(k.open("s", &forged), Err(InvalidCursor));
        assert_eq!(k.open("s", "c1.AAAA"), Err(InvalidCursor));
        assert_eq!(k.open("s", &format!("{c}x")), Err(InvalidCursor));
        // A truncated MAC must not pass.
        let short = format!("c1.{}.{}", parts[1], &parts[2][..4]);
        assert_eq!(k.open("s", &short), Err(InvalidCursor));
    }
}
