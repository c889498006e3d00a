//! Catalog products: create (with barcode uniqueness and idempotent retries), read, list,
//! and the admin's versioned edits.

use crate::auth::{Principal, Role};
use crate::domain::{
    FieldErrors, Gtin, HistoryEntry, IdempotencyKey, Product, ProductAction, ProductChanges,
    ProductContent, ProductId, ProductSource, Timestamp, VerificationStatus,
};
use crate::ports::{MAX_PAGE_SIZE, ProductFilter, StorageError};

use super::{Catalog, Listing, PageRequest, ServiceError, ServiceResult, actor};

/// Names ids derived from idempotency keys, so a retried create maps to the same product id.
const PRODUCT_KEY_NAMESPACE: uuid::Uuid = uuid::uuid!("6f1d3c8e-2a4b-5c6d-8e9f-0a1b2c3d4e5f");

/// An admin's review decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// With the reason the owner and the history are given.
    Reject {
        reason: String,
    },
}

/// A product as created or found, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Created<T> {
    pub value: T,
    pub created: bool,
}

impl Catalog {
    /// Adds a product to the catalog, pending review. With an idempotency key, a retry of the
    /// same request returns the product the first call made.
    pub async fn create_product(
        &self,
        who: &Principal,
        content: ProductContent,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Created<Product>> {
        who.require_role(&[Role::Admin, Role::StoreOwner])?;
        let id = match key {
            Some(k) => ProductId::from_uuid(uuid::Uuid::new_v5(
                &PRODUCT_KEY_NAMESPACE,
                format!("{}\0{}", who.sub, k.as_str()).as_bytes(),
            )),
            None => ProductId::new(),
        };
        let product = Product::create(
            id,
            content.clone(),
            ProductSource::Api,
            &who.sub,
            Timestamp::now(),
        );
        let history = HistoryEntry::created(&product, actor(who), None);
        match self.products.insert(&product, &history).await {
            Ok(()) => {
                self.request_enrichment(&[&product]).await;
                Ok(Created {
                    value: product,
                    created: true,
                })
            }
            Err(StorageError::AlreadyExists) => self.replayed_create(id, &content).await,
            Err(StorageError::BarcodeTaken { existing, .. }) if existing == id => {
                self.replayed_create(id, &content).await
            }
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    async fn replayed_create(
        &self,
        id: ProductId,
        content: &ProductContent,
    ) -> ServiceResult<Created<Product>> {
        let existing = self
            .products
            .get(&id)
            .await
            .map_err(ServiceError::storage)?
            .ok_or_else(|| {
                ServiceError::Internal(StorageError::Corrupt(format!(
                    "product {id} reported as existing but not found"
                )))
            })?;
        let same = existing.name == content.name
            && existing.brand == content.brand
            && existing.category == content.category
            && existing.barcode == content.barcode
            && existing.regional_names == content.regional_names
            && existing.attributes == content.attributes;
        // An admin may have edited the product since; a retry still gets it back.
        if same || existing.version > 1 {
            Ok(Created {
                value: existing,
                created: false,
            })
        } else {
            Err(ServiceError::IdempotencyKeyReused)
        }
    }

    pub async fn get_product(&self, who: &Principal, id: &ProductId) -> ServiceResult<Product> {
        let _ = who; // every role may read the catalog
        self.products
            .get(id)
            .await
            .map_err(ServiceError::storage)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "product",
                id: id.to_string(),
            })
    }

    /// The change feed: products changed after `since` (a cursor from the last page; none: from
    /// the start), in the order of their last change, `limit` at a time. The answer's
    /// `next_since` goes on from the page's end; with `more` false the feed is read to now,
    /// and the same cursor later gives what changed meanwhile. Every role may read it.
    pub async fn product_changes(
        &self,
        who: &Principal,
        since: Option<&str>,
        limit: Option<u32>,
    ) -> ServiceResult<Changes> {
        let _ = who; // every role may read the catalog
        let after = since
            .map(|c| self.cursors.open(CHANGES_SCOPE, c))
            .transpose()?;
        let settled = Timestamp::from_datetime(Timestamp::now().datetime() - self.change_settle);
        let page = self
            .products
            .changes(after.as_ref(), settled, limit.unwrap_or(MAX_PAGE_SIZE))
            .await
            .map_err(|e| match e {
                StorageError::BadContinuation => crate::cursor::InvalidCursor.into(),
                e => ServiceError::storage(e),
            })?;
        Ok(Changes {
            items: page.items,
            next_since: self.cursors.seal(CHANGES_SCOPE, &page.next),
            more: page.more,
        })
    }

    pub async fn find_product_by_barcode(
        &self,
        who: &Principal,
        barcode: &Gtin,
    ) -> ServiceResult<Option<Product>> {
        let _ = who;
        self.products
            .find_by_barcode(barcode)
            .await
            .map_err(ServiceError::storage)
    }

    pub async fn list_products(
        &self,
        who: &Principal,
        filter: ProductFilter,
        page: &PageRequest,
    ) -> ServiceResult<Listing<Product>> {
        let _ = who;
        let scope = format!(
            "products|words={}|category={}|status={}",
            filter.words.join(" "),
            filter.category.as_deref().unwrap_or(""),
            filter.status.map(|s| s.as_str()).unwrap_or("")
        );
        let query = self.open_page(&scope, page)?;
        let found = self
            .products
            .list(&filter, &query)
            .await
            .map_err(ServiceError::storage)?;
        Ok(self.seal_page(&scope, found, |p| p))
    }

    /// An admin's edit, applied only if the product is still at `expected_version`.
    pub async fn update_product(
        &self,
        who: &Principal,
        id: &ProductId,
        expected_version: u64,
        changes: ProductChanges,
    ) -> ServiceResult<Product> {
        who.require_role(&[Role::Admin])?;
        let current = self.get_product(who, id).await?;
        if current.version != expected_version {
            return Err(ServiceError::VersionMismatch {
                current: Some(current.version),
            });
        }
        // A merge moves every store's stock too: it has its own route, never a patch.
        let merging = if changes.verification_status == Some(VerificationStatus::Merged) {
            Some("verification_status")
        } else if matches!(changes.merged_into, Some(Some(_))) {
            Some("merged_into")
        } else {
            None
        };
        if let Some(field) = merging {
            return Err(FieldErrors::single(
                field,
                "use_merge",
                format!(
                    "a merge moves every store's stock onto the product it becomes: \
                     POST /v1/products/{id}/merge with {{\"into\": \"<product id>\"}}"
                ),
            )
            .into());
        }
        let next = current.apply(changes, Timestamp::now())?;
        // A patch that moves the review state is that decision.
        let action = match next.verification_status {
            s if s == current.verification_status => ProductAction::Updated,
            VerificationStatus::Approved => ProductAction::Approved,
            VerificationStatus::Rejected => ProductAction::Rejected,
            VerificationStatus::Merged => ProductAction::Merged,
            VerificationStatus::Pending => ProductAction::Updated,
        };
        self.write_update(who, &current, next, action, None).await
    }

    /// Stores `next` over `current` with its history entry.
    pub(super) async fn write_update(
        &self,
        who: &Principal,
        current: &Product,
        next: Product,
        action: ProductAction,
        reason: Option<String>,
    ) -> ServiceResult<Product> {
        let history = HistoryEntry::of(Some(current), &next, action, actor(who), reason);
        match self.products.update(current, &next, &history).await {
            Ok(()) => Ok(next),
            Err(StorageError::NotFound) => Err(ServiceError::NotFound {
                what: "product",
                id: next.product_id.to_string(),
            }),
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    /// A reviewer's decision: approve, or reject with a reason. Idempotent: deciding what
    /// the product already is changes nothing and answers it as it is (a rejection for
    /// another reason than the last one is recorded, the state unchanged). With `expected`,
    /// only that version is decided on (`VersionMismatch` else). A merged product is final
    /// (`409 product_merged`).
    pub async fn decide_product(
        &self,
        who: &Principal,
        id: &ProductId,
        decision: Decision,
        expected: Option<u64>,
    ) -> ServiceResult<Product> {
        who.require_role(crate::auth::REVIEWERS)?;
        // Another edit between the read and the write: without a version of the caller's,
        // read again and decide again (a version mismatch is not theirs to handle).
        let mut tries = 0;
        loop {
            tries += 1;
            match self.decide_once(who, id, decision.clone(), expected).await {
                Err(ServiceError::VersionMismatch { .. }) if tries < 3 && expected.is_none() => {
                    continue;
                }
                other => return other,
            }
        }
    }

    async fn decide_once(
        &self,
        who: &Principal,
        id: &ProductId,
        decision: Decision,
        expected: Option<u64>,
    ) -> ServiceResult<Product> {
        let current = self.get_product(who, id).await?;
        let (status, action, reason) = match decision {
            Decision::Approve => (VerificationStatus::Approved, ProductAction::Approved, None),
            Decision::Reject { reason } => (
                VerificationStatus::Rejected,
                ProductAction::Rejected,
                Some(reason),
            ),
        };
        if current.verification_status == VerificationStatus::Merged {
            return Err(ServiceError::Conflict {
                code: "product_merged",
                detail: format!("product {id} was merged into another; decide on that one instead"),
            });
        }
        // Deciding what the product already is answers it as it is, whatever version was
        // sent (the sender's own decision, resent after its answer was lost).
        if current.verification_status == status
            && (reason.is_none() || self.last_rejection(&current).await? == reason)
        {
            return Ok(current);
        }
        if expected.is_some_and(|v| v != current.version) {
            return Err(ServiceError::VersionMismatch {
                current: Some(current.version),
            });
        }
        let changes = ProductChanges {
            verification_status: Some(status),
            ..Default::default()
        };
        let next = current.apply(changes, Timestamp::now())?;
        self.write_update(who, &current, next, action, reason).await
    }

    /// The reason of `p`'s last rejection among its latest history entries (a later image or
    /// edit entry does not hide it).
    async fn last_rejection(&self, p: &Product) -> ServiceResult<Option<String>> {
        let latest = self
            .products
            .history(
                &p.product_id,
                &crate::ports::PageQuery {
                    after: None,
                    limit: 25,
                },
            )
            .await
            .map_err(ServiceError::storage)?;
        Ok(latest
            .items
            .into_iter()
            .find(|h| h.action == ProductAction::Rejected)
            .and_then(|h| h.reason))
    }

    /// A product's history, newest first. Admins and reviewers.
    pub async fn product_history(
        &self,
        who: &Principal,
        id: &ProductId,
        page: &PageRequest,
    ) -> ServiceResult<Listing<HistoryEntry>> {
        who.require_role(crate::auth::REVIEWERS)?;
        let scope = format!("history|product={id}");
        let query = self.open_page(&scope, page)?;
        let found = self
            .products
            .history(id, &query)
            .await
            .map_err(ServiceError::storage)?;
        Ok(self.seal_page(&scope, found, |h| h))
    }
}

/// What a change feed's cursor is sealed for.
const CHANGES_SCOPE: &str = "product-changes";

/// A page of the change feed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Changes {
    /// The products changed after `since`, as they are now, in the order of their last change.
    pub items: Vec<Product>,
    /// Pass as `since` for the next page, or later for what changes meanwhile.
    pub next_since: String,
    /// More changes are ready now: ask again at once with `next_since`.
    pub more: bool,
}
