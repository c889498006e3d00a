//! Stores and their people, and signing in: the routes under `/v1/stores` that manage stores as
//! records, and `/v1/auth/*`.
//!
//! The sign-in routes take no bearer token (they are how one is obtained); each is limited per
//! client address by the service. Bodies are read as raw strings and validated here, so every
//! wrong field is reported at once.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::account::{MAX_DISPLAY_NAME_CHARS, MAX_STORE_NAME_CHARS};
use crate::domain::{FieldErrors, Phone, RegionCode, StoreId, StoreRole, clean_text};
use crate::http::extract::{Caller, ClientIp, Id, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::accounts::{Invitee, MemberView, NewStore, StoreView, TokenPair};

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

/// Ask for a sign-in code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestBody {
    #[schema(value_type = String, required, example = "+919876543210")]
    phone: Option<String>,
}

/// Trade a code (`grant_type` `code`) or a refresh token (`refresh_token`) for a token pair.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequestBody {
    /// `code` (with `phone` and `code`) or `refresh_token` (with `refresh_token`).
    #[schema(value_type = String, required, example = "code")]
    grant_type: Option<String>,
    #[schema(value_type = String, example = "+919876543210")]
    phone: Option<String>,
    /// The 6 digits the SMS carried.
    #[schema(value_type = String, example = "042917")]
    code: Option<String>,
    refresh_token: Option<String>,
}

/// End the session a refresh token belongs to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOutBody {
    #[schema(value_type = String, required)]
    refresh_token: Option<String>,
}

fn phone_field(errors: &mut FieldErrors, v: Option<String>) -> Option<Phone> {
    match v {
        Some(p) => errors.check("phone", Phone::parse(&p)),
        None => {
            errors.add("phone", "required", "phone is required");
            None
        }
    }
}

fn required_text(errors: &mut FieldErrors, field: &str, v: Option<String>) -> Option<String> {
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

/// `POST /v1/auth/code`: sends a sign-in code by SMS to a number the catalog knows.
#[utoipa::path(
    post, path = "/v1/auth/code", operation_id = "auth-code", tag = "accounts",
    summary = "Ask for a sign-in code by SMS",
    description = "No token. Answers 202 whether or not the number belongs to a user (only a user's number gets the SMS). The code has 6 digits, is good for 10 minutes and 5 tries; a new code replaces the last. At most 5 codes per number and 30 per client address an hour.",
    request_body(content = CodeRequestBody, content_type = "application/json"),
    responses(
        (status = 202, description = "If the number is a user's, the code is on its way"),
        (status = 429, description = "`rate_limited` (with `Retry-After`)"),
        (status = 503, description = "`unavailable`: storage or SMS is busy or unreachable; retry (`Retry-After`)"),
    ),
)]
pub async fn request_code(
    State(app): State<Arc<App>>,
    ClientIp(from): ClientIp,
    JsonBody(body): JsonBody<CodeRequestBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let Some(phone) = phone_field(&mut errors, body.phone) else {
        return Err(errors.into());
    };
    app.accounts.request_code(&phone, from).await?;
    Ok(response::json(
        StatusCode::ACCEPTED,
        serde_json::json!({"status": "sent_if_known", "expires_in": crate::domain::account::CODE_TTL.whole_seconds()}),
    ))
}

/// `POST /v1/auth/token`: a sign-in code or a refresh token for an access token and the next
/// refresh token.
#[utoipa::path(
    post, path = "/v1/auth/token", operation_id = "auth-token", tag = "accounts",
    summary = "Sign in with a code, or refresh",
    description = "No token. `grant_type` `code` (with `phone` and `code`) starts a session; `refresh_token` (with `refresh_token`) continues one and rotates the refresh token: the one sent is spent, and sending it again ends the session. The access token lasts 15 minutes; the session 30 days from sign-in. At most 60 codes tried per client address an hour.",
    request_body(content = TokenRequestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The token pair", body = TokenPair),
        (status = 401, description = "`code_invalid`, `refresh_token_invalid`, `refresh_token_reused`, `session_ended`, `user_disabled`"),
        (status = 403, description = "`forbidden_no_membership`"),
        (status = 429, description = "`rate_limited` (with `Retry-After`)"),
        (status = 503, description = "`unavailable`: storage is busy or unreachable; retry (`Retry-After`)"),
    ),
)]
pub async fn token(
    State(app): State<Arc<App>>,
    ClientIp(from): ClientIp,
    JsonBody(body): JsonBody<TokenRequestBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let pair = match body.grant_type.as_deref() {
        Some("code") => {
            let phone = phone_field(&mut errors, body.phone);
            let code = required_text(&mut errors, "code", body.code);
            if body.refresh_token.is_some() {
                errors.add(
                    "refresh_token",
                    "not_allowed",
                    "refresh_token goes with grant_type refresh_token",
                );
            }
            let (Some(phone), Some(code), true) = (phone, code, errors.is_empty()) else {
                return Err(errors.into());
            };
            app.accounts.sign_in(&phone, &code, from).await?
        }
        Some("refresh_token") => {
            let token = required_text(&mut errors, "refresh_token", body.refresh_token);
            for (field, present) in [
                ("phone", body.phone.is_some()),
                ("code", body.code.is_some()),
            ] {
                if present {
                    errors.add(
                        field,
                        "not_allowed",
                        format!("{field} goes with grant_type code"),
                    );
                }
            }
            let (Some(token), true) = (token, errors.is_empty()) else {
                return Err(errors.into());
            };
            app.accounts.refresh(&token).await?
        }
        Some(other) => {
            return Err(FieldErrors::single(
                "grant_type",
                "invalid_grant_type",
                format!(
                    "grant_type must be code or refresh_token, not '{}'",
                    other.chars().take(40).collect::<String>()
                ),
            )
            .into());
        }
        None => {
            return Err(FieldErrors::single(
                "grant_type",
                "required",
                "grant_type is required (code or refresh_token)",
            )
            .into());
        }
    };
    Ok(response::json(StatusCode::OK, pair))
}

/// `POST /v1/auth/sign-out`: ends the session of a refresh token (204 for any token, as
/// RFC 7009 asks, so it tells nothing about tokens).
#[utoipa::path(
    post, path = "/v1/auth/sign-out", operation_id = "auth-sign-out", tag = "accounts",
    summary = "Sign out this device",
    description = "No bearer token: the refresh token is the proof. Its session ends (no refresh works again); the access token already issued lasts until it expires (15 minutes at most). 204 for any token.",
    request_body(content = SignOutBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Signed out"),
        (status = 503, description = "`unavailable`: storage is busy or unreachable; retry (`Retry-After`)"),
    ),
)]
pub async fn sign_out(
    State(app): State<Arc<App>>,
    JsonBody(body): JsonBody<SignOutBody>,
) -> ApiResult {
    let mut errors = FieldErrors::new();
    let (Some(token), true) = (
        required_text(&mut errors, "refresh_token", body.refresh_token),
        errors.is_empty(),
    ) else {
        return Err(errors.into());
    };
    app.accounts.sign_out(&token).await?;
    Ok(response::no_content())
}

/// `POST /v1/auth/sign-out-everywhere`: ends every session of the signed-in user.
#[utoipa::path(
    post, path = "/v1/auth/sign-out-everywhere", operation_id = "auth-sign-out-everywhere", tag = "accounts",
    summary = "Sign out every device",
    description = "A signed-in user (a token from `POST /v1/auth/token`). Every session of theirs ends: no refresh token issued before now works again; access tokens already issued last until they expire (15 minutes at most).",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 409, description = "`not_a_user` (a token not issued by signing in)"),
    ),
)]
pub async fn sign_out_everywhere(State(app): State<Arc<App>>, Caller(who): Caller) -> ApiResult {
    app.accounts.sign_out_everywhere(&who).await?;
    Ok(response::no_content())
}
