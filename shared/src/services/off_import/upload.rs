//! An Open Food Facts export uploaded to the uploads bucket under `off/`, loaded by the
//! `off-import` function (`aws s3 cp products.jsonl.gz s3://UPLOADS/off/india/`).
//!
//! The folder names the country to load, as OFF's country tags do without their `en:`:
//! `off/india/FILE`, `off/nepal/FILE`; `off/all/FILE` loads every country; a file right under
//! `off/` loads India's products ([`DEFAULT_COUNTRY`]).
//!
//! An export is larger than one run of a function can load, so a run keeps its place in a
//! small JSON blob beside the upload (`off-state/...json`, outside `off/` so that saving it
//! starts nothing), saved after every chunk, and hands over before its deadline: it asks for
//! another run ([`crate::ports::Events::run_again`]), which passes over the records loaded and
//! goes on. A run that dies is run again by its queue's redelivery, from the last place saved.
//! The place belongs to one upload (its ETag): uploading the key again starts over, and a
//! hand-over for an upload since replaced is dropped. Nothing depends on the place for being
//! right (the load is idempotent); it saves the work of loading again what was loaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::run::OffLoadError;
use super::{DEFAULT_COUNTRY, OffImportOptions, OffImportStats};
use crate::domain::Timestamp;
use crate::off::reader::{self, OffFormat};
use crate::ports::{BlobKey, StorageError};
use crate::services::{Catalog, ServiceError, ServiceResult};

/// Where exports are uploaded to be loaded.
pub const OFF_UPLOAD_PREFIX: &str = "off/";
/// Where a load keeps its place.
pub const OFF_STATE_PREFIX: &str = "off-state/";
/// The folder that loads every country.
pub const ALL_COUNTRIES: &str = "all";
/// A run hands over this long before its deadline (a chunk takes a few seconds).
pub const OFF_HAND_OFF_MARGIN: Duration = Duration::from_secs(60);

/// Where a load of an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffUploadStatus {
    Loading,
    Completed,
    /// The file cannot be loaded (`failure` says why).
    Failed,
}

/// The place a load of an upload keeps (`off-state/{name}.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffUploadState {
    /// The upload's key.
    pub key: String,
    /// The upload's version (its ETag): the place belongs to it.
    pub etag: String,
    pub status: OffUploadStatus,
    /// Records loaded (skipped ones included): a run goes on after them.
    pub records_done: u64,
    /// The upload's size, and how much of it had been read at the last place.
    pub size: u64,
    pub bytes_read: u64,
    pub stats: OffImportStats,
    /// Runs the load took so far.
    pub runs: u32,
    pub failure: Option<String>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The message a load that handed over sends itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffResumeMessage {
    /// The upload's key.
    pub resume_off_import: String,
    /// The upload it was (a newer one under the same key starts over on its own).
    pub etag: String,
}

/// What a run of a load did.
#[derive(Debug, Clone, PartialEq)]
pub enum OffUploadOutcome {
    Completed(OffUploadState),
    /// Handed over near its deadline: another run was asked for.
    Paused(OffUploadState),
    Failed(OffUploadState),
    /// Nothing to do (why).
    Skipped(&'static str),
}

/// How a run came to be asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffUploadWork {
    /// S3 said the object was created (again, maybe: a notification can come twice).
    Uploaded { key: String, etag: String },
    /// A run handed over.
    Resume(OffResumeMessage),
}

/// What an upload's key says to load: the country (`None`: every one). `None` for a key that
/// is not an export under `off/`.
pub fn upload_options(key: &str) -> Option<OffImportOptions> {
    let rest = key.strip_prefix(OFF_UPLOAD_PREFIX)?;
    OffFormat::of_name(rest)?;
    let country = match rest.rsplit_once('/') {
        None => Some(DEFAULT_COUNTRY.to_string()),
        Some((folder, _)) if folder.eq_ignore_ascii_case(ALL_COUNTRIES) => None,
        Some((folder, _)) if !folder.is_empty() && !folder.contains('/') => {
            Some(format!("en:{}", folder.to_ascii_lowercase()))
        }
        Some(_) => return None,
    };
    Some(OffImportOptions { country })
}

/// Where the load of `key` keeps its place.
fn state_key(key: &str) -> Result<BlobKey, String> {
    let rest = key.strip_prefix(OFF_UPLOAD_PREFIX).unwrap_or(key);
    BlobKey::parse(&format!("{OFF_STATE_PREFIX}{rest}.json"))
}

impl Catalog {
    /// Where the load of the upload `key` stands, if one started.
    pub async fn off_upload_state(&self, key: &str) -> ServiceResult<Option<OffUploadState>> {
        let Ok(at) = state_key(key) else {
            return Ok(None);
        };
        let Some(blob) = self.uploads.get(&at).await.map_err(ServiceError::storage)? else {
            return Ok(None);
        };
        // A place that does not read back is no place: the load starts over (it is
        // idempotent).
        Ok(serde_json::from_slice(&blob.bytes).ok())
    }

    async fn save_off_upload_state(&self, state: &OffUploadState) -> ServiceResult<()> {
        let at =
            state_key(&state.key).map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
        let bytes = serde_json::to_vec(state)
            .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
        self.uploads
            .put(&at, Bytes::from(bytes), "application/json")
            .await
            .map_err(ServiceError::storage)
    }

    /// Runs the load `work` asks for until the export ends or `deadline` nears (see the
    /// module's docs). An error is one to try again (storage or S3 unavailable): the place
    /// saved stays.
    pub async fn load_off_upload(
        &self,
        work: &OffUploadWork,
        deadline: Option<Instant>,
    ) -> ServiceResult<OffUploadOutcome> {
        let (key, etag) = match work {
            OffUploadWork::Uploaded { key, etag } => (key, etag),
            OffUploadWork::Resume(m) => (&m.resume_off_import, &m.etag),
        };
        let (Some(opts), Ok(blob_key)) = (upload_options(key), BlobKey::parse(key)) else {
            tracing::warn!(
                key,
                "not an Open Food Facts export under off/ (.jsonl, .csv, maybe .gz, under off/ or off/COUNTRY/)"
            );
            return Ok(OffUploadOutcome::Skipped("not an export under off/"));
        };
        let (format, gz) = OffFormat::of_name(key).expect("upload_options read the format");
        let now = Timestamp::now();
        let mut state = match (self.off_upload_state(key).await?, work) {
            (Some(s), _) if &s.etag == etag => {
                if s.status != OffUploadStatus::Loading {
                    return Ok(OffUploadOutcome::Skipped("this upload's load has ended"));
                }
                s
            }
            (_, OffUploadWork::Resume(_)) => {
                return Ok(OffUploadOutcome::Skipped("the upload was replaced since"));
            }
            (_, OffUploadWork::Uploaded { .. }) => OffUploadState {
                key: key.clone(),
                etag: etag.clone(),
                status: OffUploadStatus::Loading,
                records_done: 0,
                size: 0,
                bytes_read: 0,
                stats: OffImportStats::default(),
                runs: 0,
                failure: None,
                started_at: now,
                updated_at: now,
            },
        };
        let Some(blob) = self
            .uploads
            .open(&blob_key)
            .await
            .map_err(ServiceError::storage)?
        else {
            return Ok(OffUploadOutcome::Skipped("the upload is gone"));
        };
        state.size = blob.size;
        state.runs += 1;
        state.updated_at = now;
        self.save_off_upload_state(&state).await?;

        let read = Arc::new(AtomicU64::new(0));
        let counted = read.clone();
        let bytes = tokio_util::io::SyncIoBridge::new(blob.reader);
        let open = move || Ok(reader::records(Box::new(bytes), format, gz, counted));
        let mut loads = std::pin::pin!(self.load_off_export(open, state.records_done, opts));
        let started_from = state.records_done;
        while let Some(loaded) = loads.next().await {
            match loaded {
                Ok(chunk) => {
                    state.records_done += chunk.records;
                    state.stats.add(&chunk.stats);
                    state.bytes_read = read.load(Ordering::Relaxed);
                    state.updated_at = Timestamp::now();
                    self.save_off_upload_state(&state).await?;
                }
                Err(e) if e.is_bad_file() => {
                    state.status = OffUploadStatus::Failed;
                    state.failure = Some(e.to_string());
                    state.updated_at = Timestamp::now();
                    self.save_off_upload_state(&state).await?;
                    tracing::error!(key, error = %e, "the export cannot be loaded");
                    return Ok(OffUploadOutcome::Failed(state));
                }
                Err(OffLoadError::Write { source, .. }) => return Err(source),
                Err(e @ OffLoadError::Read { .. }) => {
                    return Err(ServiceError::Unavailable(StorageError::Unavailable(
                        e.to_string().into(),
                    )));
                }
            }
            let near_deadline = deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < OFF_HAND_OFF_MARGIN);
            if near_deadline {
                self.events
                    .run_again(
                        serde_json::to_value(OffResumeMessage {
                            resume_off_import: key.clone(),
                            etag: etag.clone(),
                        })
                        .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?,
                    )
                    .await
                    .map_err(ServiceError::storage)?;
                tracing::info!(
                    key,
                    records = state.records_done,
                    "handing the load over to the next run"
                );
                return Ok(OffUploadOutcome::Paused(state));
            }
        }
        if state.records_done == 0 && started_from == 0 {
            state.status = OffUploadStatus::Failed;
            state.failure = Some("the file holds no records".into());
        } else {
            state.status = OffUploadStatus::Completed;
        }
        state.bytes_read = state.size;
        state.updated_at = Timestamp::now();
        self.save_off_upload_state(&state).await?;
        Ok(match state.status {
            OffUploadStatus::Completed => OffUploadOutcome::Completed(state),
            _ => OffUploadOutcome::Failed(state),
        })
    }

    /// Ends the load of `key` as failed (its last delivery failed too), if it is loading.
    pub async fn abandon_off_upload(&self, key: &str, why: &str) -> ServiceResult<()> {
        let Some(mut state) = self.off_upload_state(key).await? else {
            return Ok(());
        };
        if state.status != OffUploadStatus::Loading {
            return Ok(());
        }
        state.status = OffUploadStatus::Failed;
        state.failure = Some(why.to_string());
        state.updated_at = Timestamp::now();
        self.save_off_upload_state(&state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_names_the_country() {
        let country = |k: &str| upload_options(k).map(|o| o.country);
        assert_eq!(
            country("off/products.jsonl.gz"),
            Some(Some("en:india".into()))
        );
        assert_eq!(country("off/Nepal/x.csv"), Some(Some("en:nepal".into())));
        assert_eq!(country("off/all/x.jsonl"), Some(None));
        for not_one in [
            "off/x.txt",
            "imports/s/x.csv",
            "off/a/b/x.csv",
            "off//x.csv",
            "off/",
        ] {
            assert_eq!(country(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn the_place_sits_outside_off() {
        assert_eq!(
            state_key("off/india/p.jsonl.gz").unwrap().as_str(),
            "off-state/india/p.jsonl.gz.json"
        );
    }
}
