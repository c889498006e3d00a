//! An Open Food Facts export uploaded to the uploads bucket under `off/`, loaded by the
//! `off-import` function (`aws s3 cp products.jsonl.gz s3://UPLOADS/off/india/`).
//!
//! The folder names the country to load, as OFF's country tags do without their `en:`:
//! `off/india/FILE`, `off/nepal/FILE`; `off/all/FILE` loads every country; a file right under
//! `off/` loads India's products ([`DEFAULT_COUNTRY`]).
//!
//! Each upload (its key and version, S3's ETag) is a job of kind `off_import`, kept under the
//! catalog's own store id ([`StoreId::catalog`]): `GET /v1/jobs/{job_id}` shows it to admins.
//! Its id comes from the key and version, so the notification delivered twice is one job, and
//! the key uploaded again is another. An export is larger than one run of a function can load,
//! so the job is run as a CSV import is:
//! - a run claims it with a lease (renewed with every chunk), so two runs never load it at
//!   once: a message for a job another run holds is let go (that run carries it on);
//! - after every chunk it saves the place (the records loaded, with the counts), and before
//!   the deadline it releases the job and asks for another run
//!   ([`crate::ports::Events::run_again`]), which passes over the records loaded (gzip cannot
//!   be sought; a JSONL line is found, not parsed) and goes on;
//! - a run that dies leaves its lease to lapse; its message, redelivered, goes on from the
//!   place. After the last delivery the job fails as `unavailable`, and a message redriven
//!   from the dead-letter queue resumes it.
//!
//! Nothing depends on the place for being right (the load is idempotent); it saves loading
//! again what was loaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::run::OffLoadError;
use super::{DEFAULT_COUNTRY, OffImportOptions, OffImportStats};
use crate::domain::enrichment::OFF_IMPORTER;
use crate::domain::{
    CsvJob, JOB_LEASE, JobCounters, JobId, JobKind, JobStatus, StoreId, Timestamp,
};
use crate::error_chain::ErrorChain;
use crate::off::reader::{self, OffFormat};
use crate::ports::{BlobKey, StorageError};
use crate::services::{Catalog, ServiceError, ServiceResult};

/// Where exports are uploaded to be loaded.
pub const OFF_UPLOAD_PREFIX: &str = "off/";
/// The folder that loads every country.
pub const ALL_COUNTRIES: &str = "all";
/// A run hands over this long before its deadline (a chunk takes a few seconds).
pub const OFF_HAND_OFF_MARGIN: Duration = Duration::from_secs(60);
/// The failure code of a load whose last delivery failed (storage or S3 unavailable): a
/// redriven message resumes it.
pub const UNAVAILABLE: &str = "unavailable";

/// An upload to load: its key and the version the notification named (S3's ETag; `None`
/// where a notification names none, as a local one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffUpload {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The size the notification said (with no ETag, the version is told by it).
    #[serde(default)]
    pub size: u64,
}

impl OffUpload {
    /// The job that loads this upload: the same for the same key and version.
    pub fn job_id(&self) -> JobId {
        let version = match &self.etag {
            Some(t) => t.trim_matches('"').to_string(),
            None => format!("size {}", self.size),
        };
        let name = format!("off-import {} {version}", self.key);
        JobId::from_uuid(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            name.as_bytes(),
        ))
    }
}

/// The message a load that handed over sends itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffResumeMessage {
    pub resume_off_import: OffUpload,
}

/// What a run of a load did.
#[derive(Debug, Clone, PartialEq)]
pub enum OffUploadOutcome {
    /// The job ended, `completed` or `failed` (it says why).
    Finished(Box<CsvJob>),
    /// Handed over near its deadline: another run was asked for.
    Paused(Box<CsvJob>),
    /// Nothing to do (why).
    Skipped(&'static str),
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

/// The job's counters from a load's counts: rows are records, `processed` the records loaded
/// (the place), `successful` those that made or matched a product, `failed` the invalid ones,
/// `duplicates_found` a barcode again.
fn counters(stats: &OffImportStats) -> JobCounters {
    JobCounters {
        total_rows: stats.records,
        processed: stats.records,
        successful: stats.created + stats.enriched + stats.unchanged,
        failed: stats.invalid,
        duplicates_found: stats.repeated,
    }
}

fn new_job(upload: &OffUpload, now: Timestamp) -> CsvJob {
    let mut job = CsvJob::new(upload.job_id(), StoreId::catalog(), OFF_IMPORTER, now);
    job.kind = JobKind::OffImport;
    job.status = JobStatus::Queued;
    job.upload_key = upload.key.clone();
    job.upload_bytes = upload.size;
    job.off_stats = Some(OffImportStats::default());
    job
}

/// How far `job` is: the records loaded.
fn place(job: &CsvJob) -> u64 {
    job.off_stats.as_ref().map_or(0, |s| s.records)
}

/// A load that gave up for want of storage (its last delivery failed): final, but a redriven
/// message resumes it.
fn gave_up(job: &CsvJob) -> bool {
    job.status == JobStatus::Failed && job.failure_code.as_deref() == Some(UNAVAILABLE)
}

impl Catalog {
    /// The job that loads `upload`, if one started.
    pub async fn off_upload_job(&self, upload: &OffUpload) -> ServiceResult<Option<CsvJob>> {
        self.jobs
            .get(&upload.job_id())
            .await
            .map_err(ServiceError::storage)
    }

    /// Runs the load of `upload` until the export ends or `deadline` nears (see the module's
    /// docs); `lease` is how long its claim lasts between saves (default [`JOB_LEASE`]). An
    /// error is one to try again (storage or S3 unavailable): the place saved stays.
    pub async fn load_off_upload(
        &self,
        upload: &OffUpload,
        deadline: Option<Instant>,
        lease: Option<time::Duration>,
    ) -> ServiceResult<OffUploadOutcome> {
        let lease = lease.unwrap_or(JOB_LEASE);
        let (Some(opts), Ok(blob_key)) = (upload_options(&upload.key), BlobKey::parse(&upload.key))
        else {
            tracing::warn!(
                key = upload.key,
                "not an Open Food Facts export under off/ (.jsonl, .csv, maybe .gz, under off/ or off/COUNTRY/)"
            );
            return Ok(OffUploadOutcome::Skipped("not an export under off/"));
        };
        let (format, gz) = OffFormat::of_name(&upload.key).expect("upload_options read the format");
        let now = Timestamp::now();
        let mut job = match self.off_upload_job(upload).await? {
            Some(job) => job,
            None => {
                let job = new_job(upload, now);
                match self.jobs.insert(&job).await {
                    Ok(()) => job,
                    // Made meanwhile by the same notification delivered again.
                    Err(StorageError::AlreadyExists) => {
                        return Ok(OffUploadOutcome::Skipped("another run holds the load"));
                    }
                    Err(e) => return Err(ServiceError::storage(e)),
                }
            }
        };
        if job.status.is_final() && !gave_up(&job) {
            return Ok(OffUploadOutcome::Skipped("this upload's load has ended"));
        }
        if job.leased_at(now) {
            return Ok(OffUploadOutcome::Skipped("another run holds the load"));
        }
        // Claim it.
        job.status = JobStatus::Processing;
        job.failure_code = None;
        job.failure_reason = None;
        job.completed_at = None;
        job.lease_until = Some(now.plus(lease));
        if !self.save_job(&mut job).await? {
            return Ok(OffUploadOutcome::Skipped("another run holds the load"));
        }

        let Some(blob) = self
            .uploads
            .open(&blob_key)
            .await
            .map_err(ServiceError::storage)?
        else {
            return self
                .fail_off_job(job, "upload_missing", "the upload is gone")
                .await;
        };
        // The object read must be the version the job is for: a newer upload under the key is
        // a job of its own.
        if let (Some(want), Some(have)) = (&upload.etag, &blob.etag)
            && want.trim_matches('"') != have
        {
            let why = "the upload was replaced by a newer one (loaded by a job of its own)";
            return self.fail_off_job(job, "upload_replaced", why).await;
        }
        job.upload_bytes = blob.size;

        let read = Arc::new(AtomicU64::new(0));
        let counted = read.clone();
        let bytes = tokio_util::io::SyncIoBridge::new(blob.reader);
        let open = move || Ok(reader::records(Box::new(bytes), format, gz, counted));
        let mut stats = job.off_stats.clone().unwrap_or_default();
        let started_from = place(&job);
        let mut loads = std::pin::pin!(self.load_off_export(open, started_from, opts));
        while let Some(loaded) = loads.next().await {
            let chunk = match loaded {
                Ok(chunk) => chunk,
                Err(e) if e.is_bad_file() => {
                    tracing::error!(key = upload.key, error = %e, "the export cannot be loaded");
                    return self
                        .fail_off_job(job, "not_an_export", &e.to_string())
                        .await;
                }
                Err(OffLoadError::Write { source, .. }) => return Err(source),
                Err(e @ OffLoadError::Read { .. }) => {
                    return Err(ServiceError::Unavailable(StorageError::Unavailable(
                        e.to_string().into(),
                    )));
                }
            };
            stats.add(&chunk.stats);
            job.counters = counters(&stats);
            job.off_stats = Some(stats.clone());
            job.bytes_read = read.load(Ordering::Relaxed).min(job.upload_bytes);
            let near_deadline = deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < OFF_HAND_OFF_MARGIN);
            job.lease_until = (!near_deadline).then(|| Timestamp::now().plus(lease));
            if !self.save_job(&mut job).await? {
                return Ok(OffUploadOutcome::Skipped("another run took the load over"));
            }
            if near_deadline {
                let message = OffResumeMessage {
                    resume_off_import: upload.clone(),
                };
                let message = serde_json::to_value(message)
                    .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
                self.events
                    .run_again(message)
                    .await
                    .map_err(ServiceError::storage)?;
                tracing::info!(key = upload.key, job = %job.job_id, records = place(&job), "handing the load over to the next run");
                return Ok(OffUploadOutcome::Paused(Box::new(job)));
            }
        }
        if place(&job) == 0 {
            return self
                .fail_off_job(job, "no_records", "the file holds no records")
                .await;
        }
        job.status = JobStatus::Completed;
        job.bytes_read = job.upload_bytes;
        self.close_off_job(job).await
    }

    /// Ends the load of `upload` as failed for want of storage (its last delivery failed too),
    /// if it is still going: a redriven message resumes it.
    pub async fn abandon_off_upload(&self, upload: &OffUpload, why: &str) -> ServiceResult<()> {
        let Some(job) = self.off_upload_job(upload).await? else {
            return Ok(());
        };
        if job.status.is_final() {
            return Ok(());
        }
        self.fail_off_job(job, UNAVAILABLE, why).await.map(|_| ())
    }

    async fn fail_off_job(
        &self,
        mut job: CsvJob,
        code: &str,
        why: &str,
    ) -> ServiceResult<OffUploadOutcome> {
        job.status = JobStatus::Failed;
        job.failure_code = Some(code.to_string());
        job.failure_reason = Some(why.to_string());
        self.close_off_job(job).await
    }

    /// Saves `job` final and released, and announces it (`job.completed`); its rows go to the
    /// metrics unless a redriven message may resume it.
    async fn close_off_job(&self, mut job: CsvJob) -> ServiceResult<OffUploadOutcome> {
        job.lease_until = None;
        job.completed_at = Some(Timestamp::now());
        if !self.save_job(&mut job).await? {
            return Ok(OffUploadOutcome::Skipped("another run took the load over"));
        }
        let told = if gave_up(&job) {
            // A redriven message resumes it: its rows are counted when it ends for good.
            self.events.completed(&job).await
        } else {
            self.job_ended(&job).await
        };
        if let Err(e) = told {
            tracing::warn!(job = %job.job_id, error = %ErrorChain(&e), "job.completed not announced");
        }
        Ok(OffUploadOutcome::Finished(Box::new(job)))
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
    fn an_upload_is_one_job_per_version() {
        let upload = |etag: Option<&str>, size| OffUpload {
            key: "off/india/p.jsonl.gz".into(),
            etag: etag.map(str::to_string),
            size,
        };
        let a = upload(Some("abc"), 10);
        assert_eq!(
            a.job_id(),
            upload(Some("\"abc\""), 99).job_id(),
            "S3 quotes ETags in places"
        );
        assert_ne!(a.job_id(), upload(Some("abd"), 10).job_id());
        assert_eq!(upload(None, 10).job_id(), upload(None, 10).job_id());
        assert_ne!(upload(None, 10).job_id(), upload(None, 11).job_id());
    }
}
