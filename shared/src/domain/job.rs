//! CSV import jobs: their life cycle and counters.
//!
//! Owns the job states and which moves between them are allowed; the import pipeline that moves
//! them lives elsewhere.

use serde::Serialize;

use super::{JobId, StoreId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct JobCounters {
    pub total_rows: u64,
    pub processed: u64,
    pub successful: u64,
    pub failed: u64,
    pub duplicates_found: u64,
}

/// Where an interrupted import got to, so a later run resumes there: every row before
/// `next_row` is written, and the run's state (rows seen, errors so far) is saved with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct JobCheckpoint {
    /// 1-based number of the first row not yet imported (the header is row 1).
    pub next_row: u64,
    /// How much of the uploaded file had been read there.
    pub bytes_read: u64,
    /// The counters at that point.
    #[serde(skip)]
    pub counters: JobCounters,
}

/// What a load of an Open Food Facts export did, record by record (`services::off_import`).
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct OffImportStats {
    pub records: u64,
    /// Not sold in the chosen country.
    pub other_country: u64,
    /// No valid GTIN, no usable name, or a line that is not a record.
    pub invalid: u64,
    /// The same barcode again within a chunk (the first one counts).
    pub repeated: u64,
    pub created: u64,
    /// Existing products filled (or marked found) from their record.
    pub enriched: u64,
    /// Existing products the record had nothing to add to.
    pub unchanged: u64,
    /// Write capacity units, where storage reports them.
    pub write_units: f64,
}

impl OffImportStats {
    pub fn add(&mut self, o: &OffImportStats) {
        self.records += o.records;
        self.other_country += o.other_country;
        self.invalid += o.invalid;
        self.repeated += o.repeated;
        self.created += o.created;
        self.enriched += o.enriched;
        self.unchanged += o.unchanged;
        self.write_units += o.write_units;
    }
}

/// A column the import reads, and the header cell it reads it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ColumnUse {
    /// `name`, `quantity`, `selling_price`, `barcode`, `size`, ...
    pub column: String,
    /// The header cell as the file wrote it.
    pub header: String,
}

/// How long a run holds a job without a word: a run renews it with every progress save (every
/// few seconds), so it lapses soon after the run dies, and well before the import queue
/// redelivers the dead run's message (16 minutes), which then finds the job free.
pub const JOB_LEASE: time::Duration = time::Duration::minutes(3);

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Reads an uploaded stock list into the store's inventory.
    #[default]
    Import,
    /// Writes the store's inventory as a CSV to download.
    Export,
    /// Loads an Open Food Facts export into the catalog (the catalog's own job, kept under
    /// [`StoreId::catalog`]).
    OffImport,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
            Self::OffImport => "off_import",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Import, Self::Export, Self::OffImport]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CsvJob {
    pub job_id: JobId,
    pub store_id: StoreId,
    pub kind: JobKind,
    pub status: JobStatus,
    #[serde(flatten)]
    pub counters: JobCounters,
    /// The uploaded object's key.
    pub upload_key: String,
    /// The size the uploader declared (the presigned URL only accepts exactly this many bytes).
    pub upload_bytes: u64,
    /// How much of the upload has been read (progress = `bytes_read / upload_bytes`).
    pub bytes_read: u64,
    /// The error report's key, when some rows failed.
    pub report_key: Option<String>,
    pub failure_reason: Option<String>,
    /// A stable code for the failure (`no_name_column`, `empty_file`, `not_text`, `no_rows`, ...).
    pub failure_code: Option<String>,
    /// Which header the import read as which column (empty until the file is opened).
    pub columns: Vec<ColumnUse>,
    /// What the first rows decided that the header alone could not ("'quantity' holds pack
    /// sizes (like '1 kg'): read as the size").
    pub column_notes: Vec<String>,
    /// An export's file, when it is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_key: Option<String>,
    /// An Open Food Facts load's counts, record by record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_stats: Option<OffImportStats>,
    #[serde(skip)]
    pub checkpoint: Option<JobCheckpoint>,
    /// A run is working on the job until then (see [`JOB_LEASE`]).
    #[serde(skip)]
    pub lease_until: Option<Timestamp>,
    pub created_by: String,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

impl CsvJob {
    pub fn new(job_id: JobId, store_id: StoreId, created_by: &str, now: Timestamp) -> Self {
        let upload_key = upload_key(&store_id, &job_id);
        Self {
            job_id,
            store_id,
            kind: JobKind::Import,
            status: JobStatus::AwaitingUpload,
            counters: JobCounters::default(),
            upload_key,
            upload_bytes: 0,
            bytes_read: 0,
            report_key: None,
            failure_reason: None,
            failure_code: None,
            columns: Vec::new(),
            column_notes: Vec::new(),
            export_key: None,
            off_stats: None,
            checkpoint: None,
            lease_until: None,
            created_by: created_by.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
            completed_at: None,
        }
    }

    /// Share of the upload read so far, 0 to 1; only a final job is at 1 (the last rows of a
    /// file that has been read are still being written).
    pub fn progress(&self) -> f64 {
        if self.status.is_final() {
            1.0
        } else if self.upload_bytes == 0 {
            0.0
        } else {
            (self.bytes_read as f64 / self.upload_bytes as f64).min(0.99)
        }
    }

    /// Whether a run holds the job at `now`.
    pub fn leased_at(&self, now: Timestamp) -> bool {
        self.lease_until.is_some_and(|t| t > now)
    }
}

/// Where a job's CSV is uploaded: `imports/{store_id}/{job_id}.csv` (the import trigger reads
/// the store and job back from it).
pub fn upload_key(store: &StoreId, job: &JobId) -> String {
    format!("imports/{store}/{job}.csv")
}

/// Where an export's CSV is written: `exports/{store_id}/{job_id}.csv`.
pub fn export_key(store: &StoreId, job: &JobId) -> String {
    format!("exports/{store}/{job}.csv")
}

/// The store and job an upload key names, if it is one.
pub fn parse_upload_key(key: &str) -> Option<(StoreId, JobId)> {
    let rest = key.strip_prefix("imports/")?.strip_suffix(".csv")?;
    let (store, job) = rest.split_once('/')?;
    Some((StoreId::parse(store).ok()?, JobId::parse(job).ok()?))
}

/// Where a job's error report goes.
pub fn report_key(store: &StoreId, job: &JobId) -> String {
    format!("reports/{store}/{job}.csv")
}

/// Where an interrupted run saves its state (outside `imports/`, so saving it does not
/// trigger an import).
pub fn state_key(store: &StoreId, job: &JobId) -> String {
    format!("import-state/{store}/{job}.bin")
}

/// The body of the message a paused import sends itself (on the queue its uploads' notices
/// arrive on), so that the next run resumes the job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumeMessage {
    pub resume_job: JobId,
    pub store_id: StoreId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_round_trip_and_nothing_else_parses() {
        let store = StoreId::parse("store-1").unwrap();
        let job = JobId::parse("0190f1a2-8000-7000-8000-000000000001").unwrap();
        assert_eq!(
            parse_upload_key(&upload_key(&store, &job)),
            Some((store.clone(), job))
        );
        for bad in [
            "imports/store-1/not-a-job.csv",
            "imports/store-1/0190f1a2-8000-7000-8000-000000000001.txt",
            "reports/store-1/0190f1a2-8000-7000-8000-000000000001.csv",
            "imports/0190f1a2-8000-7000-8000-000000000001.csv",
            "imports/a/b/0190f1a2-8000-7000-8000-000000000001.csv",
        ] {
            assert_eq!(parse_upload_key(bad), None, "{bad}");
        }
    }
}
