//! The OpenAPI 3.1 document's frame and finish. The operations come from the handlers'
//! `#[utoipa::path]` (collected by `api::routes::document`); this module adds what they share:
//! the API's description, the bearer JWT scheme, and the problem responses every operation can
//! give besides its own (authentication, malformed input, limits, storage trouble). Every
//! error response is `application/problem+json` with the [`Problem`] schema.

use utoipa::OpenApi as _;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

use super::{PROBLEM_CONTENT_TYPE, Problem};
use crate::domain::FieldError;

/// The name of the bearer JWT security scheme that protected operations require.
pub const BEARER: &str = "bearer";
/// The name of the integration-key scheme (a bearer `kck_...` key); an operation that takes
/// keys lists it with the scopes that may call it.
pub const INTEGRATION_KEY: &str = "integrationKey";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Kirana catalog API",
        description = "One global catalog of products shared by small retail stores, and each store's \
inventory of them. Every request but the health checks, this document and signing in \
(`/v1/auth/code`, `/v1/auth/token`, `/v1/auth/sign-out`) needs \
`Authorization: Bearer <JWT>` (HS256, issuer `kirana-catalog`) whose `role` is `admin`, \
`store_owner`, `scanner` or `reviewer`; store owners and scanners reach only the stores in their token's \
`store_ids`. People get their tokens by signing in with a code sent by SMS to their number \
(`POST /v1/auth/code`, then `POST /v1/auth/token`): an access token for 15 minutes and a \
refresh token that gives the next pair. Errors are RFC 9457 problems (`application/problem+json`) with a stable `code`. \
Amounts are decimal strings. Lists page with an opaque `next_cursor`. Every response carries \
`X-Request-Id` (yours, if well-formed)."
    ),
    components(schemas(Problem, FieldError, crate::domain::Event)),
    tags(
        (name = "health", description = "Liveness, readiness and this document (no token)"),
        (name = "products", description = "The global catalog"),
        (name = "inventory", description = "Each store's stock"),
        (name = "scans", description = "What barcode scanners saw"),
        (name = "imports", description = "Bulk CSV imports and their jobs"),
        (name = "accounts", description = "Stores as records, their people, and signing in"),
        (name = "webhooks", description = "Stores' subscriptions to their events, and the deliveries (each delivery's body is an `Event`)"),
    )
)]
struct Frame;

/// The document before any operation is added.
pub fn frame() -> OpenApi {
    let mut doc = Frame::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        INTEGRATION_KEY,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("kck_<store_id>.<key_id>.<secret>")
                .description(Some(
                    "A store's integration key (`POST /v1/stores/{store_id}/keys`), sent as \
                         `Authorization: Bearer kck_...`. An operation lists the scopes that may \
                         call it (any one); every other operation refuses keys \
                         (`forbidden_key_scope`).",
                ))
                .build(),
        ),
    );
    doc
}

/// Whether the operation lists the integration-key scheme.
fn takes_keys(op: &Operation) -> bool {
    let Ok(security) = serde_json::to_value(&op.security) else {
        return false;
    };
    security
        .as_array()
        .into_iter()
        .flatten()
        .any(|req| req.get(INTEGRATION_KEY).is_some())
}

/// Marks the operations of `item` as callable with an integration key holding one of `scopes`.
pub fn accept_keys(item: &mut PathItem, scopes: &[crate::domain::KeyScope]) {
    for op in operations(item) {
        op.security
            .get_or_insert_with(Vec::new)
            .push(SecurityRequirement::new(
                INTEGRATION_KEY,
                scopes.iter().map(|s| s.as_str()),
            ));
    }
}

/// The problem responses an operation can give besides its own, by what it takes: a token
/// (401, and 403 for an integration key it does not take; and storage behind it, 503; a key's
/// rate, 429), parameters or a body (400, 422), a body (413, 415), path parameters (404, a
/// path that is no route). The rest of a 403 is the operation's own: only some roles or
/// stores can be refused.
fn shared_problems(op: &Operation) -> Vec<(&'static str, String)> {
    let params = op.parameters.as_deref().unwrap_or_default();
    let takes = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    let has_body = op.request_body.is_some();
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let keyed = takes_keys(op);
    let mut unreadable = Vec::new();
    if has_body {
        unreadable.extend(["`malformed_json`", "`body_unreadable`"]);
    }
    if takes(ParameterIn::Header) {
        unreadable.push("`invalid_header`");
    }
    if params
        .iter()
        .any(|p| p.name == "cursor" || p.name == "since")
    {
        unreadable.push("`invalid_cursor`");
    }
    let mut out = Vec::new();
    if !unreadable.is_empty() {
        out.push((
            "400",
            format!("The request cannot be read: {}", unreadable.join(", ")),
        ));
    }
    if !params.is_empty() || has_body {
        out.push((
            "422",
            "`validation_failed`: `errors` lists the invalid fields (`name`, `query.limit`, \
             `path.product_id`, `header.If-Match`), each with its own code"
                .to_string(),
        ));
    }
    if secured {
        let keys = if keyed {
            "; with an integration key: `key_invalid`, `key_revoked`"
        } else {
            ""
        };
        out.push((
            "401",
            format!(
                "No usable token: `token_missing`, `token_not_bearer`, `token_expired`, \
                 `token_bad_signature`, `token_malformed`{keys}"
            ),
        ));
    }
    if secured {
        out.push((
            "403",
            if keyed {
                "`forbidden_key_scope`: the integration key has none of the scopes listed"
            } else {
                "`forbidden_key_scope`: an integration key (this operation takes none)"
            }
            .to_string(),
        ));
    }
    if takes(ParameterIn::Path) {
        out.push((
            "404",
            "`route_not_found`: a path parameter holding `/`, `?` or `#` (percent-encoded too: \
             a gateway may decode them) makes the path one no route serves"
                .to_string(),
        ));
    }
    if keyed {
        out.push((
            "429",
            "`rate_limited`: the integration key's rate limit; retry after `Retry-After` seconds"
                .to_string(),
        ));
    }
    if has_body {
        out.push(("413", "`body_too_large` (with `limit_bytes`)".to_string()));
        out.push(("415", "`unsupported_media_type`".to_string()));
    }
    out.push(("500", "`internal`: logged, with no detail".to_string()));
    if secured {
        out.push((
            "503",
            "`unavailable`: storage is busy or unreachable; retry (`Retry-After`)".to_string(),
        ));
    }
    out
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

/// Adds the shared problem responses to every operation, and the problem body to every error
/// response that has none.
pub fn finish(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for (status, description) in shared_problems(op) {
                match op.responses.responses.get_mut(status) {
                    // An operation's own 403 says which roles it refuses, its own 404 what it
                    // did not find; a key's refusal and a path that is no route are added.
                    Some(RefOr::T(own)) if status == "403" || status == "404" => {
                        own.description = format!("{}; {description}", own.description);
                    }
                    Some(_) => {}
                    None => {
                        op.responses
                            .responses
                            .insert(status.to_string(), RefOr::T(Response::new(description)));
                    }
                }
            }
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && status.as_str() >= "400"
                    && response.content.is_empty()
                {
                    response
                        .content
                        .insert(PROBLEM_CONTENT_TYPE.to_string(), problem_content());
                }
            }
        }
    }
}

/// The document as JSON. utoipa 5 writes a link's fields in snake case (`operation_id`); the
/// specification's names are camel case (`operationId`), so they are renamed here.
pub fn to_json(doc: &OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    let responses = value["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response.get_mut("links").and_then(|l| l.as_object_mut());
        for link in links.into_iter().flat_map(|l| l.values_mut()) {
            let Some(link) = link.as_object_mut() else {
                continue;
            };
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(snake) {
                    link.insert(camel.to_string(), v);
                }
            }
        }
    }
    value
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}
