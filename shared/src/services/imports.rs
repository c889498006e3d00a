//! Bulk CSV imports as a service: creating a job with its presigned upload URL, and running the
//! import when the upload lands.
//!
//! A run streams the uploaded object (memory stays flat whatever its size) through the reader
//! and the planner on a blocking thread, and writes each chunk of rows as it comes: new pending
//! products first (each with its barcode guard), then the inventory items in batches (read the
//! items the store already has, apply the rows, write them back; the set of products a store
//! has is read once per run, so a first import into a new store reads no items at all). An
//! item another writer creates while the import runs is replaced by the import's row, as a
//! stock list states the stock. Every step is idempotent, so a run that is repeated, or
//! resumed after a crash, leaves the same end state:
//! - a job already `completed` or `failed` is left alone; one another run holds (its lease,
//!   renewed with every progress save) is [`RunOutcome::Busy`]: asked for again later, so the
//!   work of a run that died falls to the next delivery once its lease lapses;
//! - products the import creates have ids derived from the job and row, so a repeat makes the
//!   same products, and a barcode another product already has links to that product;
//! - inventory rows set the values the file states (a stock list), so writing them twice is
//!   writing them once.
//!
//! A run saves a checkpoint (the next row, the counters and its state) every
//! [`CHECKPOINT_ROWS`] rows, and when it nears its deadline it saves one, releases the job and
//! asks for another run ([`Events::resume_later`]), which starts from the checkpoint.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{Catalog, ServiceError, ServiceResult};
use crate::auth::{Principal, Role};
use crate::domain::{
    AdjustmentReason, ColumnUse, CsvJob, FieldErrors, InventoryItem, JOB_LEASE, JobCheckpoint,
    JobCounters, JobId, JobKind, JobStatus, Movement, MovementFacts, MovementKind, MovementOrigin,
    Product, ProductId, ProductSummary, StockChange, StoreId, Timestamp, VerificationStatus,
    parse_upload_key, report_key, state_key,
};
use crate::error_chain::ErrorChain;
use crate::import::plan::{Plan, Planner, RowPlan};
use crate::import::reader::Column;
use crate::import::reader::{CsvFile, FileError, RecordError, RowError};
use crate::import::report::{ReportRow, write_report};
use crate::import::state::ImportState;
use crate::ports::{
    BlobKey, Expect, MAX_BULK_READ, PresignedRequest, STOCK_WRITE_ATTEMPTS, StockWrite,
    StorageError,
};

/// Largest CSV an import takes (bound into the presigned upload URL).
pub const MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// How long an upload URL works.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a report link works.
pub const REPORT_URL_TTL: Duration = Duration::from_secs(60 * 60);
/// Content types an upload may declare (spreadsheet programs disagree on what a CSV is).
pub const UPLOAD_CONTENT_TYPES: [&str; 4] = [
    "text/csv",
    "application/vnd.ms-excel",
    "text/plain",
    "application/csv",
];
/// Rows planned and written together.
pub const CHUNK_ROWS: usize = 500;
/// Rows between saved checkpoints.
pub const CHECKPOINT_ROWS: u64 = 25_000;
/// Least time between progress updates of the job record.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(3);
/// A run stops this long before its deadline, to save its checkpoint and hand over.
pub const HAND_OFF_MARGIN: Duration = Duration::from_secs(60);

/// What an owner asks for to start an import.
#[derive(Debug, Clone)]
pub struct NewImport {
    /// The exact size of the file they will upload.
    pub content_length: u64,
    pub content_type: String,
}

/// A job as its owner sees it: the record, its progress and, when rows were rejected, a link to
/// the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    #[serde(flatten)]
    pub job: CsvJob,
    pub progress: f64,
    pub report_url: Option<String>,
    /// An export's file (UTF-8 CSV), for an hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedImport {
    #[serde(flatten)]
    pub job: JobView,
    /// Send the file with exactly this method, URL and headers.
    pub upload: PresignedRequest,
}

/// How to run an import.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop and hand over before this (the Lambda deadline); `None` runs to the end.
    pub deadline: Option<Instant>,
    /// Told (rows so far, bytes read of the file's size) after every chunk.
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
    /// How long the run's claim on the job lasts between progress saves (default
    /// [`JOB_LEASE`]): another run may take the job over once it lapses. The embedded server
    /// uses a short one, so its sweep resumes a job soon after a crash.
    pub lease: Option<time::Duration>,
}

impl RunOptions {
    fn lease(&self) -> time::Duration {
        self.lease.unwrap_or(JOB_LEASE)
    }
}

/// Most jobs one sweep for stalled imports looks at.
const SWEEP_JOBS: usize = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub rows: u64,
    pub bytes_read: u64,
    pub bytes_total: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// The job is final (`completed` or `failed`).
    Finished(CsvJob),
    /// Saved at a checkpoint; another run was asked for.
    Paused(CsvJob),
    /// Nothing to do (why).
    Skipped(&'static str),
    /// Another run holds the job (alive, or dead with its lease not yet lapsed): ask again
    /// later, since a dead run's work falls to whoever asks after its lease.
    Busy,
}

/// Figures of one run (logged, and printed by `catalog import`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RunStats {
    pub rows: u64,
    pub write_units: f64,
    pub write_requests: usize,
    pub products_created: u64,
    /// Items read before a row was applied to them (only items the store already had).
    pub items_read: u64,
    /// Catalog products read for the summary a new item keeps.
    pub products_read: u64,
}

impl RunStats {
    fn add(&mut self, o: &RunStats) {
        self.rows += o.rows;
        self.items_read += o.items_read;
        self.products_read += o.products_read;
        self.write_units += o.write_units;
        self.write_requests += o.write_requests;
        self.products_created += o.products_created;
    }
}

/// Whose rows a chunk writes: the store, and the job and its creator the movements name.
struct ChunkOrigin {
    store_id: StoreId,
    job_id: JobId,
    actor: String,
}

impl ChunkOrigin {
    /// Who the products a chunk creates are created by: the job's creator, through an import.
    fn importer(&self) -> crate::domain::Actor {
        crate::domain::Actor {
            sub: self.actor.clone(),
            role: "import".to_string(),
            request_id: None,
        }
    }

    /// The write of `row` to the item of `product` as it was read (`None`: not stocked): the
    /// row's values over the item's, the next version, and an `import` movement when the
    /// quantity changes (or the item is new).
    fn write(
        &self,
        product: ProductId,
        row: &RowPlan,
        old: Option<&InventoryItem>,
        summary: Option<ProductSummary>,
        now: Timestamp,
    ) -> StockWrite {
        let details = row.values.apply(old.map(|i| &i.details));
        let (version, stocked_since) = old.map_or((1, now), |i| (i.version + 1, i.stocked_since));
        let before = old.map(|i| i.details.quantity);
        let movement = (before != Some(details.quantity)).then(|| {
            let origin = MovementOrigin::new(MovementKind::Import, &self.actor)
                .reason(AdjustmentReason::Import)
                .source(format!("job:{}#row:{}", self.job_id, row.row));
            let facts = MovementFacts {
                position_version: version,
                change: StockChange::Set(details.quantity),
                before,
                after: details.quantity,
                reorder_level: details.reorder_level,
            };
            Movement::record(&self.store_id, &product, stocked_since, facts, &origin, now)
        });
        StockWrite {
            item: InventoryItem::new(
                self.store_id.clone(),
                product,
                details,
                version,
                now,
                stocked_since,
            )
            .with_product(summary),
            expect: old.map_or(Expect::Absent, |i| Expect::Version(i.version)),
            movement,
        }
    }
}

/// Chunks being written at once (a chunk's requests wait on each other's round trips; with
/// three, the server always has the next requests queued).
pub const WRITE_PIPELINE: usize = 3;
/// A store with more items than this has each row's item read (not a set of what it has).
const MAX_STOCKED_SET: usize = 100_000;

/// The products the store has items for (read at the start of each run; `None`: too many to
/// hold, read every row's item). A row's item is read only when it is in here; one this run
/// makes twice (a product a retargeted row went to) joins it.
type Stocked = Arc<Mutex<Option<std::collections::HashSet<ProductId>>>>;

/// What the reading thread sends the writer.
enum Msg {
    Opened {
        headers: Vec<String>,
        columns: Vec<ColumnUse>,
        notes: Vec<String>,
    },
    Chunk(Chunk),
    /// The end of the file.
    End,
    Failed(FileError),
}

#[derive(Default)]
struct Chunk {
    writes: Vec<RowPlan>,
    rows: u64,
    rejected: u64,
    duplicates: u64,
    /// The row after the last one in the chunk.
    next_row: u64,
    bytes_read: u64,
}

/// Counts the bytes read through it (for progress).
struct Counting<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn key(s: String) -> ServiceResult<BlobKey> {
    BlobKey::parse(&s).map_err(|e| ServiceError::Internal(StorageError::backend(e)))
}

impl Catalog {
    /// Creates a job waiting for its upload, and the URL to upload to.
    pub async fn create_import(
        &self,
        who: &Principal,
        store: &StoreId,
        req: NewImport,
    ) -> ServiceResult<CreatedImport> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        let mut errors = FieldErrors::new();
        if req.content_length == 0 {
            errors.add(
                "content_length",
                "empty_file",
                "the file is empty; export the stock list with its rows",
            );
        } else if req.content_length > MAX_UPLOAD_BYTES {
            errors.add(
                "content_length",
                "file_too_large",
                format!("the file is {} bytes; an import takes at most {MAX_UPLOAD_BYTES} bytes (100 MiB): split it", req.content_length),
            );
        }
        if !UPLOAD_CONTENT_TYPES.contains(&req.content_type.as_str()) {
            errors.add(
                "content_type",
                "unsupported_type",
                format!(
                    "content_type must be one of {}; save the sheet as CSV",
                    UPLOAD_CONTENT_TYPES.join(", ")
                ),
            );
        }
        errors.finish(|| ())?;
        let mut job = CsvJob::new(JobId::new(), store.clone(), &who.sub, Timestamp::now());
        job.upload_bytes = req.content_length;
        let upload = self
            .uploads
            .presign_put(
                &key(job.upload_key.clone())?,
                &req.content_type,
                req.content_length,
                UPLOAD_URL_TTL,
            )
            .await
            .map_err(ServiceError::storage)?;
        self.jobs
            .insert(&job)
            .await
            .map_err(ServiceError::storage)?;
        Ok(CreatedImport {
            job: JobView {
                progress: job.progress(),
                job,
                report_url: None,
                download_url: None,
            },
            upload,
        })
    }

    /// A link to download the uploads bucket's `key` (a report, an export), for an hour.
    async fn download_url(&self, k: Option<&str>) -> ServiceResult<Option<String>> {
        let Some(k) = k else { return Ok(None) };
        let presigned = self
            .uploads
            .presign_get(&key(k.to_string())?, REPORT_URL_TTL)
            .await
            .map_err(ServiceError::storage)?;
        Ok(Some(presigned.url))
    }

    /// A job with its progress and its report and export links.
    pub async fn job_view(&self, job: CsvJob) -> ServiceResult<JobView> {
        let report_url = self.download_url(job.report_key.as_deref()).await?;
        let download_url = self.download_url(job.export_key.as_deref()).await?;
        Ok(JobView {
            progress: job.progress(),
            job,
            report_url,
            download_url,
        })
    }

    /// Runs the import an upload to `key` asks for (the S3 notification's object key, decoded).
    /// Keys that are not import uploads are skipped.
    pub async fn import_uploaded(
        &self,
        key: &str,
        opts: &RunOptions,
    ) -> ServiceResult<(RunOutcome, RunStats)> {
        match parse_upload_key(key) {
            Some((store, job)) => self.run_import(&store, &job, opts).await,
            None => Ok((
                RunOutcome::Skipped("not an import upload key"),
                RunStats::default(),
            )),
        }
    }

    /// Resumes the imports a crash left behind (the embedded server's sweep; in AWS the queue
    /// redelivers): each job not final whose claim has lapsed and whose upload is there runs
    /// from its checkpoint, one after another. Returns the jobs that ran to an end.
    pub async fn resume_stalled_imports(&self, opts: &RunOptions) -> ServiceResult<Vec<JobId>> {
        let jobs = self
            .jobs
            .unfinished(SWEEP_JOBS)
            .await
            .map_err(ServiceError::storage)?;
        let now = Timestamp::now();
        // An upload URL lives UPLOAD_URL_TTL: a job still waiting past it never gets its file.
        let upload_window =
            time::Duration::try_from(UPLOAD_URL_TTL).unwrap_or(time::Duration::ZERO);
        let mut done = Vec::new();
        for job in jobs {
            let waiting_in_vain = job.status == JobStatus::AwaitingUpload
                && job
                    .created_at
                    .plus(upload_window + time::Duration::minutes(1))
                    < now;
            if job.kind != JobKind::Import || job.leased_at(now) || waiting_in_vain {
                continue;
            }
            match self.resume_if_uploaded(&job, opts).await {
                Ok(Some(id)) => done.push(id),
                Ok(None) => {}
                // One job's trouble does not stop the others.
                Err(e) => {
                    tracing::warn!(job = %job.job_id, error = %ErrorChain(&e), "a stalled import did not resume")
                }
            }
        }
        Ok(done)
    }

    /// Runs `job` from its checkpoint if its upload is there (a job still waiting for its
    /// file is not stalled). Returns its id when the run finished it.
    async fn resume_if_uploaded(
        &self,
        job: &CsvJob,
        opts: &RunOptions,
    ) -> ServiceResult<Option<JobId>> {
        let uploaded = self
            .uploads
            .open(&key(job.upload_key.clone())?)
            .await
            .map_err(ServiceError::storage)?
            .is_some();
        if !uploaded {
            return Ok(None);
        }
        tracing::info!(job = %job.job_id, status = job.status.as_str(), "resuming a stalled import");
        match self.run_import(&job.store_id, &job.job_id, opts).await? {
            (RunOutcome::Finished(j), _) => Ok(Some(j.job_id)),
            _ => Ok(None),
        }
    }

    /// Gives up on job `id` of `store` when its last delivery has failed too: a job not yet
    /// final is marked `failed` (`import_unavailable`) and announced, so its owner is told to
    /// upload again instead of waiting on a job nothing will run.
    pub async fn abandon_import(&self, store: &StoreId, id: &JobId) -> ServiceResult<()> {
        let Some(job) = self.jobs.get(id).await.map_err(ServiceError::storage)? else {
            return Ok(());
        };
        if &job.store_id != store || job.status.is_final() {
            return Ok(());
        }
        let reason = "the import could not run (the service was unavailable through every retry); upload the file again";
        self.fail(job, "import_unavailable", reason).await?;
        Ok(())
    }

    /// Runs (or resumes) job `id` of `store` until it is final or `deadline` nears.
    pub async fn run_import(
        &self,
        store: &StoreId,
        id: &JobId,
        opts: &RunOptions,
    ) -> ServiceResult<(RunOutcome, RunStats)> {
        let deadline = opts.deadline;
        let mut stats = RunStats::default();
        let Some(mut job) = self.jobs.get(id).await.map_err(ServiceError::storage)? else {
            return Ok((RunOutcome::Skipped("no such job"), stats));
        };
        if &job.store_id != store {
            return Ok((
                RunOutcome::Skipped("the upload key names another store"),
                stats,
            ));
        }
        if job.status.is_final() {
            return Ok((RunOutcome::Skipped("the job is already final"), stats));
        }
        if job.kind != JobKind::Import {
            return Ok((RunOutcome::Skipped("not an import job"), stats));
        }
        let now = Timestamp::now();
        if job.leased_at(now) {
            return Ok((RunOutcome::Busy, stats));
        }
        // The index first: without one (none published yet) the job is left as it was.
        let (index, _) = self.match_index().await?;
        // Claim it.
        job.status = JobStatus::Processing;
        job.lease_until = Some(now.plus(opts.lease()));
        if !self.save_job(&mut job).await? {
            return Ok((RunOutcome::Busy, stats));
        }

        let state_blob = key(state_key(&job.store_id, &job.job_id))?;
        let (state, mut counters, next_row) = match job.checkpoint {
            Some(c) => match self
                .uploads
                .get(&state_blob)
                .await
                .map_err(ServiceError::storage)?
                .and_then(|b| ImportState::from_bytes(&b.bytes))
            {
                Some(s) => (
                    s.with_room_for_file(job.upload_bytes),
                    c.counters,
                    c.next_row,
                ),
                None => {
                    tracing::warn!(job = %job.job_id, "checkpoint state missing; starting the file again");
                    (
                        ImportState::for_file(job.upload_bytes),
                        JobCounters::default(),
                        0,
                    )
                }
            },
            None => (
                ImportState::for_file(job.upload_bytes),
                JobCounters::default(),
                0,
            ),
        };
        let Some(blob) = self
            .uploads
            .open(&key(job.upload_key.clone())?)
            .await
            .map_err(ServiceError::storage)?
        else {
            return self
                .fail(
                    job,
                    "upload_missing",
                    "the uploaded file is not there (it may have expired); upload it again",
                )
                .await
                .map(|o| (o, stats));
        };
        if blob.size > MAX_UPLOAD_BYTES {
            let reason = format!(
                "the file is {} bytes; an import takes at most {MAX_UPLOAD_BYTES}",
                blob.size
            );
            return self
                .fail(job, "file_too_large", &reason)
                .await
                .map(|o| (o, stats));
        }
        if job.upload_bytes == 0 {
            job.upload_bytes = blob.size;
        }
        let state = Arc::new(Mutex::new(state));
        let stocked: Stocked = Arc::new(Mutex::new(
            self.inventory
                .stocked_products(&job.store_id, MAX_STOCKED_SET)
                .await
                .map_err(ServiceError::storage)?,
        ));

        // The reading thread: bytes -> records -> plans, a chunk at a time.
        let (tx, mut rx) = mpsc::channel::<Msg>(2);
        let reader = tokio_util::io::SyncIoBridge::new(blob.reader);
        let read_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let planner_job = job.clone();
        let planner_state = state.clone();
        let counted = read_bytes.clone();
        let reading = tokio::task::spawn_blocking(move || {
            let file = match CsvFile::open(Counting {
                inner: reader,
                read: counted.clone(),
            }) {
                Ok(f) => f,
                Err(e) => return drop(tx.blocking_send(Msg::Failed(e))),
            };
            let header = file.header().clone();
            let columns = header
                .columns()
                .map(|(column, i)| ColumnUse {
                    column: column.as_str().to_string(),
                    header: header.headers()[i].clone(),
                })
                .collect();
            if tx
                .blocking_send(Msg::Opened {
                    headers: file.headers_raw().to_vec(),
                    columns,
                    notes: header.settled.clone(),
                })
                .is_err()
            {
                return;
            }
            let planner = Planner {
                index: &index,
                job: &planner_job,
                now: Timestamp::now(),
            };
            let mut chunk = Chunk::default();
            for item in file {
                let (row, planned) = match item {
                    Ok(rec) if rec.row < next_row => continue,
                    Ok(rec) => match header.validate(&rec) {
                        Ok(valid) => {
                            let plan = planner.plan(valid, &mut lock(&planner_state));
                            (rec.row, Ok((plan, rec)))
                        }
                        Err(errors) => (rec.row, Err(ReportRow::new(&rec, errors))),
                    },
                    Err(RecordError::Row(e)) if e.row < next_row => continue,
                    Err(RecordError::Row(e)) => (e.row, Err(ReportRow::unreadable(e))),
                    Err(RecordError::File(e)) => return drop(tx.blocking_send(Msg::Failed(e))),
                };
                chunk.rows += 1;
                chunk.next_row = row + 1;
                match planned {
                    Ok((Plan::Write(p), _)) => chunk.writes.push(p),
                    Ok((Plan::Duplicate { row, first_row }, rec)) => {
                        chunk.duplicates += 1;
                        let note = RowError {
                            row,
                            column: None,
                            code: "duplicate_row".into(),
                            message: format!(
                                "same product as row {first_row}; this row was not applied (row {first_row}'s values stand)"
                            ),
                        };
                        lock(&planner_state).reject(ReportRow::new(&rec, vec![note]));
                    }
                    Err(report) => {
                        chunk.rejected += 1;
                        lock(&planner_state).reject(report);
                    }
                }
                if chunk.rows as usize >= CHUNK_ROWS {
                    chunk.bytes_read = counted.load(std::sync::atomic::Ordering::Relaxed);
                    if tx
                        .blocking_send(Msg::Chunk(std::mem::take(&mut chunk)))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            chunk.bytes_read = counted.load(std::sync::atomic::Ordering::Relaxed);
            if chunk.rows > 0 && tx.blocking_send(Msg::Chunk(chunk)).is_err() {
                return;
            }
            let _ = tx.blocking_send(Msg::End);
        });

        // The writer: this task.
        let mut headers = Vec::new();
        let mut last_progress = Instant::now();
        let mut since_checkpoint = 0u64;
        // Up to WRITE_PIPELINE chunks are written at once; they are settled (counted,
        // checkpointed) in file order, so a checkpoint never gets ahead of an unwritten row.
        let chunk_origin = ChunkOrigin {
            store_id: job.store_id.clone(),
            job_id: job.job_id,
            actor: job.created_by.clone(),
        };
        let mut inflight = futures::stream::FuturesOrdered::new();
        let mut ended: Option<Result<(), FileError>> = None;
        let outcome = loop {
            let room = ended.is_none() && inflight.len() < WRITE_PIPELINE;
            // Writes progress while the next chunk is awaited (both are polled here).
            let settled = tokio::select! {
                biased;
                settled = inflight.next(), if !inflight.is_empty() => settled,
                msg = rx.recv(), if room => {
                    match msg {
                        Some(Msg::Opened { headers: h, columns, notes }) => {
                            headers = h;
                            // Saved with the job's next progress.
                            job.columns = columns;
                            job.column_notes = notes;
                        }
                        Some(Msg::Chunk(mut chunk)) => {
                            let writes = std::mem::take(&mut chunk.writes);
                            let write = self.write_chunk(
                                &chunk_origin,
                                writes,
                                state.clone(),
                                stocked.clone(),
                            );
                            inflight.push_back(async move { (write.await, chunk) });
                        }
                        Some(Msg::End) => ended = Some(Ok(())),
                        Some(Msg::Failed(e)) => ended = Some(Err(e)),
                        // The reading thread ended without a word: it panicked.
                        None => {
                            let message = "the import stopped unexpectedly; upload the file again".into();
                            ended = Some(Err(FileError { code: "internal", message }));
                        }
                    }
                    continue;
                }
                else => None,
            };
            let Some((written, chunk)) = settled else {
                break match ended.take() {
                    Some(Err(e)) => self.fail(job, e.code, &e.message).await?,
                    _ => {
                        self.finish(job, counters, &headers, &state, &state_blob)
                            .await?
                    }
                };
            };
            let (written, chunk_stats) = written?;
            stats.add(&chunk_stats);
            counters.processed += chunk.rows;
            counters.total_rows = counters.processed;
            counters.failed += chunk.rejected + written.unknown;
            counters.duplicates_found += chunk.duplicates + written.merged;
            counters.successful += written.written;
            stats.rows += chunk.rows;
            since_checkpoint += chunk.rows;
            job.counters = counters;
            job.bytes_read = chunk.bytes_read;
            if let Some(p) = &opts.progress {
                p.send_replace(Progress {
                    rows: counters.processed,
                    bytes_read: chunk.bytes_read,
                    bytes_total: job.upload_bytes,
                });
            }
            let near_deadline = deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < HAND_OFF_MARGIN);
            if near_deadline || since_checkpoint >= CHECKPOINT_ROWS {
                since_checkpoint = 0;
                let bytes = lock(&state).to_bytes(chunk.next_row);
                self.uploads
                    .put(&state_blob, Bytes::from(bytes), "application/octet-stream")
                    .await
                    .map_err(ServiceError::storage)?;
                job.checkpoint = Some(JobCheckpoint {
                    next_row: chunk.next_row,
                    bytes_read: chunk.bytes_read,
                    counters,
                });
            }
            if near_deadline {
                // Chunks still being written are after the checkpoint: the next run redoes them.
                job.lease_until = None;
                if !self.save_job(&mut job).await? {
                    break RunOutcome::Skipped("another run took the job over");
                }
                self.events
                    .resume_later(&job)
                    .await
                    .map_err(ServiceError::storage)?;
                break RunOutcome::Paused(job);
            }
            if last_progress.elapsed() >= PROGRESS_EVERY
                || job.checkpoint.is_some_and(|c| c.next_row == chunk.next_row)
            {
                last_progress = Instant::now();
                job.lease_until = Some(Timestamp::now().plus(opts.lease()));
                if !self.save_job(&mut job).await? {
                    break RunOutcome::Skipped("another run took the job over");
                }
            }
        };
        drop(inflight);
        drop(rx);
        // The reading thread stops at its next send once the receiver is gone.
        let _ = reading.await;
        Ok((outcome, stats))
    }

    /// Writes one chunk: new products, then the inventory items with their movements.
    async fn write_chunk(
        &self,
        origin: &ChunkOrigin,
        plans: Vec<RowPlan>,
        state: Arc<Mutex<ImportState>>,
        stocked: Stocked,
    ) -> ServiceResult<(Written, RunStats)> {
        let store_id = &origin.store_id;
        let mut stats = RunStats::default();
        let state = state.as_ref();
        // New pending products (each with a barcode with its guard).
        let creates: Vec<Product> = plans
            .iter()
            .filter_map(|p| p.create.as_deref().cloned())
            .collect();
        if !creates.is_empty() {
            let done = self
                .products
                .insert_new(&creates, &origin.importer())
                .await
                .map_err(ServiceError::storage)?;
            stats.write_units += done.write_units.unwrap_or(0.0);
            let mut made = Vec::new();
            for (p, r) in creates.iter().zip(done.results) {
                match r {
                    Ok(true) => {
                        stats.products_created += 1;
                        made.push(p);
                    }
                    // Made by an earlier run of these rows.
                    Ok(false) => {}
                    // The catalog has the barcode (since the index was built): that product it is,
                    // or, when that one was merged, the product it became.
                    Err(StorageError::BarcodeTaken { existing, .. }) => {
                        let existing = match self.products.get(&existing).await {
                            Ok(Some(e)) if e.verification_status == VerificationStatus::Merged => {
                                e.merged_into.unwrap_or(existing)
                            }
                            Ok(_) => existing,
                            Err(e) => return Err(ServiceError::storage(e)),
                        };
                        lock(state).retarget(p.product_id, existing);
                        // Rows linked to it directly may come later: they read what this wrote.
                        if let Some(set) = lock(&stocked).as_mut() {
                            set.insert(existing);
                        }
                    }
                    Err(e) => return Err(ServiceError::storage(e)),
                }
            }
            self.request_enrichment(&made).await;
        }
        // One row per product (a retargeted product can meet a row linked to it directly).
        let mut rows: Vec<(ProductId, &RowPlan)> = Vec::with_capacity(plans.len());
        let mut merged = 0;
        {
            let state = lock(state);
            let mut seen = std::collections::HashSet::new();
            for p in &plans {
                let product = state.resolve(p.product);
                if seen.insert(product) {
                    rows.push((product, p));
                } else {
                    merged += 1;
                }
            }
        }
        // Current items (of the products the store has, and of retargeted rows, whose product
        // this run may have written already), then the rows applied to them. An item that
        // changed between the read and the write (a sale, another chunk's row) is read again.
        let mut to_read: Vec<ProductId> = {
            let stocked = lock(&stocked);
            rows.iter()
                .filter(|(id, p)| {
                    stocked.as_ref().is_none_or(|set| set.contains(id)) || *id != p.product
                })
                .map(|(id, _)| *id)
                .collect()
        };
        let mut pending: Vec<(ProductId, &RowPlan)> = rows.clone();
        let mut unknown = 0u64;
        // What each item keeps of its product: a product this chunk creates is at hand; one
        // the catalog had is read, unless the item already keeps it.
        let mut summaries: std::collections::HashMap<ProductId, ProductSummary> = rows
            .iter()
            .filter_map(|(id, p)| {
                let created = p.create.as_deref().filter(|c| c.product_id == *id)?;
                Some((*id, ProductSummary::of(created)))
            })
            .collect();
        for attempt in 0.. {
            stats.items_read += to_read.len() as u64;
            let current = self.read_items(store_id, &to_read).await?;
            let missing: Vec<ProductId> = pending
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| {
                    !summaries.contains_key(id)
                        && current.get(id).is_none_or(|i| i.product.is_none())
                })
                .collect();
            stats.products_read += missing.len() as u64;
            summaries.extend(self.read_summaries(&missing).await?);
            // A row naming a product by id that the catalog does not have is refused.
            // So is a new item of a product merged into another (named by id, or merged
            // since the row was matched: stock the product it became).
            pending.retain(|(id, p)| {
                if current.contains_key(id) {
                    return true;
                }
                let (code, message) = match summaries.get(id) {
                    Some(s) if s.verification_status != VerificationStatus::Merged => return true,
                    None if !p.by_id => return true,
                    Some(_) => (
                        "product_merged",
                        format!("catalog product {id} was merged into another; stock that one"),
                    ),
                    None => (
                        "unknown_product",
                        format!("catalog product {id} does not exist"),
                    ),
                };
                unknown += 1;
                lock(state).reject(ReportRow::problem(
                    p.row,
                    Column::ProductId.as_str(),
                    code,
                    message,
                ));
                false
            });
            let now = Timestamp::now();
            let writes: Vec<StockWrite> = pending
                .iter()
                .map(|(id, p)| {
                    let old = current.get(id);
                    let summary = summaries
                        .get(id)
                        .cloned()
                        .or_else(|| old.and_then(|i| i.product.clone()));
                    origin.write(*id, p, old, summary, now)
                })
                .collect();
            let done = self
                .inventory
                .put_many(&writes)
                .await
                .map_err(ServiceError::storage)?;
            stats.write_units += done.write_units.unwrap_or(0.0);
            stats.write_requests += done.requests;
            // A row that took an item below its reorder level (or to zero) is an alert too.
            for w in &writes {
                if let Some(m) = w.movement.as_ref().filter(|m| !m.alerts.is_empty())
                    && !done.conflicts.contains(&w.item.product_id)
                {
                    self.announce(m).await;
                }
            }
            if done.conflicts.is_empty() {
                break;
            }
            if attempt + 1 >= STOCK_WRITE_ATTEMPTS {
                return Err(ServiceError::Unavailable(StorageError::Unavailable(
                    format!(
                        "{} inventory items kept changing during the import",
                        done.conflicts.len()
                    )
                    .into(),
                )));
            }
            let lost: std::collections::HashSet<ProductId> = done.conflicts.into_iter().collect();
            pending.retain(|(id, _)| lost.contains(id));
            // A write may have lost to a merge of its product: read those products again, each
            // strongly consistent (a batched read may not see the merge yet). Conflicts are few.
            for id in &lost {
                if let Some(p) = self.products.get(id).await.map_err(ServiceError::storage)? {
                    summaries.insert(*id, ProductSummary::of(&p));
                }
            }
            to_read = pending.iter().map(|(id, _)| *id).collect();
        }
        Ok((
            Written {
                written: rows.len() as u64 - unknown,
                merged,
                unknown,
            },
            stats,
        ))
    }

    /// The summaries of products `ids`, read in batches of [`MAX_BULK_READ`], four at a time.
    async fn read_summaries(
        &self,
        ids: &[ProductId],
    ) -> ServiceResult<Vec<(ProductId, ProductSummary)>> {
        let chunks: Vec<Vec<ProductId>> = ids
            .chunks(MAX_BULK_READ)
            .map(<[ProductId]>::to_vec)
            .collect();
        let reads: Vec<Result<Vec<Product>, StorageError>> = futures::stream::iter(chunks)
            .map(|c| {
                let products = self.products.clone();
                async move { products.get_many(&c).await }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut out = Vec::with_capacity(ids.len());
        for r in reads {
            for p in r.map_err(ServiceError::storage)? {
                out.push((p.product_id, ProductSummary::of(&p)));
            }
        }
        Ok(out)
    }

    /// The store's items for `ids`, read in batches of [`MAX_BULK_READ`], four at a time.
    async fn read_items(
        &self,
        store_id: &StoreId,
        ids: &[ProductId],
    ) -> ServiceResult<std::collections::HashMap<ProductId, InventoryItem>> {
        let chunks: Vec<Vec<ProductId>> = ids
            .chunks(MAX_BULK_READ)
            .map(<[ProductId]>::to_vec)
            .collect();
        let reads: Vec<Result<Vec<InventoryItem>, StorageError>> = futures::stream::iter(chunks)
            .map(|c| {
                let inventory = self.inventory.clone();
                async move { inventory.get_many(store_id, &c).await }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut current = std::collections::HashMap::new();
        for r in reads {
            for item in r.map_err(ServiceError::storage)? {
                current.insert(item.product_id, item);
            }
        }
        Ok(current)
    }

    /// Ends the job: the report (if any row had a problem), the final counters, the state gone.
    async fn finish(
        &self,
        mut job: CsvJob,
        counters: JobCounters,
        headers: &[String],
        state: &Mutex<ImportState>,
        state_blob: &BlobKey,
    ) -> ServiceResult<RunOutcome> {
        if counters.processed == 0 {
            return self
                .fail(
                    job,
                    "no_rows",
                    "the file has a header but no rows to import",
                )
                .await;
        }
        let report = {
            let s = lock(state);
            (!s.report.is_empty()).then(|| write_report(headers, &s.report, s.unreported))
        };
        if let Some(bytes) = report {
            let k = report_key(&job.store_id, &job.job_id);
            self.uploads
                .put(&key(k.clone())?, Bytes::from(bytes), "text/csv")
                .await
                .map_err(ServiceError::storage)?;
            job.report_key = Some(k);
        }
        job.counters = counters;
        job.status = JobStatus::Completed;
        job.bytes_read = job.upload_bytes;
        self.close(job, state_blob).await
    }

    async fn fail(&self, mut job: CsvJob, code: &str, reason: &str) -> ServiceResult<RunOutcome> {
        tracing::info!(job = %job.job_id, code, reason, "import failed");
        job.status = JobStatus::Failed;
        job.failure_code = Some(code.to_string());
        job.failure_reason = Some(reason.to_string());
        let state_blob = key(state_key(&job.store_id, &job.job_id))?;
        self.close(job, &state_blob).await
    }

    async fn close(&self, mut job: CsvJob, state_blob: &BlobKey) -> ServiceResult<RunOutcome> {
        let now = Timestamp::now();
        job.completed_at = Some(now);
        job.lease_until = None;
        job.checkpoint = None;
        if !self.save_job(&mut job).await? {
            return Ok(RunOutcome::Skipped("another run took the job over"));
        }
        // The job is final: what follows is done once, here, whatever fails (a run that finds
        // the job final does nothing, so nothing after this point would be tried again).
        if let Err(e) = self.uploads.delete(state_blob).await {
            tracing::warn!(job = %job.job_id, error = %ErrorChain(&e), "the run's state was not deleted");
        }
        if let Err(e) = self.job_ended(&job).await {
            tracing::warn!(job = %job.job_id, error = %ErrorChain(&e), "job.completed not announced");
        }
        Ok(RunOutcome::Finished(job))
    }

    /// Saves the next version of `job`; `false` if another writer got there first.
    pub(super) async fn save_job(&self, job: &mut CsvJob) -> ServiceResult<bool> {
        job.version += 1;
        job.updated_at = Timestamp::now();
        match self.jobs.update(job).await {
            Ok(()) => Ok(true),
            Err(StorageError::VersionConflict { .. }) => Ok(false),
            Err(e) => Err(ServiceError::storage(e)),
        }
    }
}

struct Written {
    written: u64,
    /// Rows that met another row's product within the chunk.
    merged: u64,
    /// Rows naming a catalog product id that does not exist (refused).
    unknown: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
