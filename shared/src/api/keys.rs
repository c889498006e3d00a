//! A store's integration keys (`/v1/stores/{store_id}/keys`): its owners make one for a
//! program (the key shown once), list them with their last use, and revoke one. The program
//! sends the key as its bearer token; `Caller` checks it on every request.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::key::{DEFAULT_REQUESTS_PER_MINUTE, MAX_KEY_NAME_CHARS, REQUESTS_PER_MINUTE};
use crate::domain::{FieldErrors, KeyId, KeyScope, StoreId, clean_text};
use crate::http::extract::{Caller, Id, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::accounts::{CreatedKey, KeyView, NewKey};

/// A key to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// What the owner calls it (the program it is for), up to 60 characters.
    #[schema(value_type = String, required, example = "Counter POS")]
    name: Option<String>,
    /// What it may do: one or more of `catalog:read`, `inventory:read`, `inventory:write`,
    /// `imports`, `webhooks`.
    #[schema(value_type = Vec<KeyScope>, required, min_items = 1, example = json!(["inventory:read", "inventory:write"]))]
    scopes: Option<Vec<String>>,
    /// Its rate limit, 1 to 6000 requests a minute (600 when absent), in bursts of up to a
    /// sixth of it (at least 10).
    #[schema(minimum = 1, maximum = 6000, example = 600)]
    requests_per_minute: Option<i64>,
}

/// A store's integration keys.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first; a revoked key stays listed for 90 days.
    pub items: Vec<KeyView>,
}

impl NewKeyBody {
    fn check(self) -> Result<NewKey, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.check(
            "name",
            clean_text(
                self.name.as_deref().unwrap_or(""),
                MAX_KEY_NAME_CHARS,
                false,
            ),
        );
        let mut scopes = BTreeSet::new();
        match self.scopes.as_deref() {
            None | Some([]) => errors.add(
                "scopes",
                "required",
                "give at least one scope: catalog:read, inventory:read, inventory:write, imports, webhooks",
            ),
            Some(given) => {
                for (i, s) in given.iter().enumerate() {
                    match KeyScope::parse(s) {
                        Some(scope) => {
                            scopes.insert(scope);
                        }
                        None => errors.add(
                            format!("scopes[{i}]"),
                            "unknown_scope",
                            format!(
                                "'{}' is not a scope; the scopes are catalog:read, inventory:read, inventory:write, imports, webhooks",
                                s.chars().take(40).collect::<String>()
                            ),
                        ),
                    }
                }
            }
        }
        let rpm = self
            .requests_per_minute
            .unwrap_or(i64::from(DEFAULT_REQUESTS_PER_MINUTE));
        let rpm = match u32::try_from(rpm) {
            Ok(r) if REQUESTS_PER_MINUTE.contains(&r) => r,
            _ => {
                errors.add(
                    "requests_per_minute",
                    "out_of_range",
                    format!(
                        "must be from {} to {} requests a minute",
                        REQUESTS_PER_MINUTE.start(),
                        REQUESTS_PER_MINUTE.end()
                    ),
                );
                0
            }
        };
        match name {
            Some(name) if errors.is_empty() => Ok(NewKey {
                name,
                scopes,
                requests_per_minute: rpm,
            }),
            _ => Err(errors),
        }
    }
}

/// `POST /v1/stores/{store_id}/keys` (admins, the store's owners): a new key, shown once.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/keys", operation_id = "store-keys-create", tag = "accounts",
    summary = "Make an integration key for a program (a POS, an accounting tool)",
    description = "Admins and the store's owners. The program sends `secret` as `Authorization: Bearer kck_...` and may call the operations that list one of the key's `scopes` under the `integrationKey` scheme, for this store only, within its rate limit (`429 rate_limited` with `Retry-After` beyond it). Only the key's MAC is kept: `secret` is shown this once. At most 20 keys a store that are not revoked.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    request_body(content = NewKeyBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The key and its secret (shown once)", body = CreatedKey, headers(("Location" = String))),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`store_not_found`"),
        (status = 409, description = "`too_many_keys`"),
    ),
)]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    JsonBody(body): JsonBody<NewKeyBody>,
) -> ApiResult {
    let new = body.check()?;
    let created = app.accounts.create_key(&who, &store, new).await?;
    let location = format!("/v1/stores/{store}/keys/{}", created.key.key_id);
    Ok(response::with_location(
        response::json(StatusCode::CREATED, created),
        &location,
    ))
}

/// `GET /v1/stores/{store_id}/keys` (admins, the store's owners).
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/keys", operation_id = "store-keys-list", tag = "accounts",
    summary = "A store's integration keys and when each was last used",
    description = "Admins and the store's owners. Every key, oldest first (a revoked one for 90 days after its revocation), with its scopes, rate limit, `status` (`active` or `revoked`) and `last_used_at` (its last request let through). Never the secret.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
) -> ApiResult {
    let items = app.accounts.list_keys(&who, &store).await?;
    Ok(response::json(StatusCode::OK, KeyList { items }))
}

/// `DELETE /v1/stores/{store_id}/keys/{key_id}` (admins, the store's owners).
#[utoipa::path(
    delete, path = "/v1/stores/{store_id}/keys/{key_id}", operation_id = "store-keys-revoke", tag = "accounts",
    summary = "Revoke an integration key",
    description = "Admins and the store's owners. The key's next request is refused (`401 key_revoked`). Revoking a revoked key changes nothing.",
    security(("bearer" = [])),
    params(Id<StoreId>, Id<KeyId>),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`key_not_found`"),
    ),
)]
pub async fn revoke(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(key): Id<KeyId>,
) -> ApiResult {
    app.accounts.revoke_key(&who, &store, &key).await?;
    Ok(response::no_content())
}
