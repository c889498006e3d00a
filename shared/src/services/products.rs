//! Catalog products: create (with barcode uniqueness and idempotent retries), read, list,
//! and the admin's versioned edits.

use crate::auth::{Principal, Role};
use crate::domain::{
    FieldErrors, Gtin, IdempotencyKey, Product, ProductChanges, ProductContent, ProductId,
    ProductSource, Timestamp, VerificationStatus,
};
use crate::ports::{ProductFilter, StorageError};

use super::{Catalog, Listing, PageRequest, ServiceError, ServiceResult};

/// Names ids derived from idempotency keys, so a retried create maps to the same product id.
const PRODUCT_KEY_NAMESPACE: uuid::Uuid = uuid::uuid!("6f1d3c8e-2a4b-5c6d-8e9f-0a1b2c3d4e5f");

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
        match self.products.insert(&product).await {
            Ok(()) => Ok(Created {
                value: product,
                created: true,
            }),
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
        if let Some(Some(target)) = changes.merged_into {
            self.check_merge_target(who, &target).await?;
        }
        let next = current.apply(changes, Timestamp::now())?;
        match self.products.update(&current, &next).await {
            Ok(()) => Ok(next),
            Err(StorageError::NotFound) => Err(ServiceError::NotFound {
                what: "product",
                id: id.to_string(),
            }),
            Err(e) => Err(ServiceError::storage(e)),
        }
    }

    async fn check_merge_target(&self, who: &Principal, target: &ProductId) -> ServiceResult<()> {
        match self.get_product(who, target).await {
            Ok(t) if t.verification_status == VerificationStatus::Merged => Err(FieldErrors::single(
                "merged_into",
                "target_merged",
                format!("product {target} is itself merged; merge into the product it was merged into"),
            )
            .into()),
            Ok(_) => Ok(()),
            Err(ServiceError::NotFound { .. }) => {
                Err(FieldErrors::single("merged_into", "unknown_product", format!("product {target} does not exist")).into())
            }
            Err(e) => Err(e),
        }
    }
}
