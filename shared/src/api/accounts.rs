//! Stores as records and their people (`/v1/stores`, `/v1/stores/{store_id}/members`), and an
//! admin's changes to a user (`/v1/users/{user_id}`). Signing in is `auth`, devices `devices`.
//!
//! Bodies are read as raw strings and validated here, so every wrong field is reported at
//! once.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::account::{MAX_DISPLAY_NAME_CHARS, MAX_STORE_NAME_CHARS};
use crate::domain::{FieldErrors, Phone, RegionCode, StoreId, StoreRole, UserId, clean_text};
use crate::http::extract::{Caller, Id, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::accounts::{Invitee, MemberView, NewStore, StoreView, UserView};

/// A person to add: found by their number, created with this name if new.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonBody {
    /// A mobile number: `+919876543210`, or a 10-digit Indian mobile number.
    #[schema(value_type = String, required, example = "+919876543210")]
    phone: Option<String>,
    /// Up to 100 characters; kept as it is when the number is already a user's.
    #[schema(value_type = String, required, example = "Asha Patil")]
    display_name: Option<String>,
}

impl PersonBody {
    fn parse(self, errors: &mut FieldErrors, at: &str) -> Option<Invitee> {
        let phone = match self.phone {
            Some(p) => errors.check(&format!("{at}phone"), Phone::parse(&p)),
            None => {
                errors.add(
                    format!("{at}phone"),
                    "required",
                    format!("{at}phone is required"),
                );
                None
            }
        };
        let name = errors.check(
            &format!("{at}display_name"),
            clean_text(
                self.display_name.as_deref().unwrap_or(""),
                MAX_DISPLAY_NAME_CHARS,
                false,
            ),
        );
        Some(Invitee {
            phone: phone?,
            display_name: name?,
        })
    }
}

/// A new store and its owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStoreBody {
    /// 1 to 64 letters, digits, `-` or `_`: the `store_id` of the store's routes and tokens.
    #[schema(value_type = String, required, example = "asha-kirana-pune")]
    store_id: Option<String>,
    /// Up to 200 characters.
    #[schema(value_type = String, required, example = "Asha Kirana Stores")]
    name: Option<String>,
    /// ISO 3166-2 style: `IN-MH`, `IN-TN` (or a bare country, `IN`).
    #[schema(value_type = String, required, example = "IN-MH")]
    region: Option<String>,
    owner: Option<PersonBody>,
}

/// Someone to add to a store, and their role there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberBody {
    #[schema(value_type = String, required, example = "+919876543210")]
    phone: Option<String>,
    /// Up to 100 characters; kept as it is when the number is already a user's.
    #[schema(value_type = String, required, example = "Ravi")]
    display_name: Option<String>,
    /// `scanner` (scans only) or `store_owner`.
    #[schema(value_type = String, required, example = "scanner")]
    role: Option<String>,
}

pub(super) fn required_text(
    errors: &mut FieldErrors,
    field: &str,
    v: Option<String>,
) -> Option<String> {
    match v {
        Some(s) => Some(s),
        None => {
            errors.add(field, "required", format!("{field} is required"));
            None
        }
    }
}

/// `POST /v1/stores` (admins): 201 with the store and its owner, who can then sign in.
#[utoipa::path(
    post, path = "/v1/stores", operation_id = "stores-create", tag = "accounts",
    summary = "Create a store and its owner",
    description = "Admins. The owner is found by phone number, or added as a new user with the given name; they sign in with a code sent to that number.",
    security(("bearer" = [])),
    request_body(content = NewStoreBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The store and its owner", body = StoreView, headers(("Location" = String))),
        (status = 403, description = "`forbidden_role`"),
        (status = 409, description = "`store_exists`"),
    ),
)]
pub async fn create_store(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<NewStoreBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let store_id = required_text(&mut errors, "store_id", body.store_id)
        .and_then(|s| errors.check("store_id", StoreId::parse(&s)));
    let name = required_text(&mut errors, "name", body.name)
        .and_then(|n| errors.check("name", clean_text(&n, MAX_STORE_NAME_CHARS, false)));
    let region = required_text(&mut errors, "region", body.region).and_then(|r| {
        RegionCode::parse(&r)
            .map_err(|e| errors.add("region", "invalid_region", e))
            .ok()
    });
    let owner = match body.owner {
        Some(o) => o.parse(&mut errors, "owner."),
        None => {
            errors.add("owner", "required", "owner is required");
            None
        }
    };
    let (Some(store_id), Some(name), Some(region), Some(owner), true) =
        (store_id, name, region, owner, errors.is_empty())
    else {
        return Err(errors.into());
    };
    let view = app
        .accounts
        .create_store(
            &who,
            NewStore {
                store_id,
                name,
                region,
                owner,
            },
        )
        .await?;
    let location = format!("/v1/stores/{}", view.store_id);
    Ok(response::with_location(
        response::json(StatusCode::CREATED, view),
        &location,
    ))
}

/// `GET /v1/stores/{store_id}` (admins, the store's owners): the store and its people.
#[utoipa::path(
    get, path = "/v1/stores/{store_id}", operation_id = "stores-get", tag = "accounts",
    summary = "A store and its people",
    description = "Admins and the store's owners.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    responses(
        (status = 200, description = "The store and its members", body = StoreView),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`store_not_found`"),
    ),
)]
pub async fn get_store(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
) -> ApiResult {
    let view = app.accounts.get_store(&who, &store).await?;
    Ok(response::json(StatusCode::OK, view))
}

/// `POST /v1/stores/{store_id}/members` (admins, the store's owners): add someone to the store
/// or change their role there.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/members", operation_id = "store-members-add", tag = "accounts",
    summary = "Add someone to a store, or change their role",
    description = "Admins and the store's owners. The person is found by phone number, or added as a new user; they sign in with a code sent to that number. The store's owner keeps the owner's role.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    request_body(content = NewMemberBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The membership", body = MemberView),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`store_not_found`"),
        (status = 409, description = "`owner_role_fixed`"),
    ),
)]
pub async fn add_member(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    JsonBody(body): JsonBody<NewMemberBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let person = PersonBody {
        phone: body.phone,
        display_name: body.display_name,
    };
    let invitee = person.parse(&mut errors, "");
    let role = required_text(&mut errors, "role", body.role).and_then(|r| {
        let role = StoreRole::parse(&r);
        if role.is_none() {
            errors.add(
                "role",
                "invalid_role",
                "role must be scanner or store_owner",
            );
        }
        role
    });
    let (Some(invitee), Some(role), true) = (invitee, role, errors.is_empty()) else {
        return Err(errors.into());
    };
    let member = app.accounts.add_member(&who, &store, invitee, role).await?;
    Ok(response::json(StatusCode::OK, member))
}

/// An admin's change to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangeBody {
    /// `true`: the user cannot sign in or refresh, and every session of theirs ends (their
    /// access tokens expire within 15 minutes). `false`: they may sign in again.
    #[schema(value_type = bool, required)]
    disabled: Option<bool>,
}

/// `PATCH /v1/users/{user_id}` (admins): disable a user, or enable them again.
#[utoipa::path(
    patch, path = "/v1/users/{user_id}", operation_id = "users-update", tag = "accounts",
    summary = "Disable or enable a user",
    description = "Admins. A disabled user cannot sign in or refresh, and every session of theirs ends at once; access tokens already issued expire within 15 minutes. Enabling lets them sign in again. Users' ids are in a store's member list (`GET /v1/stores/{store_id}`).",
    security(("bearer" = [])),
    params(Id<UserId>),
    request_body(content = UserChangeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 403, description = "`forbidden_role`"),
        (status = 404, description = "`user_not_found`"),
    ),
)]
pub async fn update_user(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(user): Id<UserId>,
    JsonBody(body): JsonBody<UserChangeBody>,
) -> ApiResult {
    let Some(disabled) = body.disabled else {
        return Err(FieldErrors::single(
            "disabled",
            "required",
            "disabled is required (true or false)",
        )
        .into());
    };
    let view = app.accounts.set_disabled(&who, &user, disabled).await?;
    Ok(response::json(StatusCode::OK, view))
}
