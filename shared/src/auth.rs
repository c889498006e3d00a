//! Who is calling: JWT verification, dev-token minting, and the access rules of each role.
//!
//! Owns the token format (HS256; claims `sub`, `role`, `store_ids`, `iat`, `exp`, `iss`) and
//! the one place that says what a role may reach:
//! - `admin`: everything, every store;
//! - `store_owner`: the catalog (read, create), and the inventory and jobs of the stores in
//!   its `store_ids`;
//! - `scanner`: the catalog (read) and scans into the stores in its `store_ids`;
//! - `reviewer`: the catalog (read) and the review: the queue, decisions (approve, reject,
//!   merge) and product history; no store's inventory, no edits (a `PATCH` is an admin's).
//!
//! Failures are split the way HTTP needs them: a missing, malformed, wrongly signed or expired
//! token is [`AuthError`] (401); a valid token without the role or store is [`Forbidden`] (403).
//! Services, not handlers, call these checks, so every entry point is covered.

use std::collections::BTreeSet;
use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::domain::StoreId;

/// The issuer written into and required of every token.
pub const ISSUER: &str = "kirana-catalog";
/// Lifetime of a token minted by `catalog token` (local development), as the product brief asks.
pub const DEFAULT_TOKEN_TTL: time::Duration = time::Duration::days(30);
/// Lifetime of an access token issued at sign-in or refresh: what a sign-out, a disabled user or
/// a removed membership waits for at most (README, "Signing in").
pub const ACCESS_TOKEN_TTL: time::Duration = time::Duration::minutes(15);
/// Shortest HS256 secret accepted (RFC 7518 section 3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    StoreOwner,
    Scanner,
    Reviewer,
}

/// Who may review products: the queue, decisions, merges and history.
pub const REVIEWERS: &[Role] = &[Role::Admin, Role::Reviewer];

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::StoreOwner => "store_owner",
            Role::Scanner => "scanner",
            Role::Reviewer => "reviewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::StoreOwner, Role::Scanner, Role::Reviewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(default)]
    store_ids: Vec<String>,
    iat: i64,
    exp: i64,
    iss: String,
}

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub role: Role,
    pub stores: BTreeSet<StoreId>,
    /// The request this caller is making (`x-request-id`), recorded on what it writes.
    pub request_id: Option<String>,
}

/// The token could not be trusted (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this request needs a bearer token in the Authorization header")]
    Missing,
    #[error("the Authorization header must be 'Bearer <token>'")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not validly signed")]
    BadSignature,
    #[error("the token is malformed: {0}")]
    Malformed(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::NotBearer => "token_not_bearer",
            AuthError::Expired => "token_expired",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::Malformed(_) => "token_malformed",
        }
    }
}

/// A valid caller asked for something its token does not grant (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("this needs one of the roles: {needed}; the token has role {has}")]
    Role { needed: String, has: Role },
    #[error("the token does not grant access to store {0}")]
    Store(StoreId),
    /// A store owner may add an image only to a pending product they made.
    #[error("{0}")]
    Product(String),
    /// Signed in, but no store has this person as a member (and they hold no global role).
    #[error("this number is not a member of any store; ask a store's owner to add it")]
    NoMembership,
    /// An integration key called a route its scopes do not reach.
    #[error("{0}")]
    KeyScope(String),
}

impl Forbidden {
    pub fn code(&self) -> &'static str {
        match self {
            Forbidden::Role { .. } => "forbidden_role",
            Forbidden::Store(_) => "forbidden_store",
            Forbidden::Product(_) => "forbidden_product",
            Forbidden::NoMembership => "forbidden_no_membership",
            Forbidden::KeyScope(_) => "forbidden_key_scope",
        }
    }
}

impl Principal {
    /// The operator behind a CLI command: an admin.
    pub fn operator(sub: &str) -> Self {
        Principal {
            sub: sub.to_string(),
            role: Role::Admin,
            stores: BTreeSet::new(),
            request_id: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_role(&self, allowed: &[Role]) -> Result<(), Forbidden> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            let needed = allowed
                .iter()
                .map(Role::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            Err(Forbidden::Role {
                needed,
                has: self.role,
            })
        }
    }

    /// Admins reach every store; everyone else only the stores in the token.
    pub fn can_access_store(&self, store: &StoreId) -> bool {
        self.is_admin() || self.stores.contains(store)
    }

    /// Role and store together: the check for every store-scoped operation.
    pub fn require_store(&self, allowed: &[Role], store: &StoreId) -> Result<(), Forbidden> {
        self.require_role(allowed)?;
        if self.can_access_store(store) {
            Ok(())
        } else {
            Err(Forbidden::Store(store.clone()))
        }
    }
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes; it has {0}")]
pub struct WeakSecret(pub usize);

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret(secret.len()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Verifies a bearer token and returns the caller.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm => {
                    AuthError::Malformed("only HS256 tokens are accepted".into())
                }
                ErrorKind::InvalidIssuer => {
                    AuthError::Malformed(format!("the issuer must be {ISSUER}"))
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    AuthError::Malformed(format!("the claim '{c}' is missing"))
                }
                ErrorKind::Json(e) => AuthError::Malformed(format!("bad claims: {e}")),
                _ => AuthError::Malformed("not a JWT".into()),
            })?;
        let c = data.claims;
        if c.sub.trim().is_empty() {
            return Err(AuthError::Malformed("the claim 'sub' is empty".into()));
        }
        let mut stores = BTreeSet::new();
        for s in &c.store_ids {
            let id = StoreId::parse(s)
                .map_err(|e| AuthError::Malformed(format!("each of store_ids {e}")))?;
            stores.insert(id);
        }
        Ok(Principal {
            sub: c.sub,
            role: c.role,
            stores,
            request_id: None,
        })
    }

    /// Mints a token (the `catalog token` command and tests use this).
    pub fn mint(&self, sub: &str, role: Role, stores: &[StoreId], ttl: time::Duration) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.mint_at(sub, role, stores, now, now + ttl.whole_seconds())
    }

    /// Mints a token with explicit times (tests use it for expired tokens).
    pub fn mint_at(&self, sub: &str, role: Role, stores: &[StoreId], iat: i64, exp: i64) -> String {
        let claims = Claims {
            sub: sub.to_string(),
            role,
            store_ids: stores.iter().map(|s| s.to_string()).collect(),
            iat,
            exp,
            iss: ISSUER.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn store(s: &str) -> StoreId {
        StoreId::parse(s).unwrap()
    }

    #[test]
    fn round_trip() {
        let keys = TokenKeys::new(SECRET).unwrap();
        let t = keys.mint(
            "owner-1",
            Role::StoreOwner,
            &[store("a")],
            DEFAULT_TOKEN_TTL,
        );
        let p = keys.verify(&t).unwrap();
        assert_eq!(p.role, Role::StoreOwner);
        assert!(p.can_access_store(&store("a")));
        assert!(!p.can_access_store(&store("b")));
    }

    #[test]
    fn rejects_bad_tokens() {
        let keys = TokenKeys::new(SECRET).unwrap();
        let other = TokenKeys::new(b"another-secret-another-secret-xx").unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let expired = keys.mint_at("u", Role::Admin, &[], now - 7200, now - 3600);
        assert_eq!(keys.verify(&expired), Err(AuthError::Expired));
        let foreign = other.mint("u", Role::Admin, &[], DEFAULT_TOKEN_TTL);
        assert_eq!(keys.verify(&foreign), Err(AuthError::BadSignature));
        assert!(matches!(
            keys.verify("garbage"),
            Err(AuthError::Malformed(_))
        ));
        // alg=none: header {"alg":"none","typ":"JWT"}, no signature.
        let good = keys.mint("u", Role::Admin, &[], DEFAULT_TOKEN_TTL);
        let payload = good.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(matches!(
            keys.verify(&unsigned),
            Err(AuthError::Malformed(_))
        ));
        // Tampered payload keeps the old signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_payload = base64_url(&format!(
            r#"{{"sub":"u","role":"admin","store_ids":[],"iat":{now},"exp":{},"iss":"{ISSUER}"}}"#,
            now + 999_999
        ));
        parts[1] = &forged_payload;
        assert_eq!(keys.verify(&parts.join(".")), Err(AuthError::BadSignature));
    }

    fn base64_url(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn weak_secrets_are_refused() {
        assert!(TokenKeys::new(b"short").is_err());
    }

    #[test]
    fn roles_and_stores() {
        let p = Principal {
            sub: "s".into(),
            role: Role::Scanner,
            stores: [store("a")].into(),
            request_id: None,
        };
        assert!(
            p.require_store(&[Role::Scanner, Role::StoreOwner], &store("a"))
                .is_ok()
        );
        assert_eq!(
            p.require_store(&[Role::Scanner], &store("b")),
            Err(Forbidden::Store(store("b")))
        );
        assert!(matches!(
            p.require_role(&[Role::Admin]),
            Err(Forbidden::Role { .. })
        ));
        let admin = Principal::operator("ops");
        assert!(admin.can_access_store(&store("anything")));
    }
}
