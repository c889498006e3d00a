//! Readiness: one cheap read of each table and bucket (an item or object that never exists),
//! so a deploy or an operator can tell a function that cannot reach its storage.
//!
//! Says only which part is down; the cause is logged, never sent (the route is public).

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use super::Catalog;
use crate::domain::{JobId, ProductId, StoreId};
use crate::error_chain::ErrorChain;
use crate::ports::StorageResult;

/// How long one probe may take before its part counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The state of one part of the storage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartCheck {
    /// `products`, `inventory`, `jobs`, `accounts` (tables) or `uploads`, `images` (buckets).
    pub part: &'static str,
    pub ok: bool,
    /// How long the probe took.
    pub ms: u64,
}

/// Every part, in a fixed order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<PartCheck>,
}

pub(crate) async fn probe<T>(
    part: &'static str,
    read: impl Future<Output = StorageResult<T>>,
) -> PartCheck {
    let started = Instant::now();
    let ok = match tokio::time::timeout(PROBE_TIMEOUT, read).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::error!(part, error = %ErrorChain(&e), "readiness probe failed");
            false
        }
        Err(_) => {
            tracing::error!(
                part,
                timeout_ms = PROBE_TIMEOUT.as_millis() as u64,
                "readiness probe timed out"
            );
            false
        }
    };
    PartCheck {
        part,
        ok,
        ms: started.elapsed().as_millis() as u64,
    }
}

impl Catalog {
    /// Reads one absent item from each table and one absent object from each bucket, at once
    /// (with `more`: the other parts' probes, the accounts table's).
    pub async fn readiness(&self, more: impl Future<Output = PartCheck>) -> Readiness {
        let product = ProductId::from_uuid(uuid::Uuid::nil());
        let store = StoreId::parse("readiness-probe").expect("a valid slug");
        let job = JobId::from_uuid(uuid::Uuid::nil());
        let (p, i, j, a, u, im) = tokio::join!(
            probe("products", self.products.get(&product)),
            probe("inventory", self.inventory.get(&store, &product)),
            probe("jobs", self.jobs.get(&job)),
            more,
            probe("uploads", self.uploads.probe()),
            probe("images", self.images.probe()),
        );
        let checks = vec![p, i, j, a, u, im];
        Readiness {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}
