//! Image routes: `POST /v1/products/{product_id}/images`, the presigned upload of a product's
//! image, and `POST /v1/stores/{store_id}/inventory/{product_id}/images`, of a store's own
//! photo of its item (what becomes of them: [`crate::services::images`]).

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{FieldErrors, ProductId, StoreId};
use crate::http::extract::{Caller, Id, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::images::{ImageUpload, ImageUploadRequest};

/// The image a client is about to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewImageBody {
    /// The file's exact size in bytes (at most 15 MiB).
    #[schema(value_type = u64, required, minimum = 1, maximum = 15728640)]
    content_length: Option<u64>,
    /// `image/jpeg`, `image/png` or `image/webp` (the file's bytes decide what it is).
    #[schema(value_type = String, required, pattern = "^image/(jpeg|png|webp)$")]
    content_type: Option<String>,
}

/// `POST /v1/products/{product_id}/images`: 201 with `upload`, the presigned request to send
/// the image with. The product's `image_state` says what became of it.
#[utoipa::path(
    post, path = "/v1/products/{product_id}/images", operation_id = "products-image-upload", tag = "products",
    summary = "Add an image to a product: get a presigned upload for it",
    description = "Admins; a store owner for a pending product they made. PUT the file's exact bytes to `upload.url` with `upload.headers` within 15 minutes. The image is then processed (within seconds): its real format is read from its bytes (JPEG, PNG or WebP), it is turned upright and stripped of its metadata, and kept with a 640 px `medium` and a 160 px `thumbnail`, content-addressed by SHA-256. The product then shows `image_hash`, `canonical_image_urls`, `image_perceptual_hash`, `same_image_as` (other products with the very same image) and `image_state` `ready`; or, for a file that is not a usable image, `image_state` `failed` with its `code` (`image_empty`, `image_unsupported_format`, `image_too_large`, `image_corrupt`).",
    security(("bearer" = [])),
    params(Id<ProductId>),
    request_body(content = NewImageBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The request to upload the image with", body = ImageUpload),
        (status = 403, description = "`forbidden_role` (scanners, reviewers); `forbidden_product`: a store owner's product that is not pending or not theirs"),
        (status = 404, description = "`product_not_found`"),
        (status = 409, description = "`product_merged`: add the image to the product it became"),
        (status = 422, description = "`validation_failed`: `content_length` missing, `empty` or `file_too_large`; `content_type` missing or `unsupported_type`"),
    ),
)]
pub async fn upload(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(id): Id<ProductId>,
    JsonBody(body): JsonBody<NewImageBody>,
) -> ApiResult {
    let upload = app
        .catalog
        .request_product_image(&who, &id, body.checked()?)
        .await?;
    Ok(response::json(StatusCode::CREATED, upload))
}

/// `POST /v1/stores/{store_id}/inventory/{product_id}/images`: 201 with `upload`, the
/// presigned request to send the store's photo of its item with. The item's `photo` says what
/// became of it.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/inventory/{product_id}/images", operation_id = "inventory-image-upload", tag = "inventory",
    summary = "Add the store's own photo of an item: get a presigned upload for it",
    description = "Admins and the store's owners, for an item the store stocks. PUT the file's exact bytes to `upload.url` with `upload.headers` within 15 minutes. The photo is processed as a product's image is (real format from its bytes, upright, without metadata, a 640 px `medium` and a 160 px `thumbnail`, content-addressed by SHA-256), and the item then shows `photo` with `image_hash`, `urls` and `state` `ready`; or `state` `failed` with its `code` (`image_empty`, `image_unsupported_format`, `image_too_large`, `image_corrupt`), the photo before it staying. The catalog product's own image is not changed.",
    security(("bearer" = [])),
    params(Id<StoreId>, Id<ProductId>),
    request_body(content = NewImageBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The request to upload the photo with", body = ImageUpload),
        (status = 403, description = "`forbidden_role` (scanners, reviewers), `forbidden_store`"),
        (status = 404, description = "`inventory_item_not_found`: the store does not stock the product"),
        (status = 422, description = "`validation_failed`: `content_length` missing, `empty` or `file_too_large`; `content_type` missing or `unsupported_type`"),
    ),
)]
pub async fn upload_item_photo(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(product): Id<ProductId>,
    JsonBody(body): JsonBody<NewImageBody>,
) -> ApiResult {
    let upload = app
        .catalog
        .request_item_photo(&who, &store, &product, body.checked()?)
        .await?;
    Ok(response::json(StatusCode::CREATED, upload))
}

impl NewImageBody {
    /// The request, once both fields are there.
    fn checked(self) -> Result<ImageUploadRequest, FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.content_length.is_none() {
            errors.add(
                "content_length",
                "required",
                "content_length (the file's size in bytes) is required",
            );
        }
        if self.content_type.is_none() {
            errors.add(
                "content_type",
                "required",
                "content_type (image/jpeg, image/png or image/webp) is required",
            );
        }
        errors.finish(|| ImageUploadRequest {
            content_length: self.content_length.unwrap_or_default(),
            content_type: self.content_type.unwrap_or_default(),
        })
    }
}
