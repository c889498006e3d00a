//! Inventory exports: a store's items as a CSV stock list, written to the uploads bucket and
//! handed out as a presigned download, recorded as an `export` job.
//!
//! Owns the export's format: UTF-8 with a byte-order mark (Excel then reads it as UTF-8), one
//! row per item in product id order (the same inventory gives the same bytes), the columns the
//! import reads (`catalog_product_id` names the product exactly, so importing the file into an
//! empty store reproduces the inventory), and every text cell a spreadsheet would run as a
//! formula neutralised with a leading `'` (which the import removes again).

use bytes::Bytes;

use super::imports::JobView;
use super::{Catalog, ServiceError, ServiceResult};
use crate::auth::{Principal, Role};
use crate::domain::{
    CsvJob, InventoryItem, JobId, JobKind, JobStatus, StoreId, Timestamp, export_key,
};
use crate::import::report::neutralise;
use crate::ports::{BlobKey, InventoryFilter, InventoryOrder, MAX_BULK_READ, PageQuery};

/// Most items one export writes: a store with more is refused (`export_too_large`), so an
/// export finishes within its request (29 s in AWS: about 100 reads of 1 MB).
pub const MAX_EXPORT_ITEMS: u64 = 100_000;

/// The export's header: each name is one the import reads as that column.
pub const EXPORT_COLUMNS: [&str; 13] = [
    "catalog_product_id",
    "name",
    "brand",
    "size",
    "barcode",
    "category",
    "qty",
    "selling_price",
    "cost_price",
    "reorder_level",
    "supplier",
    "location",
    "notes",
];

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The export's row for `item` (its product summary read fresh for the page).
fn row(item: &InventoryItem) -> [String; 13] {
    let p = item.product.as_ref();
    let text = |s: Option<&str>| neutralise(s.unwrap_or("")).into_owned();
    let d = &item.details;
    [
        item.product_id.to_string(),
        text(p.map(|p| p.name.as_str())),
        text(p.and_then(|p| p.brand.as_deref())),
        text(p.and_then(|p| p.size.as_deref())),
        p.and_then(|p| p.barcode.as_ref())
            .map(|b| b.to_string())
            .unwrap_or_default(),
        text(p.and_then(|p| p.category.as_deref())),
        d.quantity.to_string(),
        d.selling_price.map(|m| m.to_string()).unwrap_or_default(),
        d.cost_price.map(|m| m.to_string()).unwrap_or_default(),
        d.reorder_level.map(|q| q.to_string()).unwrap_or_default(),
        text(d.supplier.as_deref()),
        text(d.location.as_deref()),
        text(d.notes.as_deref()),
    ]
}

/// Items read per call while exporting (DynamoDB answers at most 1 MB a call).
const EXPORT_PAGE: u32 = 1000;

impl Catalog {
    /// Writes the store's inventory as a CSV and answers the completed `export` job with its
    /// download URL. Admins and the store's owners. A failure ends the job `failed`
    /// (`export_failed`) before it is answered.
    pub async fn export_inventory(
        &self,
        who: &Principal,
        store: &StoreId,
    ) -> ServiceResult<JobView> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        let now = Timestamp::now();
        let mut job = CsvJob::new(JobId::new(), store.clone(), &who.sub, now);
        job.kind = JobKind::Export;
        job.status = JobStatus::Processing;
        job.upload_key = String::new();
        self.jobs
            .insert(&job)
            .await
            .map_err(ServiceError::storage)?;
        match self.write_export(store, &job.job_id).await {
            Ok(Ok((key, items))) => {
                job.export_key = Some(key);
                job.counters.total_rows = items;
                job.counters.processed = items;
                job.counters.successful = items;
                self.end_export(job, Ok(())).await
            }
            Ok(Err(too_large)) => {
                self.end_export(job, Err(("export_too_large", too_large)))
                    .await
            }
            Err(e) => {
                let reason = "the export could not be written; ask for it again".to_string();
                if let Err(end) = self.end_export(job, Err(("export_failed", reason))).await {
                    tracing::warn!(error = %end, "a failed export's job could not be closed");
                }
                Err(e)
            }
        }
    }

    /// Writes the file: its key and item count, or why the store is too large to export.
    async fn write_export(
        &self,
        store: &StoreId,
        job: &JobId,
    ) -> ServiceResult<Result<(String, u64), String>> {
        let internal = |e: String| ServiceError::Internal(crate::ports::StorageError::backend(e));
        let mut out = csv::Writer::from_writer(BOM.to_vec());
        out.write_record(EXPORT_COLUMNS)
            .map_err(|e| internal(e.to_string()))?;
        let mut items = 0u64;
        let mut after = None;
        loop {
            let page = self
                .inventory
                .list(
                    store,
                    &InventoryFilter::default(),
                    InventoryOrder::default(),
                    &PageQuery {
                        after,
                        limit: EXPORT_PAGE,
                    },
                )
                .await
                .map_err(ServiceError::storage)?;
            items += page.items.len() as u64;
            if items > MAX_EXPORT_ITEMS {
                return Ok(Err(format!(
                    "the store has more than {MAX_EXPORT_ITEMS} items; an export takes at most that many"
                )));
            }
            // Each item keeps its product's summary; only items stored without one read it.
            let (kept, bare): (Vec<_>, Vec<_>) =
                page.items.into_iter().partition(|i| i.product.is_some());
            let mut rows = kept;
            for chunk in bare.chunks(MAX_BULK_READ) {
                rows.extend(self.with_products(chunk.to_vec()).await?);
            }
            rows.sort_by_key(|i| i.product_id);
            for item in &rows {
                out.write_record(row(item))
                    .map_err(|e| internal(e.to_string()))?;
            }
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        let bytes = out.into_inner().map_err(|e| internal(e.to_string()))?;
        let key = export_key(store, job);
        let blob = BlobKey::parse(&key).map_err(internal)?;
        self.uploads
            .put(&blob, Bytes::from(bytes), "text/csv; charset=utf-8")
            .await
            .map_err(ServiceError::storage)?;
        Ok(Ok((key, items)))
    }

    /// Saves the export job final (completed, or failed with a code and reason).
    async fn end_export(
        &self,
        mut job: CsvJob,
        outcome: Result<(), (&str, String)>,
    ) -> ServiceResult<JobView> {
        let now = Timestamp::now();
        match outcome {
            Ok(()) => job.status = JobStatus::Completed,
            Err((code, reason)) => {
                job.status = JobStatus::Failed;
                job.failure_code = Some(code.to_string());
                job.failure_reason = Some(reason);
            }
        }
        job.completed_at = Some(now);
        job.updated_at = now;
        job.version += 1;
        self.jobs
            .update(&job)
            .await
            .map_err(ServiceError::storage)?;
        self.record_job_rows(&job);
        self.job_view(job).await
    }
}
