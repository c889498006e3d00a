//! Signing in: codes by SMS, token pairs, refresh-token rotation and its reuse, sign-out.

use super::secrets::{parse_refresh, random_code, random_secret, refresh_token};
use super::{Accounts, ClientAddress, TokenPair, limits, sign_in_error, storage};
use crate::auth::{ACCESS_TOKEN_TTL, Forbidden, Principal, Role};
use crate::domain::account::{
    CODE_ATTEMPTS, CODE_TTL, LOST_ANSWER_GRACE, SESSION_TTL, SPENT_SECRETS_KEPT,
};
use crate::domain::{
    FieldErrors, GlobalRole, Holder, Phone, Session, SessionId, SignInCode, StoreId, StoreRole,
    Timestamp, User, UserId,
};
use crate::ports::StorageError;
use crate::services::{ServiceError, ServiceResult};

/// What an access token carries: its role and stores.
pub(super) struct Grant {
    pub role: Role,
    pub stores: Vec<StoreId>,
}

impl Accounts {
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
        let known = user.as_ref().is_some_and(|u| !u.disabled);
        // A number that is no (enabled) user's gets a code record too, of a code nobody is
        // sent: what follows (tries, their answers) is the same for every number, so neither
        // this answer nor the next tells who is a user.
        let code = random_code()?;
        let record = SignInCode {
            phone: phone.clone(),
            code_mac: self.code_mac(phone, now, &code),
            sent_at: now,
            expires_at: now.plus(CODE_TTL),
            attempts_left: CODE_ATTEMPTS,
        };
        self.store.put_code(&record).await.map_err(storage)?;
        if !known {
            tracing::info!(phone = %phone.masked(), "sign-in code not sent: no such user, or disabled");
            // As long as a send usually takes, so the answer's time does not tell either.
            tokio::time::sleep(self.send_time.typical()).await;
            return Ok(());
        }
        let message = format!(
            "{code} is your Kirana catalog sign-in code. It expires in {} minutes. Do not share it.",
            CODE_TTL.whole_minutes()
        );
        let started = std::time::Instant::now();
        let sent = self.sender.send(phone, &message).await;
        self.send_time.record(started.elapsed());
        match sent {
            Ok(()) => tracing::info!(phone = %phone.masked(), "sign-in code sent"),
            // Worth a retry: say so (503).
            Err(e @ StorageError::Unavailable(_)) => return Err(storage(e)),
            // Refused for this number (SNS said it cannot be reached): logged, and the answer
            // stays the one every number gets.
            Err(e) => {
                tracing::error!(phone = %phone.masked(), error = %crate::error_chain::ErrorChain(&e), "the sign-in SMS was refused");
            }
        }
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
        // Across codes too (five codes an hour with five tries each would be 25 guesses);
        // counted only against a live code, so locking a number out takes sending it SMS.
        self.limit(
            &format!("code-try-phone:{}", phone.as_str()),
            limits::CODE_TRIES_PER_PHONE,
            now,
            "too many sign-in codes were tried for this number",
        )
        .await?;
        if !self.secrets.verify(
            "code",
            &code_parts(phone, stored.sent_at, code),
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
        // One sign-in per code: of two racing with the right code, one deletes it.
        if !self.store.delete_code(&stored).await.map_err(storage)? {
            return Err(sign_in_error(
                "code_invalid",
                "this code was used already; ask for a new code",
            ));
        }
        let user = self
            .store
            .user_by_phone(phone)
            .await
            .map_err(storage)?
            .ok_or_else(|| sign_in_error("code_invalid", "this number has no user"))?;
        if user.disabled {
            return Err(user_disabled());
        }
        let grant = self.user_grant(&user).await?;
        let holder = Holder::User {
            user_id: user.user_id,
        };
        let (session, secret) = self.start_session(holder, now).await?;
        tracing::info!(user = %user.user_id, session = %session.session_id, "signed in");
        Ok(self.pair(&session, &secret, grant, now))
    }

    /// Trades a refresh token for the next pair. An old token of the family ends the family,
    /// except the one the last refresh spent, sent again within [`LOST_ANSWER_GRACE`] (its
    /// answer was lost): that one is granted the next pair too.
    pub async fn refresh(&self, token: &str) -> ServiceResult<TokenPair> {
        let (sid, secret) = parse_refresh(token).ok_or_else(refresh_invalid)?;
        let now = Timestamp::now();
        let session = self
            .store
            .get_session(&sid)
            .await
            .map_err(storage)?
            .ok_or_else(refresh_invalid)?;
        let lost_answer = match self.which_secret(secret, &session) {
            Some(Secret::Current) => false,
            Some(Secret::LastSpent) if now < session.refreshed_at.plus(LOST_ANSWER_GRACE) => {
                tracing::info!(session = %session.session_id, "a refresh answer was lost: its token is granted the next pair");
                true
            }
            Some(Secret::LastSpent | Secret::Spent) => {
                return Err(self.reused(&session, now).await);
            }
            // Not a secret this session ever had: nothing to end.
            None => return Err(refresh_invalid()),
        };
        // The holder first: a revoked device or a disabled user says so, rather than only
        // that the session ended.
        let grant = self.holder_grant(&session).await?;
        if !session.is_live(now) {
            return Err(session_ended());
        }
        let next_secret = random_secret()?;
        // The spent secrets, newest first. After a lost answer the one presented stays first
        // (sent again, as a client whose answer is lost again does, it is granted again), and
        // the lost answer's, never used, goes behind it: any use of it ends the family.
        let mut spent_macs = Vec::with_capacity(SPENT_SECRETS_KEPT);
        let mut older = session.spent_macs.iter();
        if lost_answer && let Some(presented) = older.next() {
            spent_macs.push(presented.clone());
        }
        spent_macs.push(session.secret_mac.clone());
        spent_macs.extend(older.cloned());
        spent_macs.truncate(SPENT_SECRETS_KEPT);
        // A person signs in again after 30 days; a shelf device, paired once, stays signed in
        // while it is used (30 days from its last refresh).
        let expires_at = match session.holder {
            Holder::User { .. } => session.expires_at,
            Holder::Device { .. } => now.plus(SESSION_TTL),
        };
        let next = Session {
            secret_mac: self.refresh_mac(&next_secret),
            spent_macs,
            generation: session.generation + 1,
            refreshed_at: now,
            expires_at,
            ..session.clone()
        };
        match self.store.rotate_session(&next, &session.secret_mac).await {
            Ok(()) => Ok(self.pair(&next, &next_secret, grant, now)),
            Err(StorageError::VersionConflict { .. }) => {
                // Revoked meanwhile (a sign-out, a device revoked): the session ended. Else
                // another refresh with the same token won: the token was used twice.
                let current = self.store.get_session(&sid).await.map_err(storage)?;
                if current.is_some_and(|s| s.revoked_at.is_some()) {
                    Err(session_ended())
                } else {
                    Err(self.reused(&session, now).await)
                }
            }
            Err(e) => Err(storage(e)),
        }
    }

    /// Ends the session a refresh token belongs to (its current token or a spent one: a client
    /// whose last refresh answer was lost still signs out). Answers the same for a token that
    /// is not good (RFC 7009, 2.2), so it tells nothing about tokens.
    pub async fn sign_out(&self, token: &str) -> ServiceResult<()> {
        let Some((sid, secret)) = parse_refresh(token) else {
            return Ok(());
        };
        let Some(session) = self.store.get_session(&sid).await.map_err(storage)? else {
            return Ok(());
        };
        if self.which_secret(secret, &session).is_some() {
            self.store
                .revoke_session(&sid, Timestamp::now())
                .await
                .map_err(storage)?;
            tracing::info!(holder = %session.holder, session = %sid, "signed out");
        }
        Ok(())
    }

    /// Ends every session of the caller: no refresh token issued before now works again.
    pub async fn sign_out_everywhere(&self, who: &Principal) -> ServiceResult<()> {
        let not_a_user = || {
            ServiceError::Conflict {
            code: "not_a_user",
            detail: "this token was not issued to a person by signing in (a device's, or a `catalog token`), so it has no sessions of a person to end".into(),
        }
        };
        let id = UserId::parse(&who.sub).map_err(|_| not_a_user())?;
        match self.store.end_sessions(&id, Timestamp::now()).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(not_a_user()),
            Err(e) => return Err(storage(e)),
        }
        tracing::info!(user = %id, "signed out everywhere");
        Ok(())
    }

    /// A new session for `holder`, and its first refresh secret.
    pub(super) async fn start_session(
        &self,
        holder: Holder,
        now: Timestamp,
    ) -> ServiceResult<(Session, String)> {
        let secret = random_secret()?;
        let session = Session {
            session_id: SessionId::new(),
            holder,
            secret_mac: self.refresh_mac(&secret),
            spent_macs: Vec::new(),
            generation: 0,
            created_at: now,
            refreshed_at: now,
            expires_at: now.plus(SESSION_TTL),
            revoked_at: None,
        };
        self.store.insert_session(&session).await.map_err(storage)?;
        Ok((session, secret))
    }

    /// What the session's holder may do now, or why its session is over.
    async fn holder_grant(&self, session: &Session) -> ServiceResult<Grant> {
        match &session.holder {
            Holder::User { user_id } => {
                let user = self
                    .store
                    .get_user(user_id)
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
                self.user_grant(&user).await
            }
            Holder::Device {
                store_id,
                device_id,
            } => {
                let device = self
                    .store
                    .get_device(store_id, device_id)
                    .await
                    .map_err(storage)?;
                // The device's own session, not one a lost race left behind.
                match device {
                    Some(d)
                        if d.revoked_at.is_none() && d.session_id == Some(session.session_id) =>
                    {
                        Ok(device_grant(store_id))
                    }
                    _ => Err(sign_in_error(
                        "device_revoked",
                        "this device was removed from the store; an owner can pair it again",
                    )),
                }
            }
        }
    }

    /// The role and stores a user's access token carries: a global role reaches every store;
    /// otherwise the stores they own, or else those they scan for.
    async fn user_grant(&self, user: &User) -> ServiceResult<Grant> {
        match user.global_role {
            Some(GlobalRole::Admin) => {
                return Ok(Grant {
                    role: Role::Admin,
                    stores: Vec::new(),
                });
            }
            Some(GlobalRole::Reviewer) => {
                return Ok(Grant {
                    role: Role::Reviewer,
                    stores: Vec::new(),
                });
            }
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
                return Ok(Grant { role, stores });
            }
        }
        Err(Forbidden::NoMembership.into())
    }

    /// The pair a session's holder gets now: an access token and the session's refresh token.
    pub(super) fn pair(
        &self,
        session: &Session,
        secret: &str,
        grant: Grant,
        now: Timestamp,
    ) -> TokenPair {
        let access = self.tokens.mint_at(
            &session.holder.subject(),
            grant.role,
            &grant.stores,
            now.unix_seconds(),
            now.unix_seconds() + ACCESS_TOKEN_TTL.whole_seconds(),
        );
        let (user_id, device_id) = match &session.holder {
            Holder::User { user_id } => (Some(*user_id), None),
            Holder::Device { device_id, .. } => (None, Some(*device_id)),
        };
        TokenPair {
            access_token: access,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL.whole_seconds(),
            refresh_token: refresh_token(&session.session_id, secret),
            refresh_expires_in: (session.expires_at.unix_seconds() - now.unix_seconds()).max(0),
            user_id,
            device_id,
            role: grant.role,
            store_ids: grant.stores,
        }
    }

    /// A refresh token of the family that is not its newest: whoever holds the newest may be
    /// an attacker who stole it, or the victim; the family ends, so both must sign in again.
    async fn reused(&self, session: &Session, now: Timestamp) -> ServiceError {
        if session.revoked_at.is_none() {
            if let Err(e) = self.store.revoke_session(&session.session_id, now).await {
                return storage(e);
            }
            tracing::warn!(holder = %session.holder, session = %session.session_id, "an old refresh token was used again; the session is ended");
        }
        sign_in_error(
            "refresh_token_reused",
            "this refresh token was already used; its session is ended, sign in again",
        )
    }

    fn code_mac(&self, phone: &Phone, sent_at: Timestamp, code: &str) -> String {
        self.secrets.mac("code", &code_parts(phone, sent_at, code))
    }

    fn refresh_mac(&self, secret: &str) -> String {
        self.secrets.mac("refresh", &[secret.as_bytes()])
    }

    /// Whether `secret` is the session's current refresh secret, the one its last refresh
    /// spent, an older spent one, or none of its.
    fn which_secret(&self, secret: &str, session: &Session) -> Option<Secret> {
        let is = |mac: &String| self.secrets.verify("refresh", &[secret.as_bytes()], mac);
        if is(&session.secret_mac) {
            Some(Secret::Current)
        } else if session.spent_macs.first().is_some_and(is) {
            Some(Secret::LastSpent)
        } else if session.spent_macs.iter().any(is) {
            Some(Secret::Spent)
        } else {
            None
        }
    }
}

/// Which of a session's refresh secrets a token carries.
enum Secret {
    Current,
    /// The one the last refresh spent.
    LastSpent,
    /// An older spent one.
    Spent,
}

/// A device signs in as its store's scanner, nothing more.
pub(super) fn device_grant(store: &StoreId) -> Grant {
    Grant {
        role: Role::Scanner,
        stores: vec![store.clone()],
    }
}

/// What a code's MAC covers: the number, when it was sent, the code.
fn code_parts<'a>(phone: &'a Phone, sent_at: Timestamp, code: &'a str) -> [Vec<u8>; 3] {
    [
        phone.as_str().as_bytes().to_vec(),
        sent_at.to_string().into_bytes(),
        code.as_bytes().to_vec(),
    ]
}

fn refresh_invalid() -> ServiceError {
    sign_in_error(
        "refresh_token_invalid",
        "the refresh token is not one this service issued; sign in again",
    )
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
