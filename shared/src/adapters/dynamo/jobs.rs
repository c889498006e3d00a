//! The jobs table.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use futures::FutureExt;

use super::paging::{Fetch, collect_page, decode};
use super::{DynamoStore, Item, from_item, get_n, get_s, n, s, sdk_err, to_item};
use crate::adapters::records::{JobRecord, created_sort_key};
use crate::domain::{CsvJob, JobId, StoreId};
use crate::ports::{JobStore, Page, PageQuery, StorageError, StorageResult};

fn job_item(job: &CsvJob) -> StorageResult<Item> {
    let mut item = to_item(&JobRecord::from(job))?;
    item.insert(
        "store_sort".into(),
        s(created_sort_key(&job.created_at, &job.job_id)),
    );
    Ok(item)
}

fn job_from(item: Item) -> StorageResult<CsvJob> {
    from_item::<JobRecord>("job", item)?.try_into()
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn insert(&self, job: &CsvJob) -> StorageResult<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.jobs)
            .set_item(Some(job_item(job)?))
            .condition_expression("attribute_not_exists(job_id)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(StorageError::AlreadyExists)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn get(&self, id: &JobId) -> StorageResult<Option<CsvJob>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.jobs)
            .key("job_id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(job_from).transpose()
    }

    async fn update(&self, next: &CsvJob) -> StorageResult<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.jobs)
            .set_item(Some(job_item(next)?))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(next.version.saturating_sub(1)))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    Err(StorageError::VersionConflict {
                        current: c.item().and_then(|i| get_n(i, "version")).map(|v| v as u64),
                    })
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn list_by_store(
        &self,
        store: &StoreId,
        page: &PageQuery,
    ) -> StorageResult<Page<CsvJob>> {
        const ATTRS: &[&str] = &["job_id", "store_id", "store_sort"];
        let after = page.after.as_ref().map(|c| decode(c, ATTRS)).transpose()?;
        if let Some(a) = &after
            && get_s(a, "store_id") != Some(store.as_str())
        {
            return Err(StorageError::BadContinuation);
        }
        let (client, table, store_s) = (
            self.client.clone(),
            self.tables.jobs.clone(),
            store.to_string(),
        );
        let fetch: Fetch<'_> = Box::new(move |start, limit| {
            let (client, table, store_s) = (client.clone(), table.clone(), store_s.clone());
            async move {
                let out = client
                    .query()
                    .table_name(table)
                    .index_name("by-store")
                    .key_condition_expression("store_id = :s")
                    .expression_attribute_values(":s", s(store_s))
                    .scan_index_forward(false)
                    .set_exclusive_start_key(start)
                    .limit(limit)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
            }
            .boxed()
        });
        let (items, next) = collect_page(fetch, after, ATTRS, page.limit, false).await?;
        let items = items
            .into_iter()
            .map(job_from)
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    async fn unfinished(&self, limit: usize) -> StorageResult<Vec<CsvJob>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.jobs)
                .filter_expression("#status IN (:awaiting, :queued, :processing)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":awaiting", s("awaiting_upload"))
                .expression_attribute_values(":queued", s("queued"))
                .expression_attribute_values(":processing", s("processing"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items.unwrap_or_default() {
                if out.len() == limit {
                    return Ok(out);
                }
                out.push(job_from(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}
