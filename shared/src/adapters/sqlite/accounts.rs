//! Accounts in SQLite: each record as its JSON document, keyed by what it is found by. Every
//! conditional step (a code attempt, a rotation, a counted request) reads and writes inside one
//! `BEGIN IMMEDIATE` transaction, so it is atomic against every other writer of the file.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Prepared, SqliteStore, db_err, from_doc, to_doc};
use crate::domain::{
    Device, DeviceId, Membership, Phone, Session, SessionId, SignInCode, Store, StoreId, Timestamp,
    User, UserId,
};
use crate::ports::{
    AccountStore, MAX_DEVICE_RECORDS, MAX_MEMBERSHIPS, StorageError, StorageResult,
};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    phone   TEXT NOT NULL UNIQUE,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stores (
    store_id TEXT PRIMARY KEY,
    doc      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    store_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (store_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships (user_id, store_id);
-- The last code sent to each phone (expired ones are deleted at open and when replaced).
CREATE TABLE IF NOT EXISTS sign_in_codes (
    phone      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
-- A store's devices, paired, waiting for their pairing, or revoked.
CREATE TABLE IF NOT EXISTS devices (
    store_id  TEXT NOT NULL,
    device_id TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (store_id, device_id)
) WITHOUT ROWID;
-- Requests counted in each key's current fixed window.
CREATE TABLE IF NOT EXISTS request_counts (
    key        TEXT PRIMARY KEY,
    window_end INTEGER NOT NULL,
    count      INTEGER NOT NULL
) WITHOUT ROWID;
DELETE FROM sign_in_codes WHERE expires_at < unixepoch();
DELETE FROM sessions WHERE expires_at < unixepoch();
DELETE FROM request_counts WHERE window_end < unixepoch();
"#;

fn user_from(doc: &str) -> StorageResult<User> {
    from_doc("user", doc)
}

fn one_doc(c: &rusqlite::Connection, sql: &str, key: &str) -> StorageResult<Option<String>> {
    c.query_row_cached(sql, params![key], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

fn memberships(c: &rusqlite::Connection, sql: &str, key: &str) -> StorageResult<Vec<Membership>> {
    let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
    let docs = stmt
        .query_map(params![key, MAX_MEMBERSHIPS as i64], |r| {
            r.get::<_, String>(0)
        })
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    docs.iter().map(|d| from_doc("membership", d)).collect()
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn insert_user(&self, user: &User) -> StorageResult<()> {
        let user = user.clone();
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO users (user_id, phone, doc) VALUES (?1, ?2, ?3)",
                    params![
                        user.user_id.to_string(),
                        user.phone.as_str(),
                        to_doc(&user)?
                    ],
                )
                .map_err(db_err)?;
            if n == 0 {
                Err(StorageError::AlreadyExists)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn get_user(&self, id: &UserId) -> StorageResult<Option<User>> {
        let id = id.to_string();
        self.read(move |c| {
            one_doc(c, "SELECT doc FROM users WHERE user_id = ?1", &id)?
                .as_deref()
                .map(user_from)
                .transpose()
        })
        .await
    }

    async fn user_by_phone(&self, phone: &Phone) -> StorageResult<Option<User>> {
        let phone = phone.as_str().to_string();
        self.read(move |c| {
            one_doc(c, "SELECT doc FROM users WHERE phone = ?1", &phone)?
                .as_deref()
                .map(user_from)
                .transpose()
        })
        .await
    }

    async fn end_sessions(&self, id: &UserId, at: Timestamp) -> StorageResult<()> {
        let id = id.to_string();
        self.write(move |tx| {
            let mut user = load_user(tx, &id)?.ok_or(StorageError::NotFound)?;
            user.sessions_valid_after = Some(at);
            save_user(tx, &user)
        })
        .await
    }

    async fn set_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        at: Timestamp,
    ) -> StorageResult<User> {
        let id = id.to_string();
        self.write(move |tx| {
            let mut user = load_user(tx, &id)?.ok_or(StorageError::NotFound)?;
            user.disabled = disabled;
            if disabled {
                user.sessions_valid_after = Some(at);
            }
            save_user(tx, &user)?;
            Ok(user)
        })
        .await
    }

    async fn insert_store(&self, store: &Store, owner: &Membership) -> StorageResult<()> {
        let (store, owner) = (store.clone(), owner.clone());
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO stores (store_id, doc) VALUES (?1, ?2)",
                    params![store.store_id.as_str(), to_doc(&store)?],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(StorageError::AlreadyExists);
            }
            save_membership(tx, &owner)
        })
        .await
    }

    async fn get_store(&self, id: &StoreId) -> StorageResult<Option<Store>> {
        let id = id.as_str().to_string();
        self.read(move |c| {
            one_doc(c, "SELECT doc FROM stores WHERE store_id = ?1", &id)?
                .as_deref()
                .map(|d| from_doc("store", d))
                .transpose()
        })
        .await
    }

    async fn put_membership(&self, membership: &Membership) -> StorageResult<()> {
        let m = membership.clone();
        self.write(move |tx| save_membership(tx, &m)).await
    }

    async fn memberships_of(&self, user: &UserId) -> StorageResult<Vec<Membership>> {
        let user = user.to_string();
        self.read(move |c| {
            memberships(
                c,
                "SELECT doc FROM memberships WHERE user_id = ?1 ORDER BY store_id LIMIT ?2",
                &user,
            )
        })
        .await
    }

    async fn members_of(&self, store: &StoreId) -> StorageResult<Vec<Membership>> {
        let store = store.as_str().to_string();
        self.read(move |c| {
            memberships(
                c,
                "SELECT doc FROM memberships WHERE store_id = ?1 ORDER BY user_id LIMIT ?2",
                &store,
            )
        })
        .await
    }

    async fn put_code(&self, code: &SignInCode) -> StorageResult<()> {
        let code = code.clone();
        self.write(move |tx| {
            tx.execute_cached(
                "INSERT INTO sign_in_codes (phone, expires_at, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (phone) DO UPDATE SET expires_at = excluded.expires_at, doc = excluded.doc",
                params![code.phone.as_str(), code.expires_at.unix_seconds(), to_doc(&code)?],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn spend_code_attempt(
        &self,
        phone: &Phone,
        now: Timestamp,
    ) -> StorageResult<Option<SignInCode>> {
        let phone = phone.as_str().to_string();
        self.write(move |tx| {
            let Some(doc) = one_doc(tx, "SELECT doc FROM sign_in_codes WHERE phone = ?1", &phone)?
            else {
                return Ok(None);
            };
            let mut code: SignInCode = from_doc("sign-in code", &doc)?;
            if code.attempts_left == 0 || code.is_expired(now) {
                return Ok(None);
            }
            code.attempts_left -= 1;
            tx.execute_cached(
                "UPDATE sign_in_codes SET doc = ?2 WHERE phone = ?1",
                params![phone, to_doc(&code)?],
            )
            .map_err(db_err)?;
            Ok(Some(code))
        })
        .await
    }

    async fn delete_code(&self, code: &SignInCode) -> StorageResult<bool> {
        let code = code.clone();
        self.write(move |tx| {
            let phone = code.phone.as_str();
            let Some(doc) = one_doc(tx, "SELECT doc FROM sign_in_codes WHERE phone = ?1", phone)?
            else {
                return Ok(false);
            };
            let stored: SignInCode = from_doc("sign-in code", &doc)?;
            if stored.sent_at != code.sent_at {
                return Ok(false);
            }
            tx.execute_cached("DELETE FROM sign_in_codes WHERE phone = ?1", params![phone])
                .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn count_request(
        &self,
        key: &str,
        window_end: Timestamp,
        limit: u32,
    ) -> StorageResult<bool> {
        let key = key.to_string();
        let end = window_end.unix_seconds();
        self.write(move |tx| {
            let current: Option<(i64, i64)> = tx
                .query_row_cached(
                    "SELECT window_end, count FROM request_counts WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            let count = match current {
                Some((e, n)) if e == end => n,
                // Another instance's clock is in a later window already: let it through.
                Some((e, _)) if e > end => return Ok(true),
                _ => 0,
            };
            if count >= i64::from(limit) {
                return Ok(false);
            }
            tx.execute_cached(
                "INSERT INTO request_counts (key, window_end, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET window_end = excluded.window_end, count = excluded.count",
                params![key, end, count + 1],
            )
            .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn insert_session(&self, session: &Session) -> StorageResult<()> {
        let s = session.clone();
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO sessions (session_id, expires_at, doc) VALUES (?1, ?2, ?3)",
                    params![s.session_id.to_string(), s.expires_at.unix_seconds(), to_doc(&s)?],
                )
                .map_err(db_err)?;
            if n == 0 { Err(StorageError::AlreadyExists) } else { Ok(()) }
        })
        .await
    }

    async fn get_session(&self, id: &SessionId) -> StorageResult<Option<Session>> {
        let id = id.to_string();
        self.read(move |c| {
            one_doc(c, "SELECT doc FROM sessions WHERE session_id = ?1", &id)?
                .as_deref()
                .map(|d| from_doc("session", d))
                .transpose()
        })
        .await
    }

    async fn rotate_session(&self, next: &Session, previous_mac: &str) -> StorageResult<()> {
        let (next, previous_mac) = (next.clone(), previous_mac.to_string());
        self.write(move |tx| {
            let id = next.session_id.to_string();
            let Some(doc) = one_doc(tx, "SELECT doc FROM sessions WHERE session_id = ?1", &id)?
            else {
                return Err(StorageError::VersionConflict { current: None });
            };
            let stored: Session = from_doc("session", &doc)?;
            if stored.secret_mac != previous_mac || stored.revoked_at.is_some() {
                return Err(StorageError::VersionConflict {
                    current: Some(u64::from(stored.generation)),
                });
            }
            tx.execute_cached(
                "UPDATE sessions SET doc = ?2 WHERE session_id = ?1",
                params![id, to_doc(&next)?],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn insert_device(&self, device: &Device) -> StorageResult<()> {
        let d = device.clone();
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO devices (store_id, device_id, doc) VALUES (?1, ?2, ?3)",
                    params![d.store_id.as_str(), d.device_id.to_string(), to_doc(&d)?],
                )
                .map_err(db_err)?;
            if n == 0 {
                Err(StorageError::AlreadyExists)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn get_device(&self, store: &StoreId, id: &DeviceId) -> StorageResult<Option<Device>> {
        let (store, id) = (store.as_str().to_string(), id.to_string());
        self.read(move |c| load_device(c, &store, &id)).await
    }

    async fn devices_of(&self, store: &StoreId) -> StorageResult<Vec<Device>> {
        let store = store.as_str().to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT doc FROM devices WHERE store_id = ?1 ORDER BY device_id DESC LIMIT ?2",
                )
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![store, MAX_DEVICE_RECORDS as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| from_doc("device", d)).collect()
        })
        .await
    }

    async fn pair_device(
        &self,
        store: &StoreId,
        id: &DeviceId,
        pairing_mac: &str,
        session: &SessionId,
        at: Timestamp,
    ) -> StorageResult<()> {
        let (store, id, mac, session) = (
            store.as_str().to_string(),
            id.to_string(),
            pairing_mac.to_string(),
            *session,
        );
        self.write(move |tx| {
            let Some(mut d) = load_device(tx, &store, &id)? else {
                return Err(StorageError::VersionConflict { current: None });
            };
            if d.pairing_mac.as_deref() != Some(mac.as_str())
                || d.paired_at.is_some()
                || d.revoked_at.is_some()
            {
                return Err(StorageError::VersionConflict { current: None });
            }
            d.pairing_mac = None;
            d.paired_at = Some(at);
            d.session_id = Some(session);
            save_device(tx, &d)
        })
        .await
    }

    async fn revoke_device(
        &self,
        store: &StoreId,
        id: &DeviceId,
        at: Timestamp,
    ) -> StorageResult<()> {
        let (store, id) = (store.as_str().to_string(), id.to_string());
        self.write(move |tx| {
            let Some(mut d) = load_device(tx, &store, &id)? else {
                return Err(StorageError::NotFound);
            };
            if d.revoked_at.is_none() {
                d.revoked_at = Some(at);
                d.pairing_mac = None;
                save_device(tx, &d)?;
            }
            Ok(())
        })
        .await
    }

    async fn revoke_session(&self, id: &SessionId, at: Timestamp) -> StorageResult<()> {
        let id = id.to_string();
        self.write(move |tx| {
            let Some(doc) = one_doc(tx, "SELECT doc FROM sessions WHERE session_id = ?1", &id)?
            else {
                return Ok(());
            };
            let mut s: Session = from_doc("session", &doc)?;
            if s.revoked_at.is_none() {
                s.revoked_at = Some(at);
                tx.execute_cached(
                    "UPDATE sessions SET doc = ?2 WHERE session_id = ?1",
                    params![id, to_doc(&s)?],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }
}

fn load_device(c: &rusqlite::Connection, store: &str, id: &str) -> StorageResult<Option<Device>> {
    c.query_row_cached(
        "SELECT doc FROM devices WHERE store_id = ?1 AND device_id = ?2",
        params![store, id],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map_err(db_err)?
    .as_deref()
    .map(|d| from_doc("device", d))
    .transpose()
}

fn save_device(tx: &rusqlite::Connection, d: &Device) -> StorageResult<()> {
    tx.execute_cached(
        "UPDATE devices SET doc = ?3 WHERE store_id = ?1 AND device_id = ?2",
        params![d.store_id.as_str(), d.device_id.to_string(), to_doc(d)?],
    )
    .map_err(db_err)?;
    Ok(())
}

fn load_user(c: &rusqlite::Connection, id: &str) -> StorageResult<Option<User>> {
    one_doc(c, "SELECT doc FROM users WHERE user_id = ?1", id)?
        .as_deref()
        .map(user_from)
        .transpose()
}

fn save_user(tx: &rusqlite::Connection, user: &User) -> StorageResult<()> {
    tx.execute_cached(
        "UPDATE users SET doc = ?2 WHERE user_id = ?1",
        params![user.user_id.to_string(), to_doc(user)?],
    )
    .map_err(db_err)?;
    Ok(())
}

fn save_membership(tx: &rusqlite::Connection, m: &Membership) -> StorageResult<()> {
    tx.execute_cached(
        "INSERT INTO memberships (store_id, user_id, doc) VALUES (?1, ?2, ?3)
         ON CONFLICT (store_id, user_id) DO UPDATE SET doc = excluded.doc",
        params![m.store_id.as_str(), m.user_id.to_string(), to_doc(m)?],
    )
    .map_err(db_err)?;
    Ok(())
}
