//! CSV import jobs as their owners see them.
//!
//! A job belongs to a store; a caller without that store gets "not found", the same answer as
//! for a job that does not exist, so job ids do not reveal other stores' activity.

use crate::auth::{Principal, Role};
use crate::domain::{CsvJob, JobId, StoreId};

use super::{Catalog, Listing, PageRequest, ServiceError, ServiceResult};

impl Catalog {
    pub async fn get_job(&self, who: &Principal, id: &JobId) -> ServiceResult<CsvJob> {
        who.require_role(&[Role::Admin, Role::StoreOwner])?;
        match self.jobs.get(id).await.map_err(ServiceError::storage)? {
            Some(job) if who.can_access_store(&job.store_id) => Ok(job),
            _ => Err(ServiceError::NotFound {
                what: "job",
                id: id.to_string(),
            }),
        }
    }

    pub async fn list_jobs(
        &self,
        who: &Principal,
        store: &StoreId,
        page: &PageRequest,
    ) -> ServiceResult<Listing<CsvJob>> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        let scope = format!("jobs|store={store}");
        let query = self.open_page(&scope, page)?;
        let found = self
            .jobs
            .list_by_store(store, &query)
            .await
            .map_err(ServiceError::storage)?;
        Ok(self.seal_page(&scope, found, |j| j))
    }
}
