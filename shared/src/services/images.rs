//! Product images as a service: the upload a client asks for (a presigned PUT bound to the
//! exact length and an image type), and what becomes of a landed upload (S3 notification
//! through a queue in AWS, the local server's blob PUT locally): processed by
//! [`crate::images`], its three images stored content-addressed in the images bucket (the
//! same image twice is stored once), and the product updated with its history entry: the
//! image's hash, URLs and perceptual hash, the products that have the very same image, and
//! the rescored quality; or, for a file that is not a usable image, why (`image_state`).
//!
//! Processing is redelivery-safe: the upload is deleted once the product says what became of
//! it, and an upload the product already reflects changes nothing.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::{Catalog, ServiceError, ServiceResult};
use crate::auth::{Forbidden, Principal, Role};
use crate::domain::{
    Actor, FieldErrors, HistoryEntry, ImageUrls, NewImage, Product, ProductAction, ProductId,
    Timestamp, VerificationStatus,
};
use crate::images::{self, ImageRefused, MAX_UPLOAD_BYTES, Rendition};
use crate::ports::{BlobKey, PresignedRequest, StorageError};

/// Where uploads of product images land in the images bucket:
/// `uploads/products/<product id>/<upload id>`.
pub const UPLOAD_PREFIX: &str = "uploads/products/";
/// How long an upload URL works.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
/// The types an upload may declare (its bytes decide what it is).
pub const UPLOAD_CONTENT_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
/// Products with the same image named on one (more are not listed).
const SAME_IMAGE_LISTED: usize = 10;
/// Times a processed image is written again when the product changed meanwhile.
const WRITE_ATTEMPTS: usize = 5;

/// What a client asks for to upload an image.
#[derive(Debug, Clone)]
pub struct ImageUploadRequest {
    pub content_length: u64,
    pub content_type: String,
}

/// An upload to make: PUT the file's exact bytes to `upload`; the product's `image_state`
/// says what became of it (usually within seconds).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImageUpload {
    pub product_id: ProductId,
    pub upload_id: String,
    pub upload: PresignedRequest,
}

/// The product and upload an upload key names.
pub fn parse_image_upload_key(key: &str) -> Option<(ProductId, String)> {
    let rest = key.strip_prefix(UPLOAD_PREFIX)?;
    let (product, upload) = rest.split_once('/')?;
    let product = ProductId::parse(product).ok()?;
    let valid = !upload.is_empty()
        && upload.len() <= 64
        && upload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| (product, upload.to_string()))
}

/// Whether `product` already says what became of upload `upload_id` or of a later one
/// (upload ids are UUIDv7: their text sorts by time).
fn superseded(product: &Product, upload_id: &str) -> bool {
    product
        .image_state
        .as_ref()
        .is_some_and(|s| s.upload_id.as_str() >= upload_id)
}

/// The actor of a processed upload's history entry.
fn processor() -> Actor {
    Actor {
        sub: "image-process".into(),
        role: "system".into(),
        request_id: None,
    }
}

impl Catalog {
    /// An upload URL for a product's image. Admins; a store owner for a pending product they
    /// made (a scan's placeholder, an import's new product, one they created).
    pub async fn request_product_image(
        &self,
        who: &Principal,
        id: &ProductId,
        req: ImageUploadRequest,
    ) -> ServiceResult<ImageUpload> {
        who.require_role(&[Role::Admin, Role::StoreOwner])?;
        let product = self.get_product(who, id).await?;
        if product.verification_status == VerificationStatus::Merged {
            return Err(ServiceError::Conflict {
                code: "product_merged",
                detail: format!("product {id} was merged into another; add the image to that one"),
            });
        }
        if !who.is_admin()
            && (product.verification_status != VerificationStatus::Pending
                || product.created_by != who.sub)
        {
            return Err(Forbidden::Product(format!(
                "a store owner may add an image only to a pending product they made; product {id} is {} and was made by another",
                product.verification_status
            ))
            .into());
        }
        let mut errors = FieldErrors::new();
        if req.content_length == 0 {
            errors.add(
                "content_length",
                "empty",
                "the image must have at least one byte",
            );
        } else if req.content_length > MAX_UPLOAD_BYTES {
            errors.add(
                "content_length",
                "file_too_large",
                format!(
                    "the image is {} bytes; at most {MAX_UPLOAD_BYTES} (15 MiB)",
                    req.content_length
                ),
            );
        }
        if !UPLOAD_CONTENT_TYPES.contains(&req.content_type.as_str()) {
            errors.add(
                "content_type",
                "unsupported_type",
                format!(
                    "content_type must be one of {}",
                    UPLOAD_CONTENT_TYPES.join(", ")
                ),
            );
        }
        errors.finish(|| ())?;
        // Time-ordered: of two uploads processed out of order, the later one's image stays.
        let upload_id = uuid::Uuid::now_v7().to_string();
        let key = BlobKey::parse(&format!("{UPLOAD_PREFIX}{id}/{upload_id}"))
            .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
        let upload = self
            .images
            .presign_put(&key, &req.content_type, req.content_length, UPLOAD_TTL)
            .await
            .map_err(ServiceError::storage)?;
        Ok(ImageUpload {
            product_id: *id,
            upload_id,
            upload,
        })
    }

    /// The products whose image has SHA-256 `hash` (at most 100), in product id order. Any role.
    pub async fn products_with_image(
        &self,
        _who: &Principal,
        hash: &str,
    ) -> ServiceResult<Vec<Product>> {
        let ids = self
            .products
            .with_image_hash(hash, crate::ports::MAX_PAGE_SIZE as usize)
            .await
            .map_err(ServiceError::storage)?;
        let mut found = self
            .products
            .get_many(&ids)
            .await
            .map_err(ServiceError::storage)?;
        // The index may lag a change of image: only products whose image it still is.
        found.retain(|p| p.image_hash.as_deref() == Some(hash));
        found.sort_by_key(|p| p.product_id);
        Ok(found)
    }

    /// Processes the upload at `key` of the images bucket (any other key is not one: `None`).
    /// Answers the product as it now is, or `None` when the upload is gone (processed before).
    pub async fn process_image_upload(&self, key: &str) -> ServiceResult<Option<Product>> {
        let Some((product_id, upload_id)) = parse_image_upload_key(key) else {
            tracing::warn!(key, "not an image upload key; ignored");
            return Ok(None);
        };
        let blob_key =
            BlobKey::parse(key).map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
        // An upload older than the one the product reflects (queues do not keep order) is
        // not processed: the later image stays.
        if let Some(current) = self
            .products
            .get(&product_id)
            .await
            .map_err(ServiceError::storage)?
            && superseded(&current, &upload_id)
        {
            self.images
                .delete(&blob_key)
                .await
                .map_err(ServiceError::storage)?;
            return Ok(Some(current));
        }
        let Some(blob) = self
            .images
            .get(&blob_key)
            .await
            .map_err(ServiceError::storage)?
        else {
            return Ok(None);
        };
        let outcome = if blob.bytes.len() as u64 > MAX_UPLOAD_BYTES {
            Err(ImageRefused::Corrupt(format!(
                "the file is {} bytes; at most {MAX_UPLOAD_BYTES}",
                blob.bytes.len()
            )))
        } else {
            let bytes = blob.bytes.clone();
            match tokio::task::spawn_blocking(move || images::process(&bytes)).await {
                Ok(outcome) => outcome,
                // A decoder that panics on a file is a file that cannot be read: recorded as
                // such, not retried until the dead-letter queue.
                Err(e) if e.is_panic() => {
                    tracing::error!(product = %product_id, upload = %upload_id, "the image decoder panicked");
                    Err(ImageRefused::Corrupt(
                        "the decoder failed on this file".into(),
                    ))
                }
                Err(e) => return Err(ServiceError::Internal(StorageError::backend(e.to_string()))),
            }
        };
        let product = match outcome {
            Ok(done) => {
                for r in Rendition::ALL {
                    let key = BlobKey::parse(&done.key(r))
                        .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
                    let e = done.rendition(r);
                    self.images
                        .put(
                            &key,
                            Bytes::from(e.bytes.clone()),
                            e.encoding.content_type(),
                        )
                        .await
                        .map_err(ServiceError::storage)?;
                }
                let same: Vec<ProductId> = self
                    .products
                    .with_image_hash(&done.hash, SAME_IMAGE_LISTED + 1)
                    .await
                    .map_err(ServiceError::storage)?
                    .into_iter()
                    .filter(|p| *p != product_id)
                    .take(SAME_IMAGE_LISTED)
                    .collect();
                let similar = self.similar_images(&product_id, &done).await?;
                let url = |r| format!("/{}", done.key(r));
                let image = NewImage {
                    hash: done.hash.clone(),
                    urls: ImageUrls {
                        original: url(Rendition::Original),
                        thumbnail: url(Rendition::Thumbnail),
                        medium: url(Rendition::Medium),
                    },
                    perceptual_hash: done.perceptual.to_hex(),
                    same_image_as: same,
                    similar_image_as: similar,
                    upload_id: upload_id.clone(),
                };
                self.record_image(&product_id, &upload_id, |p, now| {
                    p.with_image(image.clone(), now)
                })
                .await?
            }
            Err(refused) => {
                tracing::info!(product = %product_id, upload = %upload_id, code = refused.code(), "image upload refused");
                let (code, detail) = (refused.code(), refused.to_string());
                self.record_image(&product_id, &upload_id, |p, now| {
                    p.with_image_failure(&upload_id, code, &detail, now)
                })
                .await?
            }
        };
        self.images
            .delete(&blob_key)
            .await
            .map_err(ServiceError::storage)?;
        Ok(product)
    }

    /// Other products whose image is a near copy of `done` (not the very same: those are
    /// `same_image_as`), closest first, at most [`SAME_IMAGE_LISTED`].
    async fn similar_images(
        &self,
        product_id: &ProductId,
        done: &images::Processed,
    ) -> ServiceResult<Vec<ProductId>> {
        let ids: Vec<ProductId> = self
            .products
            .with_similar_image(done.perceptual, crate::ports::MAX_BULK_READ / 4)
            .await
            .map_err(ServiceError::storage)?
            .into_iter()
            .filter(|p| p != product_id)
            .take(crate::ports::MAX_BULK_READ)
            .collect();
        let mut near: Vec<(u32, ProductId)> = self
            .products
            .get_many(&ids)
            .await
            .map_err(ServiceError::storage)?
            .into_iter()
            .filter(|p| p.image_hash.as_deref() != Some(done.hash.as_str()))
            .filter_map(|p| {
                let theirs = images::Perceptual::parse(p.image_perceptual_hash.as_deref()?)?;
                theirs
                    .is_near(done.perceptual)
                    .then(|| (theirs.distance(done.perceptual), p.product_id))
            })
            .collect();
        near.sort();
        Ok(near
            .into_iter()
            .take(SAME_IMAGE_LISTED)
            .map(|(_, p)| p)
            .collect())
    }

    /// Writes what became of upload `upload_id` onto the product, with its history entry,
    /// unless the product says so already (a redelivery). `None`: the product is gone.
    async fn record_image(
        &self,
        id: &ProductId,
        upload_id: &str,
        next: impl Fn(&Product, Timestamp) -> Product,
    ) -> ServiceResult<Option<Product>> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(current) = self.products.get(id).await.map_err(ServiceError::storage)? else {
                return Ok(None);
            };
            if superseded(&current, upload_id) {
                return Ok(Some(current));
            }
            let updated = next(&current, Timestamp::now());
            let history = HistoryEntry::of(
                Some(&current),
                &updated,
                ProductAction::Image,
                processor(),
                Some(format!("image upload {upload_id}")),
            );
            match self.products.update(&current, &updated, &history).await {
                Ok(()) => return Ok(Some(updated)),
                Err(StorageError::VersionConflict { .. }) => continue,
                Err(StorageError::NotFound) => return Ok(None),
                Err(e) => return Err(ServiceError::storage(e)),
            }
        }
        Err(ServiceError::Unavailable(StorageError::Unavailable(
            format!("product {id} kept changing while its image was recorded").into(),
        )))
    }
}
