//! Images as a service: the upload a client asks for (a presigned PUT bound to the exact
//! length and an image type), and what becomes of a landed upload (S3 notification through a
//! queue in AWS, the local server's blob PUT locally): processed by [`crate::images`], its
//! three images stored content-addressed in the images bucket (the same image twice is
//! stored once), and then
//! - for a product's image, the product updated with its history entry: the image's hash,
//!   URLs and perceptual hash, the products that have the very same or a near image, and the
//!   rescored quality; or, for a file that is not a usable image, why (`image_state`);
//! - for a store's photo of its item, the item's `photo` (hash, URLs, state), written with
//!   the item's version like any other item write.
//!
//! Processing is redelivery-safe: the upload is deleted once the product says what became of
//! it, and an upload the product already reflects changes nothing.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::{Catalog, ServiceError, ServiceResult};
use crate::auth::{Forbidden, Principal, Role};
use crate::domain::movement::{MovementKind, MovementOrigin};
use crate::domain::{
    Actor, FieldErrors, HistoryEntry, ImageUrls, InventoryItem, ItemPhoto, NewImage, Product,
    ProductAction, ProductId, StoreId, Timestamp, VerificationStatus,
};
use crate::images::{self, ImageRefused, MAX_UPLOAD_BYTES, Rendition};
use crate::ports::{BlobKey, Expect, PresignedRequest, SetItem, StorageError};

/// Where uploads of product images land in the images bucket:
/// `uploads/products/<product id>/<upload id>`.
pub const UPLOAD_PREFIX: &str = "uploads/products/";
/// Where a store's photos of its items land: `uploads/stores/<store id>/<product id>/<upload id>`.
pub const STORE_UPLOAD_PREFIX: &str = "uploads/stores/";
/// How long an upload URL works.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
/// The types an upload may declare (its bytes decide what it is).
pub const UPLOAD_CONTENT_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
/// Products with the same image named on one (more are not listed).
const SAME_IMAGE_LISTED: usize = 10;
/// Times a processed image is written again when the product changed meanwhile.
const WRITE_ATTEMPTS: usize = 5;
/// Times a store's photo is written again when its item changed meanwhile (with a growing
/// pause: an item's stock may change many times a minute; the write is cheap, the decode
/// a redelivery would repeat is not).
const PHOTO_WRITE_ATTEMPTS: u32 = 10;

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
    /// The store whose item the photo is for (absent for a product's image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<StoreId>,
    pub product_id: ProductId,
    pub upload_id: String,
    pub upload: PresignedRequest,
}

/// What an upload is an image of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOf {
    Product(ProductId),
    /// A store's photo of its item of the product.
    Item(StoreId, ProductId),
}

/// Longest uploader `sub` carried in an upload's key (longer ones are recorded as the
/// processing function: the key must stay within S3's and [`BlobKey`]'s limits).
const MAX_SUB_IN_KEY: usize = 128;

/// What an upload key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey {
    pub of: ImageOf,
    /// The upload's id (UUIDv7: its text sorts by time).
    pub upload_id: String,
    /// Who asked for the upload: the history entry's actor.
    pub uploader: Option<Actor>,
}

/// The last segment of an upload's key: `<upload id>.<role>.<sub in hex>`. Who asked for the
/// upload travels in its key because the presigned URL fixes the key: a client cannot upload
/// under another's name, and nothing else needs storing until the upload lands.
fn upload_name(upload_id: &str, who: &Principal) -> String {
    if who.sub.len() > MAX_SUB_IN_KEY {
        return upload_id.to_string();
    }
    let sub: String = who.sub.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{upload_id}.{}.{sub}", who.role.as_str())
}

/// The uploader an upload name's `<role>.<sub in hex>` says.
fn uploader(role: &str, sub_hex: &str) -> Option<Actor> {
    let role = Role::parse(role)?;
    if sub_hex.is_empty() || sub_hex.len() % 2 == 1 || sub_hex.len() > 2 * MAX_SUB_IN_KEY {
        return None;
    }
    let bytes = (0..sub_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(sub_hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(Actor {
        sub: String::from_utf8(bytes).ok()?,
        role: role.as_str().to_string(),
        request_id: None,
    })
}

/// What an upload key names: the image's subject, the upload's id and its uploader.
pub fn parse_image_upload_key(key: &str) -> Option<UploadKey> {
    let (of, name) = if let Some(rest) = key.strip_prefix(UPLOAD_PREFIX) {
        let (product, name) = rest.split_once('/')?;
        (ImageOf::Product(ProductId::parse(product).ok()?), name)
    } else {
        let rest = key.strip_prefix(STORE_UPLOAD_PREFIX)?;
        let (store, rest) = rest.split_once('/')?;
        let (product, name) = rest.split_once('/')?;
        let store = StoreId::parse(store).ok()?;
        (ImageOf::Item(store, ProductId::parse(product).ok()?), name)
    };
    let mut parts = name.split('.');
    let upload = parts.next()?;
    let by = match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => None,
        (Some(role), Some(sub), None) => Some(uploader(role, sub)?),
        _ => return None,
    };
    let valid = !upload.is_empty()
        && upload.len() <= 64
        && upload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| UploadKey {
        of,
        upload_id: upload.to_string(),
        uploader: by,
    })
}

/// What a processed upload changed.
#[derive(Debug, Clone)]
pub enum ProcessedUpload {
    /// The product as it now is (`None`: it is gone).
    Product(Option<Box<Product>>),
    /// The item as it now is (`None`: the store no longer stocks the product).
    Item(Option<Box<InventoryItem>>),
    /// The upload was processed before (it is gone).
    Gone,
    /// The key is not an image upload's.
    NotAnUpload,
}

impl ProcessedUpload {
    /// `ready` or `failed`, when the subject says what became of an upload.
    pub fn status(&self) -> Option<&str> {
        match self {
            ProcessedUpload::Product(p) => {
                p.as_ref()?.image_state.as_ref().map(|s| s.status.as_str())
            }
            ProcessedUpload::Item(i) => i
                .as_ref()?
                .details
                .photo
                .as_ref()
                .map(|p| p.state.status.as_str()),
            ProcessedUpload::Gone | ProcessedUpload::NotAnUpload => None,
        }
    }
}

/// Checks what a client says of the file it is about to upload.
fn check_upload(req: &ImageUploadRequest) -> ServiceResult<()> {
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
    Ok(())
}

fn internal(e: impl ToString) -> ServiceError {
    ServiceError::Internal(StorageError::backend(e.to_string()))
}

/// Whether `product` already says what became of upload `upload_id` or of a later one
/// (upload ids are UUIDv7: their text sorts by time).
fn superseded(product: &Product, upload_id: &str) -> bool {
    product
        .image_state
        .as_ref()
        .is_some_and(|s| s.supersedes(upload_id))
}

/// The same for an item's photo.
fn photo_superseded(item: &InventoryItem, upload_id: &str) -> bool {
    item.details
        .photo
        .as_ref()
        .is_some_and(|p| p.state.supersedes(upload_id))
}

/// The URLs of a processed image's three images (root-relative: served on the API's origin).
fn urls(done: &images::Processed) -> ImageUrls {
    let url = |r| format!("/{}", done.key(r));
    ImageUrls {
        original: url(Rendition::Original),
        thumbnail: url(Rendition::Thumbnail),
        medium: url(Rendition::Medium),
    }
}

/// The actor of a processed upload's history entry when its key does not say who uploaded it.
fn processor() -> Actor {
    Actor::system("image-process")
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
        check_upload(&req)?;
        self.presigned_upload(who, &format!("{UPLOAD_PREFIX}{id}"), None, id, &req)
            .await
    }

    /// An upload URL for a store's own photo of its item. Admins and the store's owners; the
    /// store must stock the product.
    pub async fn request_item_photo(
        &self,
        who: &Principal,
        store: &StoreId,
        product: &ProductId,
        req: ImageUploadRequest,
    ) -> ServiceResult<ImageUpload> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        self.inventory
            .get(store, product)
            .await
            .map_err(ServiceError::storage)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "inventory item",
                id: format!("{store}/{product}"),
            })?;
        check_upload(&req)?;
        self.presigned_upload(
            who,
            &format!("{STORE_UPLOAD_PREFIX}{store}/{product}"),
            Some(store),
            product,
            &req,
        )
        .await
    }

    /// A presigned PUT under `prefix` for a new upload.
    async fn presigned_upload(
        &self,
        who: &Principal,
        prefix: &str,
        store: Option<&StoreId>,
        product: &ProductId,
        req: &ImageUploadRequest,
    ) -> ServiceResult<ImageUpload> {
        // Time-ordered: of two uploads processed out of order, the later one's image stays.
        let upload_id = uuid::Uuid::now_v7().to_string();
        let name = upload_name(&upload_id, who);
        let key = BlobKey::parse(&format!("{prefix}/{name}")).map_err(internal)?;
        let upload = self
            .images
            .presign_put(&key, &req.content_type, req.content_length, UPLOAD_TTL)
            .await
            .map_err(ServiceError::storage)?;
        Ok(ImageUpload {
            store_id: store.cloned(),
            product_id: *product,
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

    /// Processes the upload at `key` of the images bucket, whatever it is an image of.
    pub async fn process_upload(&self, key: &str) -> ServiceResult<ProcessedUpload> {
        let Some(UploadKey {
            of,
            upload_id,
            uploader,
        }) = parse_image_upload_key(key)
        else {
            tracing::warn!(key, "not an image upload key; ignored");
            return Ok(ProcessedUpload::NotAnUpload);
        };
        let blob_key = BlobKey::parse(key).map_err(internal)?;
        let by = uploader.unwrap_or_else(processor);
        match of {
            ImageOf::Product(id) => {
                self.process_product_image(&id, &upload_id, &by, &blob_key)
                    .await
            }
            ImageOf::Item(store, product) => {
                self.process_item_photo(&store, &product, &upload_id, &by, &blob_key)
                    .await
            }
        }
    }

    /// The upload at `blob_key` processed (`None`: it is gone, processed before): its images,
    /// or why it is not a usable image.
    async fn processed(
        &self,
        blob_key: &BlobKey,
    ) -> ServiceResult<Option<Result<images::Processed, ImageRefused>>> {
        let Some(blob) = self
            .images
            .get(blob_key)
            .await
            .map_err(ServiceError::storage)?
        else {
            return Ok(None);
        };
        if blob.bytes.len() as u64 > MAX_UPLOAD_BYTES {
            return Ok(Some(Err(ImageRefused::Corrupt(format!(
                "the file is {} bytes; at most {MAX_UPLOAD_BYTES}",
                blob.bytes.len()
            )))));
        }
        let bytes = blob.bytes;
        let outcome = match tokio::task::spawn_blocking(move || images::process(&bytes)).await {
            Ok(outcome) => outcome,
            // A decoder that panics on a file is a file that cannot be read: recorded as
            // such, not retried until the dead-letter queue.
            Err(e) if e.is_panic() => {
                tracing::error!(upload = %blob_key, "the image decoder panicked");
                Err(ImageRefused::Corrupt(
                    "the decoder failed on this file".into(),
                ))
            }
            Err(e) => return Err(internal(e)),
        };
        if let Ok(done) = &outcome {
            for r in Rendition::ALL {
                let key = BlobKey::parse(&done.key(r)).map_err(internal)?;
                let e = done.rendition(r);
                self.images
                    .put_immutable(
                        &key,
                        Bytes::from(e.bytes.clone()),
                        e.encoding.content_type(),
                    )
                    .await
                    .map_err(ServiceError::storage)?;
            }
        }
        if let Err(refused) = &outcome {
            tracing::info!(upload = %blob_key, code = refused.code(), "image upload refused");
        }
        Ok(Some(outcome))
    }

    /// A product's image upload: the product says what became of it.
    async fn process_product_image(
        &self,
        product_id: &ProductId,
        upload_id: &str,
        by: &Actor,
        blob_key: &BlobKey,
    ) -> ServiceResult<ProcessedUpload> {
        // An upload older than the one the product reflects (queues do not keep order) is
        // not processed: the later image stays.
        if let Some(current) = self
            .products
            .get(product_id)
            .await
            .map_err(ServiceError::storage)?
            && superseded(&current, upload_id)
        {
            self.images
                .delete(blob_key)
                .await
                .map_err(ServiceError::storage)?;
            return Ok(ProcessedUpload::Product(Some(Box::new(current))));
        }
        let Some(outcome) = self.processed(blob_key).await? else {
            return Ok(ProcessedUpload::Gone);
        };
        let product = match outcome {
            Ok(done) => {
                let same: Vec<ProductId> = self
                    .products
                    .with_image_hash(&done.hash, SAME_IMAGE_LISTED + 1)
                    .await
                    .map_err(ServiceError::storage)?
                    .into_iter()
                    .filter(|p| p != product_id)
                    .take(SAME_IMAGE_LISTED)
                    .collect();
                let similar = self.similar_images(product_id, &done).await?;
                let image = NewImage {
                    hash: done.hash.clone(),
                    urls: urls(&done),
                    perceptual_hash: done.perceptual.to_hex(),
                    same_image_as: same,
                    similar_image_as: similar,
                    upload_id: upload_id.to_string(),
                };
                self.record_image(product_id, upload_id, by, |p, now| {
                    p.with_image(image.clone(), now)
                })
                .await?
            }
            Err(refused) => {
                let (code, detail) = (refused.code(), refused.to_string());
                self.record_image(product_id, upload_id, by, |p, now| {
                    p.with_image_failure(upload_id, code, &detail, now)
                })
                .await?
            }
        };
        self.images
            .delete(blob_key)
            .await
            .map_err(ServiceError::storage)?;
        Ok(ProcessedUpload::Product(product.map(Box::new)))
    }

    /// A store's photo of its item: the item's `photo` says what became of it.
    async fn process_item_photo(
        &self,
        store: &StoreId,
        product: &ProductId,
        upload_id: &str,
        by: &Actor,
        blob_key: &BlobKey,
    ) -> ServiceResult<ProcessedUpload> {
        let current = self
            .inventory
            .get(store, product)
            .await
            .map_err(ServiceError::storage)?;
        // An item removed has nothing to show the photo on.
        let stale = current
            .as_ref()
            .is_none_or(|item| photo_superseded(item, upload_id));
        if stale {
            self.images
                .delete(blob_key)
                .await
                .map_err(ServiceError::storage)?;
            return Ok(ProcessedUpload::Item(current.map(Box::new)));
        }
        let Some(outcome) = self.processed(blob_key).await? else {
            return Ok(ProcessedUpload::Gone);
        };
        let detail = outcome.as_ref().err().map(ToString::to_string);
        let next = |before: Option<&ItemPhoto>, now: Timestamp| {
            let result = match &outcome {
                Ok(done) => Ok((done.hash.clone(), urls(done))),
                Err(refused) => Err((refused.code(), detail.as_deref().unwrap_or_default())),
            };
            ItemPhoto::after(before, upload_id, result, now)
        };
        let item = self
            .record_photo(store, product, upload_id, by, next)
            .await?;
        self.images
            .delete(blob_key)
            .await
            .map_err(ServiceError::storage)?;
        Ok(ProcessedUpload::Item(item.map(Box::new)))
    }

    /// Writes what became of upload `upload_id` onto the store's item, with the item's
    /// version (a concurrent sale or count is never overwritten: the write is made again on
    /// the item as it then is), unless the item says so already. `None`: the item is gone.
    async fn record_photo(
        &self,
        store: &StoreId,
        product: &ProductId,
        upload_id: &str,
        by: &Actor,
        next: impl Fn(Option<&ItemPhoto>, Timestamp) -> ItemPhoto,
    ) -> ServiceResult<Option<InventoryItem>> {
        for attempt in 0..PHOTO_WRITE_ATTEMPTS {
            if attempt > 0 {
                // A busy item (a till selling fast): wait a little longer each time.
                tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
            }
            let Some(current) = self
                .inventory
                .get(store, product)
                .await
                .map_err(ServiceError::storage)?
            else {
                return Ok(None);
            };
            if photo_superseded(&current, upload_id) {
                return Ok(Some(current));
            }
            let now = Timestamp::now();
            let mut details = current.details.clone();
            details.photo = Some(next(current.details.photo.as_ref(), now));
            let set = SetItem {
                details,
                expect: Expect::Version(current.version),
                origin: MovementOrigin::new(MovementKind::Put, &by.sub),
                product: None,
                at: now,
            };
            match self.inventory.put(store, product, &set).await {
                Ok(done) => return Ok(Some(done.item)),
                Err(StorageError::VersionConflict { current: Some(_) }) => continue,
                Err(StorageError::VersionConflict { current: None } | StorageError::NotFound) => {
                    return Ok(None);
                }
                Err(e) => return Err(ServiceError::storage(e)),
            }
        }
        Err(ServiceError::Unavailable(StorageError::Unavailable(
            format!("item {store}/{product} kept changing while its photo was recorded").into(),
        )))
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

    /// Writes what became of upload `upload_id` onto the product, with its history entry (by
    /// the uploader `by`), unless the product says so already (a redelivery). `None`: the
    /// product is gone.
    async fn record_image(
        &self,
        id: &ProductId,
        upload_id: &str,
        by: &Actor,
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
                by.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_key_says_what_and_who() {
        let product = ProductId::new();
        let who = Principal {
            sub: "owner@store-1".into(),
            role: Role::StoreOwner,
            stores: Default::default(),
            request_id: None,
        };
        let id = "0193a1b2-0000-7000-8000-000000000001";
        let key = format!("{UPLOAD_PREFIX}{product}/{}", upload_name(id, &who));
        assert!(BlobKey::parse(&key).is_ok(), "{key}");
        let parsed = parse_image_upload_key(&key).unwrap();
        assert_eq!(parsed.of, ImageOf::Product(product));
        assert_eq!(parsed.upload_id, id);
        let by = parsed.uploader.unwrap();
        assert_eq!(
            (by.sub.as_str(), by.role.as_str()),
            ("owner@store-1", "store_owner")
        );
        // A key without its uploader (an older upload) is still one.
        let bare = parse_image_upload_key(&format!("{UPLOAD_PREFIX}{product}/{id}")).unwrap();
        assert_eq!(bare.uploader, None);
        // A store's photo.
        let key = format!(
            "{STORE_UPLOAD_PREFIX}store-1/{product}/{}",
            upload_name(id, &who)
        );
        assert_eq!(
            parse_image_upload_key(&key).unwrap().of,
            ImageOf::Item(StoreId::parse("store-1").unwrap(), product)
        );
        // Not ones: an unknown role, odd hex, extra parts.
        for name in [
            format!("{id}.wizard.41"),
            format!("{id}.admin.4"),
            format!("{id}.admin.41.x"),
        ] {
            let key = format!("{UPLOAD_PREFIX}{product}/{name}");
            assert!(parse_image_upload_key(&key).is_none(), "{name}");
        }
    }
}
