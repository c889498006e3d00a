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
use super::{Catalog, PageRequest, ServiceError, ServiceResult};
use crate::auth::{Principal, Role};
use crate::domain::{
    CsvJob, InventoryItem, JobId, JobKind, JobStatus, StoreId, Timestamp, export_key,
};
use crate::import::report::neutralise;
use crate::ports::{BlobKey, InventoryFilter, InventoryOrder, MAX_PAGE_SIZE};

/// Most items one export writes: a store with more is refused (`export_too_large`), so an
/// export always finishes within its request.
pub const MAX_EXPORT_ITEMS: u64 = 200_000;

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

impl Catalog {
    /// Writes the store's inventory as a CSV and answers the completed `export` job with its
    /// download URL. Admins and the store's owners.
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

        let mut out = csv::Writer::from_writer(BOM.to_vec());
        let csv_err =
            |e: csv::Error| ServiceError::Internal(crate::ports::StorageError::backend(e));
        out.write_record(EXPORT_COLUMNS).map_err(csv_err)?;
        let mut items = 0u64;
        let mut cursor = None;
        loop {
            let page = self
                .list_inventory(
                    who,
                    store,
                    InventoryFilter::default(),
                    InventoryOrder::default(),
                    &PageRequest {
                        cursor,
                        limit: Some(MAX_PAGE_SIZE),
                    },
                )
                .await?;
            for item in &page.items {
                out.write_record(row(item)).map_err(csv_err)?;
            }
            items += page.items.len() as u64;
            if items > MAX_EXPORT_ITEMS {
                let reason = format!(
                    "the store has more than {MAX_EXPORT_ITEMS} items; an export takes at most that many"
                );
                return self
                    .end_export(job, Err(("export_too_large", reason)))
                    .await;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let bytes = out.into_inner().map_err(|e| {
            ServiceError::Internal(crate::ports::StorageError::backend(e.to_string()))
        })?;
        let key = export_key(store, &job.job_id);
        let blob = BlobKey::parse(&key)
            .map_err(|e| ServiceError::Internal(crate::ports::StorageError::backend(e)))?;
        self.uploads
            .put(&blob, Bytes::from(bytes), "text/csv; charset=utf-8")
            .await
            .map_err(ServiceError::storage)?;
        job.export_key = Some(key);
        job.counters.total_rows = items;
        job.counters.processed = items;
        job.counters.successful = items;
        self.end_export(job, Ok(())).await
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
        self.job_view(job).await
    }
}
