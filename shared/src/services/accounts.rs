//! Accounts: stores as records and their people, and signing in with a one-time code.
//!
//! Owns who may create a store or add someone to one, and the sign-in rules:
//! - a code goes only to a number the catalog knows (an admin or a store's owner added it);
//!   the answer is the same either way, so the endpoint does not tell who is a user;
//! - a code is 6 digits, good for [`CODE_TTL`] and [`CODE_ATTEMPTS`] tries, kept as its MAC;
//! - code requests are limited per number and per client address, code tries per address
//!   ([`limits`]), each a fixed one-hour window counted in storage (so every function instance
//!   shares it);
//! - a sign-in gives a short access token (the API's HS256 format, [`ACCESS_TOKEN_TTL`]) and a
//!   refresh token; a refresh rotates it, and an old refresh token used again ends its whole
//!   family (the session), as OAuth's security practice (RFC 9700, 4.14.2) asks;
//! - the access token's role and stores come from the user's record and memberships at the
//!   time it is issued, so a change reaches the person within one access-token lifetime.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use super::{ServiceError, ServiceResult};
use crate::auth::{ACCESS_TOKEN_TTL, Forbidden, Principal, Role, TokenKeys};
use crate::domain::account::{CODE_ATTEMPTS, CODE_TTL, SESSION_TTL};
use crate::domain::{
    FieldErrors, GlobalRole, Membership, Phone, RegionCode, Session, SessionId, SignInCode, Store,
    StoreId, StoreRole, Timestamp, User, UserId,
};
use crate::ports::{AccountStore, CodeSender, StorageError};

type HmacSha256 = Hmac<Sha256>;

/// How many requests of each kind a caller may make per hour.
pub mod limits {
    /// Codes sent to one number (a person who lost a few messages, not a flood of SMS).
    pub const CODES_PER_PHONE: u32 = 5;
    /// Codes asked for from one address (a shop's Wi-Fi with a few staff phones).
    pub const CODES_PER_ADDRESS: u32 = 30;
    /// Codes tried from one address: with [`super::CODE_ATTEMPTS`] per code, guessing a
    /// 6-digit code stays at about 1 in 16,000 per address and hour.
    pub const CODE_TRIES_PER_ADDRESS: u32 = 60;
    /// The fixed window every limit counts in.
    pub const WINDOW: time::Duration = time::Duration::hours(1);
}

/// What a refresh token starts with, so it is recognisable in logs and to secret scanners.
pub const REFRESH_TOKEN_PREFIX: &str = "kcrt_";

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

    fn hmac(&self, purpose: &str, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("32-byte key");
        mac.update(purpose.as_bytes());
        for p in parts {
            mac.update(&[0]);
            mac.update(p);
        }
        mac
    }

    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> String {
        B64.encode(self.hmac(purpose, parts).finalize().into_bytes())
    }

    /// Whether `stored` is the MAC of `parts` (compared in constant time).
    fn verify(&self, purpose: &str, parts: &[&[u8]], stored: &str) -> bool {
        B64.decode(stored)
            .is_ok_and(|tag| self.hmac(purpose, parts).verify_slice(&tag).is_ok())
    }
}

/// The caller's network address, as the edge saw it (`None` when it could not tell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// Someone to add to a store: found by their number, created if new.
#[derive(Debug, Clone)]
pub struct Invitee {
    pub phone: Phone,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub struct NewStore {
    pub store_id: StoreId,
    pub name: String,
    pub region: RegionCode,
    pub owner: Invitee,
}

/// A store and its people.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreView {
    pub store_id: StoreId,
    pub name: String,
    #[schema(value_type = String, example = "IN-MH")]
    pub region: RegionCode,
    pub owner_user_id: UserId,
    pub created_at: Timestamp,
    pub members: Vec<MemberView>,
}

/// A person's place in a store.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: UserId,
    pub display_name: String,
    pub phone: Phone,
    pub role: StoreRole,
    /// Who added them (a token's `sub`) and when.
    pub added_by: String,
    pub added_at: Timestamp,
}

/// What a sign-in or a refresh gives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPair {
    /// The bearer token for every other route.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is good for.
    pub expires_in: i64,
    /// Gives the next pair once (`POST /v1/auth/token` with `grant_type=refresh_token`); the
    /// session it belongs to ends `refresh_expires_in` seconds from now at the latest.
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user_id: UserId,
    /// The role and stores the access token carries.
    #[schema(value_type = String, example = "store_owner")]
    pub role: Role,
    pub store_ids: Vec<StoreId>,
}

/// Stores, users and sign-in over the accounts port.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn AccountStore>,
    sender: Arc<dyn CodeSender>,
    tokens: TokenKeys,
    secrets: SecretKey,
}

fn sign_in_error(code: &'static str, detail: impl Into<String>) -> ServiceError {
    ServiceError::SignIn {
        code,
        detail: detail.into(),
    }
}

fn refresh_invalid() -> ServiceError {
    sign_in_error(
        "refresh_token_invalid",
        "the refresh token is not one this service issued; sign in again",
    )
}

fn storage(e: StorageError) -> ServiceError {
    ServiceError::storage(e)
}

/// A random 6-digit code, uniform (rejection sampling over the OS's random numbers).
fn random_code() -> ServiceResult<String> {
    const ZONE: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let n = getrandom::u32().map_err(random_failed)?;
        if n < ZONE {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

fn random_secret() -> ServiceResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(random_failed)?;
    Ok(B64.encode(bytes))
}

fn random_failed(e: getrandom::Error) -> ServiceError {
    ServiceError::Internal(StorageError::backend(format!(
        "the OS gave no random numbers: {e}"
    )))
}

/// `kcrt_<session id, 32 hex>.<secret>` -> (session, secret).
fn parse_refresh(token: &str) -> Option<(SessionId, &str)> {
    let rest = token.trim().strip_prefix(REFRESH_TOKEN_PREFIX)?;
    let (sid, secret) = rest.split_once('.')?;
    if sid.len() != 32 || secret.len() != 43 {
        return None;
    }
    let sid = uuid::Uuid::try_parse(sid).ok()?;
    Some((SessionId::from_uuid(sid), secret))
}

fn refresh_token(session: &SessionId, secret: &str) -> String {
    format!(
        "{REFRESH_TOKEN_PREFIX}{}.{secret}",
        session.as_uuid().simple()
    )
}

impl Accounts {
    pub fn new(
        store: Arc<dyn AccountStore>,
        sender: Arc<dyn CodeSender>,
        tokens: TokenKeys,
        service_secret: &[u8],
    ) -> Self {
        Self {
            store,
            sender,
            tokens,
            secrets: SecretKey::derive(service_secret),
        }
    }

    /// An admin creates a store and its owner (found by number, or added).
    pub async fn create_store(&self, who: &Principal, new: NewStore) -> ServiceResult<StoreView> {
        who.require_role(&[Role::Admin])?;
        let now = Timestamp::now();
        let owner = self.user_for(&new.owner, now).await?;
        let store = Store {
            store_id: new.store_id,
            name: new.name,
            region: new.region,
            owner: owner.user_id,
            created_at: now,
        };
        let membership = Membership {
            store_id: store.store_id.clone(),
            user_id: owner.user_id,
            role: StoreRole::StoreOwner,
            added_by: who.sub.clone(),
            added_at: now,
        };
        match self.store.insert_store(&store, &membership).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => {
                return Err(ServiceError::Conflict {
                    code: "store_exists",
                    detail: format!("store {} already exists", store.store_id),
                });
            }
            Err(e) => return Err(storage(e)),
        }
        tracing::info!(store = %store.store_id, owner = %owner.user_id, "store created");
        Ok(StoreView {
            members: vec![member_view(&owner, &membership)],
            store_id: store.store_id,
            name: store.name,
            region: store.region,
            owner_user_id: store.owner,
            created_at: store.created_at,
        })
    }

    /// The store and its people: admins and the store's owners.
    pub async fn get_store(&self, who: &Principal, id: &StoreId) -> ServiceResult<StoreView> {
        who.require_store(&[Role::Admin, Role::StoreOwner], id)?;
        let store = self.existing_store(id).await?;
        let mut members = Vec::new();
        for m in self.store.members_of(id).await.map_err(storage)? {
            if let Some(user) = self.store.get_user(&m.user_id).await.map_err(storage)? {
                members.push(member_view(&user, &m));
            }
        }
        Ok(StoreView {
            store_id: store.store_id,
            name: store.name,
            region: store.region,
            owner_user_id: store.owner,
            created_at: store.created_at,
            members,
        })
    }

    /// A store's owner (or an admin) adds someone to the store, or changes their role there.
    pub async fn add_member(
        &self,
        who: &Principal,
        id: &StoreId,
        invitee: Invitee,
        role: StoreRole,
    ) -> ServiceResult<MemberView> {
        who.require_store(&[Role::Admin, Role::StoreOwner], id)?;
        let store = self.existing_store(id).await?;
        let now = Timestamp::now();
        let user = self.user_for(&invitee, now).await?;
        if user.user_id == store.owner && role != StoreRole::StoreOwner {
            return Err(ServiceError::Conflict {
                code: "owner_role_fixed",
                detail: format!(
                    "{} owns store {id}; the owner's role cannot change",
                    user.display_name
                ),
            });
        }
        let membership = Membership {
            store_id: id.clone(),
            user_id: user.user_id,
            role,
            added_by: who.sub.clone(),
            added_at: now,
        };
        self.store
            .put_membership(&membership)
            .await
            .map_err(storage)?;
        tracing::info!(store = %id, user = %user.user_id, role = role.as_str(), "member added");
        Ok(member_view(&user, &membership))
    }

    /// Sends a sign-in code to `phone` if it is a user's (and answers the same if not).
    pub async fn request_code(&self, phone: &Phone, from: ClientAddress) -> ServiceResult<()> {
        let now = Timestamp::now();
        self.limit(
            &format!("code-address:{from}"),
            limits::CODES_PER_ADDRESS,
            now,
            "too many sign-in codes were asked for from this address",
        )
        .await?;
        self.limit(
            &format!("code-phone:{}", phone.as_str()),
            limits::CODES_PER_PHONE,
            now,
            "too many sign-in codes were sent to this number",
        )
        .await?;
        let user = self.store.user_by_phone(phone).await.map_err(storage)?;
        if user.as_ref().is_none_or(|u| u.disabled) {
            tracing::info!(phone = %phone.masked(), "sign-in code not sent: no such user, or disabled");
            return Ok(());
        }
        let code = random_code()?;
        let record = SignInCode {
            phone: phone.clone(),
            code_mac: self.code_mac(phone, now, &code),
            sent_at: now,
            expires_at: now.plus(CODE_TTL),
            attempts_left: CODE_ATTEMPTS,
        };
        self.store.put_code(&record).await.map_err(storage)?;
        let message = format!(
            "{code} is your Kirana catalog sign-in code. It expires in {} minutes. Do not share it.",
            CODE_TTL.whole_minutes()
        );
        self.sender
            .send(phone, &message)
            .await
            .map_err(storage)?;
        tracing::info!(phone = %phone.masked(), "sign-in code sent");
        Ok(())
    }

    /// Signs in with the code sent to `phone`: a new session and its first token pair.
    pub async fn sign_in(
        &self,
        phone: &Phone,
        code: &str,
        from: ClientAddress,
    ) -> ServiceResult<TokenPair> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldErrors::single(
                "code",
                "invalid",
                "the code is the 6 digits sent by SMS",
            )
            .into());
        }
        let now = Timestamp::now();
        self.limit(
            &format!("code-try-address:{from}"),
            limits::CODE_TRIES_PER_ADDRESS,
            now,
            "too many sign-in codes were tried from this address",
        )
        .await?;
        let Some(stored) = self
            .store
            .spend_code_attempt(phone, now)
            .await
            .map_err(storage)?
        else {
            return Err(sign_in_error(
                "code_invalid",
                "there is no usable code for this number (none was sent, it expired, or too many tries were made); ask for a new code",
            ));
        };
        if !self.secrets.verify(
            "code",
            &[
                phone.as_str().as_bytes(),
                stored.sent_at.to_string().as_bytes(),
                code.as_bytes(),
            ],
            &stored.code_mac,
        ) {
            return Err(sign_in_error(
                "code_invalid",
                format!(
                    "the code is wrong; {} tries left before a new code is needed",
                    stored.attempts_left
                ),
            ));
        }
        self.store.delete_code(&stored).await.map_err(storage)?;
        let user = self
            .store
            .user_by_phone(phone)
            .await
            .map_err(storage)?
            .ok_or_else(|| sign_in_error("code_invalid", "this number has no user"))?;
        if user.disabled {
            return Err(user_disabled());
        }
        let (role, stores) = self.grants(&user).await?;
        let secret = random_secret()?;
        let session = Session {
            session_id: SessionId::new(),
            user_id: user.user_id,
            secret_mac: self.refresh_mac(&secret),
            generation: 0,
            created_at: now,
            refreshed_at: now,
            expires_at: now.plus(SESSION_TTL),
            revoked_at: None,
        };
        self.store.insert_session(&session).await.map_err(storage)?;
        tracing::info!(user = %user.user_id, session = %session.session_id, "signed in");
        Ok(self.pair(&user, role, stores, &session, &secret, now))
    }

    /// Trades a refresh token for the next pair. An old token of the family ends the family.
    pub async fn refresh(&self, token: &str) -> ServiceResult<TokenPair> {
        let (sid, secret) = parse_refresh(token).ok_or_else(refresh_invalid)?;
        let now = Timestamp::now();
        let session = self
            .store
            .get_session(&sid)
            .await
            .map_err(storage)?
            .ok_or_else(refresh_invalid)?;
        if !self.refresh_matches(secret, &session.secret_mac) {
            return Err(self.reused(&session, now).await);
        }
        if !session.is_live(now) {
            return Err(session_ended());
        }
        let user = self
            .store
            .get_user(&session.user_id)
            .await
            .map_err(storage)?
            .ok_or_else(session_ended)?;
        if user.disabled {
            return Err(user_disabled());
        }
        if user
            .sessions_valid_after
            .is_some_and(|t| session.created_at <= t)
        {
            return Err(session_ended());
        }
        let (role, stores) = self.grants(&user).await?;
        let next_secret = random_secret()?;
        let next = Session {
            secret_mac: self.refresh_mac(&next_secret),
            generation: session.generation + 1,
            refreshed_at: now,
            ..session.clone()
        };
        match self.store.rotate_session(&next, &session.secret_mac).await {
            Ok(()) => Ok(self.pair(&user, role, stores, &next, &next_secret, now)),
            // Another refresh with the same token won: the token was used twice.
            Err(StorageError::VersionConflict { .. }) => Err(self.reused(&session, now).await),
            Err(e) => Err(storage(e)),
        }
    }

    /// Ends the session a refresh token belongs to. Answers the same for a token that is not
    /// good (RFC 7009, 2.2), so it tells nothing about tokens.
    pub async fn sign_out(&self, token: &str) -> ServiceResult<()> {
        let Some((sid, secret)) = parse_refresh(token) else {
            return Ok(());
        };
        let Some(session) = self.store.get_session(&sid).await.map_err(storage)? else {
            return Ok(());
        };
        if self.refresh_matches(secret, &session.secret_mac) {
            self.store
                .revoke_session(&sid, Timestamp::now())
                .await
                .map_err(storage)?;
            tracing::info!(user = %session.user_id, session = %sid, "signed out");
        }
        Ok(())
    }

    /// Ends every session of the caller: no refresh token issued before now works again.
    pub async fn sign_out_everywhere(&self, who: &Principal) -> ServiceResult<()> {
        let not_a_user = || {
            ServiceError::Conflict {
            code: "not_a_user",
            detail: "this token was not issued by signing in (a `catalog token`?), so it has no sessions to end".into(),
        }
        };
        let id = UserId::parse(&who.sub).map_err(|_| not_a_user())?;
        let mut user = self
            .store
            .get_user(&id)
            .await
            .map_err(storage)?
            .ok_or_else(not_a_user)?;
        user.sessions_valid_after = Some(Timestamp::now());
        self.store.update_user(&user).await.map_err(storage)?;
        tracing::info!(user = %id, "signed out everywhere");
        Ok(())
    }

    async fn existing_store(&self, id: &StoreId) -> ServiceResult<Store> {
        self.store
            .get_store(id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "store",
                id: id.to_string(),
            })
    }

    /// The user with the invitee's number, created (with their name) if there is none.
    async fn user_for(&self, invitee: &Invitee, now: Timestamp) -> ServiceResult<User> {
        if let Some(user) = self
            .store
            .user_by_phone(&invitee.phone)
            .await
            .map_err(storage)?
        {
            return Ok(user);
        }
        let user = User {
            user_id: UserId::new(),
            phone: invitee.phone.clone(),
            display_name: invitee.display_name.clone(),
            global_role: None,
            disabled: false,
            sessions_valid_after: None,
            created_at: now,
        };
        match self.store.insert_user(&user).await {
            Ok(()) => Ok(user),
            // Added by a racing request: theirs is the user.
            Err(StorageError::AlreadyExists) => self
                .store
                .user_by_phone(&invitee.phone)
                .await
                .map_err(storage)?
                .ok_or_else(|| {
                    ServiceError::Internal(StorageError::Corrupt(format!(
                        "the user of {} vanished while being added",
                        invitee.phone.masked()
                    )))
                }),
            Err(e) => Err(storage(e)),
        }
    }

    /// The role and stores a user's access token carries: a global role reaches every store;
    /// otherwise the stores they own, or else those they scan for.
    async fn grants(&self, user: &User) -> ServiceResult<(Role, Vec<StoreId>)> {
        match user.global_role {
            Some(GlobalRole::Admin) => return Ok((Role::Admin, Vec::new())),
            Some(GlobalRole::Reviewer) => return Ok((Role::Reviewer, Vec::new())),
            None => {}
        }
        let memberships = self
            .store
            .memberships_of(&user.user_id)
            .await
            .map_err(storage)?;
        for (store_role, role) in [
            (StoreRole::StoreOwner, Role::StoreOwner),
            (StoreRole::Scanner, Role::Scanner),
        ] {
            let stores: Vec<StoreId> = memberships
                .iter()
                .filter(|m| m.role == store_role)
                .map(|m| m.store_id.clone())
                .collect();
            if !stores.is_empty() {
                return Ok((role, stores));
            }
        }
        Err(Forbidden::NoMembership.into())
    }

    fn pair(
        &self,
        user: &User,
        role: Role,
        stores: Vec<StoreId>,
        session: &Session,
        secret: &str,
        now: Timestamp,
    ) -> TokenPair {
        let access = self.tokens.mint_at(
            &user.user_id.to_string(),
            role,
            &stores,
            now.unix_seconds(),
            now.unix_seconds() + ACCESS_TOKEN_TTL.whole_seconds(),
        );
        TokenPair {
            access_token: access,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL.whole_seconds(),
            refresh_token: refresh_token(&session.session_id, secret),
            refresh_expires_in: (session.expires_at.unix_seconds() - now.unix_seconds()).max(0),
            user_id: user.user_id,
            role,
            store_ids: stores,
        }
    }

    /// A refresh token of the family that is not its newest: whoever holds the newest may be
    /// an attacker who stole it, or the victim; the family ends, so both must sign in again.
    async fn reused(&self, session: &Session, now: Timestamp) -> ServiceError {
        if session.revoked_at.is_none() {
            if let Err(e) = self.store.revoke_session(&session.session_id, now).await {
                return storage(e);
            }
            tracing::warn!(user = %session.user_id, session = %session.session_id, "an old refresh token was used again; the session is ended");
        }
        sign_in_error(
            "refresh_token_reused",
            "this refresh token was already used; its session is ended, sign in again",
        )
    }

    async fn limit(&self, key: &str, limit: u32, now: Timestamp, what: &str) -> ServiceResult<()> {
        let window = limits::WINDOW.whole_seconds();
        let end_secs = (now.unix_seconds() / window + 1) * window;
        let end = Timestamp::from_unix_seconds(end_secs).unwrap_or(now);
        if self
            .store
            .count_request(key, end, limit)
            .await
            .map_err(storage)?
        {
            return Ok(());
        }
        let wait = end.datetime() - now.datetime();
        Err(ServiceError::RateLimited {
            detail: format!("{what}; try again in {} minutes", wait.whole_minutes() + 1),
            retry_after: wait.try_into().unwrap_or_default(),
        })
    }

    fn code_mac(&self, phone: &Phone, sent_at: Timestamp, code: &str) -> String {
        self.secrets.mac(
            "code",
            &[
                phone.as_str().as_bytes(),
                sent_at.to_string().as_bytes(),
                code.as_bytes(),
            ],
        )
    }

    fn refresh_mac(&self, secret: &str) -> String {
        self.secrets.mac("refresh", &[secret.as_bytes()])
    }

    fn refresh_matches(&self, secret: &str, stored: &str) -> bool {
        self.secrets.verify("refresh", &[secret.as_bytes()], stored)
    }
}

fn session_ended() -> ServiceError {
    sign_in_error(
        "session_ended",
        "this session has ended (signed out, or older than 30 days); sign in again",
    )
}

fn user_disabled() -> ServiceError {
    sign_in_error("user_disabled", "this user is disabled; ask an admin")
}

fn member_view(user: &User, m: &Membership) -> MemberView {
    MemberView {
        user_id: user.user_id,
        display_name: user.display_name.clone(),
        phone: user.phone.clone(),
        role: m.role,
        added_by: m.added_by.clone(),
        added_at: m.added_at,
    }
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
    fn macs_verify_only_what_they_were_made_of() {
        let k = SecretKey::derive(b"0123456789abcdef0123456789abcdef");
        let m = k.mac("code", &[b"+919876543210", b"123456"]);
        assert!(k.verify("code", &[b"+919876543210", b"123456"], &m));
        assert!(!k.verify("code", &[b"+919876543210", b"123457"], &m));
        assert!(!k.verify("refresh", &[b"+919876543210", b"123456"], &m));
        assert!(!k.verify("code", &[b"+919876543210", b"123456"], "not base64!"));
        let other = SecretKey::derive(b"another-secret-another-secret-xx");
        assert!(!other.verify("code", &[b"+919876543210", b"123456"], &m));
    }
}
