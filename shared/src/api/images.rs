//! Image routes: `POST /v1/products/{product_id}/images`, the presigned upload of a product's
//! image (what becomes of it: [`crate::services::images`]).

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::{FieldErrors, ProductId};
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
    let mut errors = FieldErrors::new();
    if body.content_length.is_none() {
        errors.add(
            "content_length",
            "required",
            "content_length (the file's size in bytes) is required",
        );
    }
    if body.content_type.is_none() {
        errors.add(
            "content_type",
            "required",
            "content_type (image/jpeg, image/png or image/webp) is required",
        );
    }
    errors.finish(|| ())?;
    let upload: ImageUpload = app
        .catalog
        .request_product_image(
            &who,
            &id,
            ImageUploadRequest {
                content_length: body.content_length.unwrap_or_default(),
                content_type: body.content_type.unwrap_or_default(),
            },
        )
        .await?;
    Ok(response::json(StatusCode::CREATED, upload))
}
