//! Signing in: the routes under `/v1/auth`. They take no bearer token (they are how one is
//! had), except signing out everywhere; each is limited per client address by the service.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::accounts::required_text;
use crate::app::App;
use crate::domain::{FieldErrors, Phone};
use crate::http::extract::{Caller, ClientIp, JsonBody};
use crate::http::{ApiResult, response};
use crate::services::accounts::TokenPair;

/// Ask for a sign-in code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestBody {
    #[schema(value_type = String, required, example = "+919876543210")]
    phone: Option<String>,
}

/// Trade a code (`grant_type` `code`), a refresh token (`refresh_token`) or a device's pairing
/// code (`pairing_code`) for a token pair.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequestBody {
    /// `code` (with `phone` and `code`), `refresh_token` (with `refresh_token`) or
    /// `pairing_code` (with `pairing_code`).
    #[schema(value_type = String, required, example = "code")]
    grant_type: Option<String>,
    #[schema(value_type = String, example = "+919876543210")]
    phone: Option<String>,
    /// The 6 digits the SMS carried.
    #[schema(value_type = String, example = "042917")]
    code: Option<String>,
    refresh_token: Option<String>,
    /// A device's one-time pairing code (`kcpc_...`), from the QR code its owner shows.
    pairing_code: Option<String>,
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
    description = "No token. `grant_type` `code` (with `phone` and `code`) starts a person's session; `pairing_code` (with `pairing_code`, once) starts a device's, as its store's scanner; `refresh_token` (with `refresh_token`) continues either and rotates the refresh token: the one sent is spent, and sending it again ends the session. The access token lasts 15 minutes; the session 30 days from its start. At most 60 codes and 60 pairing codes tried per client address an hour.",
    request_body(content = TokenRequestBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The token pair", body = TokenPair),
        (status = 401, description = "`code_invalid`, `pairing_code_invalid`, `refresh_token_invalid`, `refresh_token_reused`, `session_ended`, `user_disabled`, `device_revoked`"),
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
    /// Each grant and the fields it takes; another field given is `not_allowed`.
    const GRANTS: [(&str, &[&str]); 3] = [
        ("code", &["phone", "code"]),
        ("refresh_token", &["refresh_token"]),
        ("pairing_code", &["pairing_code"]),
    ];
    let Some(grant) = body.grant_type.as_deref() else {
        return Err(FieldErrors::single(
            "grant_type",
            "required",
            "grant_type is required (code, refresh_token or pairing_code)",
        )
        .into());
    };
    let Some((grant, takes)) = GRANTS.into_iter().find(|(g, _)| *g == grant) else {
        return Err(FieldErrors::single(
            "grant_type",
            "invalid_grant_type",
            format!(
                "grant_type must be code, refresh_token or pairing_code, not '{}'",
                grant.chars().take(40).collect::<String>()
            ),
        )
        .into());
    };
    let mut errors = FieldErrors::new();
    let given = [
        ("phone", body.phone.is_some()),
        ("code", body.code.is_some()),
        ("refresh_token", body.refresh_token.is_some()),
        ("pairing_code", body.pairing_code.is_some()),
    ];
    for (field, present) in given {
        if present && !takes.contains(&field) {
            errors.add(
                field,
                "not_allowed",
                format!("{field} does not go with grant_type {grant}"),
            );
        }
    }
    let pair = match grant {
        "code" => {
            let phone = phone_field(&mut errors, body.phone);
            let code = required_text(&mut errors, "code", body.code);
            let (Some(phone), Some(code), true) = (phone, code, errors.is_empty()) else {
                return Err(errors.into());
            };
            app.accounts.sign_in(&phone, &code, from).await?
        }
        "refresh_token" => {
            let token = required_text(&mut errors, "refresh_token", body.refresh_token);
            let (Some(token), true) = (token, errors.is_empty()) else {
                return Err(errors.into());
            };
            app.accounts.refresh(&token).await?
        }
        _ => {
            let code = required_text(&mut errors, "pairing_code", body.pairing_code);
            let (Some(code), true) = (code, errors.is_empty()) else {
                return Err(errors.into());
            };
            app.accounts.pair_device(&code, from).await?
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
