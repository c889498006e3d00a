//! Product events (`product.created`, `.updated`, `.approved`, `.rejected`, `.merged`): each
//! product change's history entry is written into an outbox with the change (one write, on
//! both backends), and the sweep announces what is there, under the catalog (`_catalog`), then
//! takes it out.
//!
//! Owns the announcing: at least once, in the order of each product's versions within a page,
//! with ids named by product and version (a repeat is the same event). An entry whose product
//! is not stored yet (a bulk insert writes entries before their products) waits; one whose
//! product never came (its import stopped between the two writes, and was not run again) is
//! let go after [`ORPHAN_AFTER`]. While such entries wait they come first in their outbox
//! partition, so a partition holding a page of them holds back the rest until the import runs
//! again (SQS redelivers it within about 16 minutes) or they are let go.

use std::collections::HashSet;

use super::{Catalog, ServiceError, ServiceResult};
use crate::domain::{Event, HistoryEntry, Timestamp};

/// Entries announced a page.
pub const EVENTS_PER_PAGE: usize = 100;
/// How long an entry whose product is not stored waits before it is let go unannounced.
pub const ORPHAN_AFTER: time::Duration = time::Duration::minutes(30);

impl Catalog {
    /// Announces a page of product events left in the outbox; returns how many entries left
    /// it (announced, or let go as orphans). The local server runs it every few seconds; in
    /// AWS the `stock-alerts` function every minute, a page after another while there are.
    pub async fn announce_product_events(&self) -> ServiceResult<usize> {
        let mut pending = self
            .products
            .unannounced_history(EVENTS_PER_PAGE)
            .await
            .map_err(ServiceError::storage)?;
        if pending.is_empty() {
            return Ok(0);
        }
        pending.sort_by_key(|e| (e.product_id, e.version));
        let mut ids: Vec<_> = pending.iter().map(|e| e.product_id).collect();
        ids.dedup();
        let stored: HashSet<_> = self
            .products
            .get_many(&ids)
            .await
            .map_err(ServiceError::storage)?
            .into_iter()
            .map(|p| p.product_id)
            .collect();
        let now = Timestamp::now();
        let mut done: Vec<HistoryEntry> = Vec::with_capacity(pending.len());
        for entry in pending {
            if !stored.contains(&entry.product_id) {
                if entry.at.plus(ORPHAN_AFTER) < now {
                    tracing::warn!(product = %entry.product_id, version = entry.version, "a history entry whose product was never stored: its event is not announced");
                    done.push(entry);
                }
                continue;
            }
            if let Err(e) = self.events.publish(&Event::product_change(&entry)).await {
                // What went out before it leaves the outbox; the rest waits for the next run.
                self.products
                    .history_announced(&done)
                    .await
                    .map_err(ServiceError::storage)?;
                return Err(ServiceError::storage(e));
            }
            done.push(entry);
        }
        self.products
            .history_announced(&done)
            .await
            .map_err(ServiceError::storage)?;
        Ok(done.len())
    }
}
