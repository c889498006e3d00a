//! The extractors every handler takes its input through, each rejecting with the API's
//! problem+json errors ([`ApiError`](super::ApiError)):
//!
//! | extractor | reads | fails with |
//! |---|---|---|
//! | [`Caller`] | `Authorization: Bearer <JWT or kck_ key>`, verified | 401 `token_*`, `key_*`; 403 `forbidden_key_scope`; 429 |
//! | [`Id<T>`] | one path parameter (`product_id`, `store_id`, `job_id`) | 422 `invalid_id` on `path.<name>` |
//! | [`Query<T>`] | the query string, strictly (no unknown or repeated names) | 422 on `query.<name>` |
//! | [`Paged<T>`] | the same, plus `cursor` and `limit` | 422 on `query.<name>` |
//! | [`JsonBody<T>`], [`MergePatch<T>`] | a JSON body of at most [`MAX_JSON_BODY_BYTES`] | 415, 413, 400 `malformed_json`, 422 |
//! | [`IfMatch`], [`RequireIfMatch`], [`IfNoneMatch`], [`Idempotency`] | the conditional and idempotency headers | 400, 422 on `header.<name>`, 428 |
//! | [`ClientIp`] | the caller's address (API Gateway's `sourceIp`, the socket's peer) | never |
//! | [`Deadline`] | when the edge gives up on the request | never |
//!
//! Handlers list the caller first, so a request without a valid token gets 401 before anything
//! else about it is judged. The path and header extractors document themselves (`IntoParams`),
//! so a handler's `#[utoipa::path]` names them (`params(Id<StoreId>, IfMatch)`) instead of
//! describing them again.

mod caller;
mod client;
mod deadline;
mod headers;
mod json;
mod path;
mod query;

pub use caller::{Caller, RouteKeys, Verifiers};
pub use client::ClientIp;
pub use deadline::Deadline;
pub use headers::{Idempotency, IfMatch, IfNoneMatch, RequireIfMatch};
pub use json::{JsonBody, MAX_JSON_BODY_BYTES, MergePatch};
pub use path::{Id, PathParam};
pub use query::{NoFilters, PageParams, Paged, Query, flag, whole_number};
