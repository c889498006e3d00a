//! Webhooks and their deliveries in SQLite: each as its JSON document, with the columns the
//! listings need (a delivery's place among its webhook's, newest event first, and when it is
//! due while it is pending). A delivery changes only over the version it was read at.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Prepared, SqliteStore, db_err, from_doc, to_doc};
use crate::adapters::records::{delivery_due, delivery_place, is_time_place};

/// The `due_ms` column: when the delivery is due, while it is pending.
fn due_ms(d: &crate::domain::Delivery) -> Option<i64> {
    delivery_due(d).map(|t| t.unix_millis())
}
use crate::domain::webhook::DELIVERIES_KEPT;
use crate::domain::{Delivery, StoreId, Timestamp, Webhook, WebhookId};
use crate::ports::{Continuation, Page, PageQuery, StorageError, StorageResult, WebhookStore};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS webhooks (
    store_id   TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (store_id, webhook_id)
) WITHOUT ROWID;
-- A delivery: `place` orders a webhook's deliveries (the event's time in milliseconds, 15
-- digits, then the delivery's id); `due_ms` is set while it is pending; `delete_after` in Unix
-- seconds.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id  TEXT PRIMARY KEY,
    store_id     TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    place        TEXT NOT NULL,
    due_ms       INTEGER,
    version      INTEGER NOT NULL,
    delete_after INTEGER NOT NULL,
    doc          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_place
    ON webhook_deliveries (store_id, webhook_id, place);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (due_ms) WHERE due_ms IS NOT NULL;
DELETE FROM webhook_deliveries WHERE delete_after < unixepoch();
"#;

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, webhook: &Webhook) -> StorageResult<()> {
        let w = webhook.clone();
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO webhooks (store_id, webhook_id, doc) VALUES (?1, ?2, ?3)",
                    params![w.store_id.as_str(), w.webhook_id.to_string(), to_doc(&w)?],
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

    async fn get_webhook(&self, store: &StoreId, id: &WebhookId) -> StorageResult<Option<Webhook>> {
        let (store, id) = (store.as_str().to_string(), id.to_string());
        self.read(move |c| {
            c.query_row_cached(
                "SELECT doc FROM webhooks WHERE store_id = ?1 AND webhook_id = ?2",
                params![store, id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(db_err)?
            .as_deref()
            .map(|d| from_doc("webhook", d))
            .transpose()
        })
        .await
    }

    async fn webhooks_of(&self, store: &StoreId) -> StorageResult<Vec<Webhook>> {
        let store = store.as_str().to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT doc FROM webhooks WHERE store_id = ?1")
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![store], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| from_doc("webhook", d)).collect()
        })
        .await
    }

    async fn delete_webhook(&self, store: &StoreId, id: &WebhookId) -> StorageResult<()> {
        let (store, id) = (store.as_str().to_string(), id.to_string());
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "DELETE FROM webhooks WHERE store_id = ?1 AND webhook_id = ?2",
                    params![store, id],
                )
                .map_err(db_err)?;
            if n == 0 {
                Err(StorageError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn insert_delivery(&self, delivery: &Delivery) -> StorageResult<()> {
        let d = delivery.clone();
        self.write(move |tx| {
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO webhook_deliveries
                        (delivery_id, store_id, webhook_id, place, due_ms, version, delete_after, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        d.delivery_id.to_string(),
                        d.store_id.as_str(),
                        d.webhook_id.to_string(),
                        delivery_place(&d),
                        due_ms(&d),
                        d.version as i64,
                        d.created_at.plus(DELIVERIES_KEPT).unix_seconds(),
                        to_doc(&d)?
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

    async fn update_delivery(&self, next: &Delivery) -> StorageResult<()> {
        let d = next.clone();
        self.write(move |tx| {
            let id = d.delivery_id.to_string();
            let current: Option<i64> = tx
                .query_row_cached(
                    "SELECT version FROM webhook_deliveries WHERE delivery_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            match current {
                None => Err(StorageError::NotFound),
                Some(v) if v as u64 + 1 != d.version => Err(StorageError::VersionConflict {
                    current: Some(v as u64),
                }),
                Some(_) => {
                    tx.execute_cached(
                        "UPDATE webhook_deliveries SET due_ms = ?2, version = ?3, doc = ?4
                         WHERE delivery_id = ?1",
                        params![id, due_ms(&d), d.version as i64, to_doc(&d)?],
                    )
                    .map_err(db_err)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn deliveries_of(
        &self,
        store: &StoreId,
        webhook: &WebhookId,
        page: &PageQuery,
    ) -> StorageResult<Page<Delivery>> {
        let (store, webhook) = (store.as_str().to_string(), webhook.to_string());
        let after = page.after.as_ref().map(|c| c.0.clone());
        if after.as_deref().is_some_and(|a| !is_time_place(a)) {
            return Err(StorageError::BadContinuation);
        }
        let limit = page.limit.max(1) as usize;
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT place, doc FROM webhook_deliveries
                     WHERE store_id = ?1 AND webhook_id = ?2 AND (?3 IS NULL OR place < ?3)
                     ORDER BY place DESC LIMIT ?4",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![store, webhook, after, limit as i64 + 1], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            let more = rows.len() > limit;
            let mut items = Vec::with_capacity(limit);
            let mut last = None;
            for (place, doc) in rows.into_iter().take(limit) {
                items.push(from_doc("delivery", &doc)?);
                last = Some(place);
            }
            Ok(Page {
                items,
                next: if more { last.map(Continuation) } else { None },
            })
        })
        .await
    }

    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> StorageResult<Vec<Delivery>> {
        let now = now.unix_millis();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT doc FROM webhook_deliveries WHERE due_ms IS NOT NULL AND due_ms <= ?1
                     ORDER BY due_ms LIMIT ?2",
                )
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![now, limit.clamp(1, 1000) as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| from_doc("delivery", d)).collect()
        })
        .await
    }
}
