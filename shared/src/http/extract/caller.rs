//! [`Caller`]: the verified bearer credential of a request: an access token (a JWT) or a
//! store's integration key.

use axum::extract::FromRequestParts;
use http::header;
use http::request::Parts;

use crate::auth::{AuthError, Principal, TokenKeys};
use crate::domain::KeyScope;
use crate::http::ApiError;
use crate::services::accounts::{Accounts, INTEGRATION_KEY_PREFIX};

/// What the router's state gives [`Caller`] to check credentials with.
pub trait Verifiers {
    /// Verifies access tokens (JWTs).
    fn tokens(&self) -> &TokenKeys;
    /// Checks integration keys (a storage read and a write each).
    fn keys(&self) -> &Accounts;
}

/// The integration-key scopes that may call the matched route (`api::routes` puts it on each
/// route's requests); a route without it takes no key.
#[derive(Debug, Clone, Copy)]
pub struct RouteKeys(pub &'static [KeyScope]);

/// The caller, from a bearer credential verified with what the router's state holds, with the
/// request's id (what it writes records it). Its `sub` is recorded on the request's log span.
///
/// A credential starting `kck_` is an integration key: it is looked up, checked against the
/// route's [`RouteKeys`] and its rate limit taken (`key_invalid`, `key_revoked`: 401;
/// `forbidden_key_scope`: 403; `rate_limited`: 429). Anything else must be a JWT.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Verifiers + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?;
        let mut principal = if token.starts_with(INTEGRATION_KEY_PREFIX) {
            let reaches = parts.extensions.get::<RouteKeys>().map_or(&[][..], |k| k.0);
            state.keys().authenticate_key(token, reaches).await?
        } else {
            state.tokens().verify(token)?
        };
        tracing::Span::current().record("sub", principal.sub.as_str());
        principal.request_id = parts
            .extensions
            .get::<tower_http::request_id::RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(str::to_string);
        Ok(Caller(principal))
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case).
fn bearer(headers: &http::HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn only_bearer_tokens_are_read() {
        assert_eq!(bearer(&headers("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(&headers("Basic abc")), Err(AuthError::NotBearer));
        assert_eq!(bearer(&headers("Bearer ")), Err(AuthError::NotBearer));
        assert_eq!(bearer(&http::HeaderMap::new()), Err(AuthError::Missing));
    }
}
