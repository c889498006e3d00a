//! CSV import jobs: their life cycle and counters.
//!
//! Owns the job states and which moves between them are allowed; the import pipeline that moves
//! them lives elsewhere.

use serde::Serialize;

use super::{JobId, StoreId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Created; waiting for the CSV to be uploaded to its presigned URL.
    AwaitingUpload,
    /// Uploaded; an import run has been asked for.
    Queued,
    Processing,
    /// Finished; some rows may have failed (see the counters and the report).
    Completed,
    /// Stopped without importing the file (`failure_reason` says why).
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        Self::AwaitingUpload,
        Self::Queued,
        Self::Processing,
        Self::Completed,
        Self::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AwaitingUpload => "awaiting_upload",
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// Row counters, as the product brief names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct JobCounters {
    pub total_rows: u64,
    pub processed: u64,
    pub successful: u64,
    pub failed: u64,
    pub duplicates_found: u64,
}

/// Where an interrupted import got to, so a later run resumes there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct JobCheckpoint {
    /// Byte offset in the uploaded object of the first row not yet imported.
    pub byte_offset: u64,
    /// 1-based number of that row (the header is row 1).
    pub next_row: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvJob {
    pub job_id: JobId,
    pub store_id: StoreId,
    pub status: JobStatus,
    #[serde(flatten)]
    pub counters: JobCounters,
    /// The uploaded object's key.
    pub upload_key: String,
    /// The error report's key, when some rows failed.
    pub report_key: Option<String>,
    pub failure_reason: Option<String>,
    #[serde(skip)]
    pub checkpoint: Option<JobCheckpoint>,
    pub created_by: String,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

impl CsvJob {
    pub fn new(job_id: JobId, store_id: StoreId, created_by: &str, now: Timestamp) -> Self {
        let upload_key = format!("imports/{store_id}/{job_id}.csv");
        Self {
            job_id,
            store_id,
            status: JobStatus::AwaitingUpload,
            counters: JobCounters::default(),
            upload_key,
            report_key: None,
            failure_reason: None,
            checkpoint: None,
            created_by: created_by.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
            completed_at: None,
        }
    }
}
