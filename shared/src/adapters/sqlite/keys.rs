//! Integration keys in SQLite: each key as its JSON document under its store. A request's step
//! (the bucket, the last use) reads and writes inside one `BEGIN IMMEDIATE` transaction.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Prepared, SqliteStore, db_err, from_doc, to_doc};
use crate::domain::{ApiKey, KeyId, StoreId, Take, Timestamp};
use crate::ports::{KeyStore, KeyUse, REVOKED_KEYS_KEPT, StorageError, StorageResult};

pub(super) const SCHEMA: &str = r#"
-- A store's integration keys; a revoked one until `delete_after` (Unix seconds).
CREATE TABLE IF NOT EXISTS integration_keys (
    store_id     TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    delete_after INTEGER,
    doc          TEXT NOT NULL,
    PRIMARY KEY (store_id, key_id)
) WITHOUT ROWID;
DELETE FROM integration_keys WHERE delete_after < unixepoch();
"#;

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &ApiKey) -> StorageResult<()> {
        let k = key.clone();
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO integration_keys (store_id, key_id, doc) VALUES (?1, ?2, ?3)",
                    params![k.store_id.as_str(), k.key_id.to_string(), to_doc(&k)?],
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

    async fn get_key(
        &self,
        store: &StoreId,
        id: &KeyId,
        _consistent: bool,
    ) -> StorageResult<Option<ApiKey>> {
        let (store, id) = (store.as_str().to_string(), id.to_string());
        self.read(move |c| load_key(c, &store, &id)).await
    }

    async fn keys_of(&self, store: &StoreId) -> StorageResult<Vec<ApiKey>> {
        let store = store.as_str().to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT doc FROM integration_keys WHERE store_id = ?1 ORDER BY key_id DESC",
                )
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![store], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| from_doc("key", d)).collect()
        })
        .await
    }

    async fn revoke_key(&self, store: &StoreId, id: &KeyId, at: Timestamp) -> StorageResult<()> {
        let (store, id) = (store.as_str().to_string(), id.to_string());
        self.write(move |tx| {
            let Some(mut k) = load_key(tx, &store, &id)? else {
                return Err(StorageError::NotFound);
            };
            if k.revoked_at.is_none() {
                k.revoked_at = Some(at);
                save_key(tx, &k)?;
                tx.execute_cached(
                    "UPDATE integration_keys SET delete_after = ?3 WHERE store_id = ?1 AND key_id = ?2",
                    params![store, id, at.plus(REVOKED_KEYS_KEPT).unix_seconds()],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn use_key(&self, key: &ApiKey, at: Timestamp) -> StorageResult<KeyUse> {
        let (store, id) = (key.store_id.as_str().to_string(), key.key_id.to_string());
        self.write(move |tx| {
            let Some(mut k) = load_key(tx, &store, &id)? else {
                return Err(StorageError::NotFound);
            };
            if k.revoked_at.is_some() {
                return Ok(KeyUse::Revoked);
            }
            match k.bucket().take(k.bucket_full_at_ms, at.unix_millis()) {
                Take::Wait(ms) => Ok(KeyUse::Wait(ms)),
                Take::Admitted(full_at) => {
                    k.bucket_full_at_ms = Some(full_at);
                    k.last_used_at = Some(at);
                    save_key(tx, &k)?;
                    Ok(KeyUse::Admitted)
                }
            }
        })
        .await
    }
}

fn load_key(c: &rusqlite::Connection, store: &str, id: &str) -> StorageResult<Option<ApiKey>> {
    c.query_row_cached(
        "SELECT doc FROM integration_keys WHERE store_id = ?1 AND key_id = ?2",
        params![store, id],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map_err(db_err)?
    .as_deref()
    .map(|d| from_doc("key", d))
    .transpose()
}

fn save_key(tx: &rusqlite::Connection, k: &ApiKey) -> StorageResult<()> {
    tx.execute_cached(
        "UPDATE integration_keys SET doc = ?3 WHERE store_id = ?1 AND key_id = ?2",
        params![k.store_id.as_str(), k.key_id.to_string(), to_doc(k)?],
    )
    .map_err(db_err)?;
    Ok(())
}
