//! A store's scanner devices (`/v1/stores/{store_id}/devices`): its owners add one (and get
//! its one-time pairing code, to show as a QR code), list them, and revoke one. The device
//! pairs itself through `POST /v1/auth/token` (`auth`).

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::account::MAX_DEVICE_NAME_CHARS;
use crate::domain::{DeviceId, FieldErrors, StoreId, clean_text};
use crate::http::extract::{Caller, Id, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::accounts::{DeviceView, PairingView};

/// A device to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceBody {
    /// What the owner calls it, up to 60 characters.
    #[schema(value_type = String, required, example = "Counter scanner")]
    name: Option<String>,
}

/// A store's devices.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DeviceList {
    /// Oldest first: paired, waiting to pair, expired and revoked ones.
    pub items: Vec<DeviceView>,
}

/// `POST /v1/stores/{store_id}/devices` (admins, the store's owners): a new device and its
/// pairing code.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/devices", operation_id = "store-devices-add", tag = "accounts",
    summary = "Add a scanner device: get its one-time pairing code",
    description = "Admins and the store's owners. Show `pairing_code` to the device (a QR code); the device sends it once to `POST /v1/auth/token` (`grant_type` `pairing_code`) within 10 minutes and is signed in as the store's scanner from then on, refreshing as a person does, until an owner revokes it. At most 50 devices a store (paired or waiting).",
    security(("bearer" = [])),
    params(Id<StoreId>),
    request_body(content = NewDeviceBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The device and its pairing code (shown once)", body = PairingView, headers(("Location" = String))),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`store_not_found`"),
        (status = 409, description = "`too_many_devices`"),
    ),
)]
pub async fn add(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    JsonBody(body): JsonBody<NewDeviceBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let name = errors.check(
        "name",
        clean_text(
            body.name.as_deref().unwrap_or(""),
            MAX_DEVICE_NAME_CHARS,
            false,
        ),
    );
    let (Some(name), true) = (name, errors.is_empty()) else {
        return Err(errors.into());
    };
    let pairing = app.accounts.add_device(&who, &store, name).await?;
    let location = format!("/v1/stores/{store}/devices/{}", pairing.device.device_id);
    Ok(response::with_location(
        response::json(StatusCode::CREATED, pairing),
        &location,
    ))
}

/// `GET /v1/stores/{store_id}/devices` (admins, the store's owners).
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/devices", operation_id = "store-devices-list", tag = "accounts",
    summary = "A store's scanner devices",
    description = "Admins and the store's owners. Every device the store has had (at most 200 records), oldest first, with its `status`: `pending` (its code is still good), `expired`, `paired` or `revoked`.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    responses(
        (status = 200, description = "The devices", body = DeviceList),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
) -> ApiResult {
    let items = app.accounts.list_devices(&who, &store).await?;
    Ok(response::json(StatusCode::OK, DeviceList { items }))
}

/// `DELETE /v1/stores/{store_id}/devices/{device_id}` (admins, the store's owners).
#[utoipa::path(
    delete, path = "/v1/stores/{store_id}/devices/{device_id}", operation_id = "store-devices-revoke", tag = "accounts",
    summary = "Revoke a scanner device",
    description = "Admins and the store's owners. The device's session ends: its refresh is refused at once (`device_revoked`), and its access token expires within 15 minutes. To scan again it must be added and paired anew. Revoking a revoked device changes nothing.",
    security(("bearer" = [])),
    params(Id<StoreId>, Id<DeviceId>),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`device_not_found`"),
    ),
)]
pub async fn revoke(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(device): Id<DeviceId>,
) -> ApiResult {
    app.accounts.revoke_device(&who, &store, &device).await?;
    Ok(response::no_content())
}
