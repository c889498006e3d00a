//! The route table: one entry per API Gateway route, each served by its own Lambda function.
//!
//! A route's method, path and parameters come from its handler's `#[utoipa::path]`
//! (`utoipa_axum::routes!` registers the handler and its document together), so the router,
//! the OpenAPI document, `catalog describe` and the infra check cannot disagree. The handler's
//! `operation_id` is the function's name.

use std::sync::Arc;

use axum::Router;
use http::Method;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use super::{
    accounts, auth, devices, health, images, inventory, jobs, keys, matching, openapi, products,
    review, scan, webhooks,
};
use crate::app::App;
use crate::domain::KeyScope::{
    self, CatalogRead, Imports, InventoryRead, InventoryWrite, Webhooks,
};
use crate::http::ApiError;
use crate::http::extract::RouteKeys;

/// One route and the Lambda function (and crate under `functions/`) that serves it.
pub struct Route {
    pub function: &'static str,
    endpoint: fn() -> UtoipaMethodRouter<Arc<App>>,
    /// The integration-key scopes that may call it (any one of them); none: no key may, only
    /// a person's or a device's access token (`Caller` refuses a key with
    /// `forbidden_key_scope`). Default deny: a new route is closed to keys until it says so.
    pub keys: &'static [KeyScope],
    /// What the function's init starts doing before its first request needs it (see
    /// [`Route::warm_up`]). A field, not a match on the route, so that a function's binary
    /// links only its own route's code.
    warm_up: Option<WarmUp>,
}

/// A route's warm-up.
type WarmUp = for<'a> fn(&'a App) -> futures::future::BoxFuture<'a, ()>;

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (method, path) = self.method_path();
        write!(f, "{method} {path} ({})", self.function)
    }
}

impl Route {
    /// The handler's router and document with the integration-key scopes that may call it: on
    /// each of its requests (the [`RouteKeys`] extension `Caller` reads) and in its document (a
    /// security requirement beside the bearer token's).
    fn keyed_endpoint(&self) -> UtoipaMethodRouter<Arc<App>> {
        let (schemas, mut paths, method_router) = (self.endpoint)();
        if !self.keys.is_empty() {
            for item in paths.paths.values_mut() {
                crate::http::openapi::accept_keys(item, self.keys);
            }
        }
        let method_router = method_router.layer(axum::Extension(RouteKeys(self.keys)));
        (schemas, paths, method_router)
    }

    /// The method and path template (`/v1/products/{product_id}`), from the handler's document.
    pub fn method_path(&self) -> (Method, String) {
        let (_, paths, _) = (self.endpoint)();
        let (path, item) = paths
            .paths
            .into_iter()
            .next()
            .expect("a route documents its path");
        let method = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ]
        .into_iter()
        .find_map(|(m, has)| has.then_some(m))
        .expect("a route documents its method");
        (method, path)
    }
}

pub static HEALTH: Route = Route {
    function: "health",
    keys: &[],
    endpoint: || routes!(health::get),
    warm_up: None,
};
pub static HEALTH_READY: Route = Route {
    function: "health-ready",
    keys: &[],
    endpoint: || routes!(health::ready),
    warm_up: None,
};
pub static OPENAPI: Route = Route {
    function: "openapi",
    keys: &[],
    endpoint: || routes!(openapi::get),
    warm_up: None,
};
pub static PRODUCTS_CREATE: Route = Route {
    function: "products-create",
    keys: &[],
    endpoint: || routes!(products::create),
    warm_up: None,
};
pub static PRODUCTS_LIST: Route = Route {
    function: "products-list",
    keys: &[CatalogRead],
    endpoint: || routes!(products::list),
    warm_up: None,
};
pub static PRODUCTS_CHANGES: Route = Route {
    function: "products-changes",
    keys: &[CatalogRead],
    endpoint: || routes!(products::changes),
    warm_up: None,
};
pub static PRODUCTS_MATCH: Route = Route {
    function: "products-match",
    keys: &[CatalogRead],
    endpoint: || routes!(matching::get),
    warm_up: Some(warm_match_index),
};
pub static PRODUCTS_GET: Route = Route {
    function: "products-get",
    keys: &[CatalogRead],
    endpoint: || routes!(products::get),
    warm_up: None,
};
pub static PRODUCTS_UPDATE: Route = Route {
    function: "products-update",
    keys: &[],
    endpoint: || routes!(products::update),
    warm_up: None,
};
pub static PRODUCTS_APPROVE: Route = Route {
    function: "products-approve",
    keys: &[],
    endpoint: || routes!(products::approve),
    warm_up: None,
};
pub static PRODUCTS_LOOKUP: Route = Route {
    function: "products-lookup",
    keys: &[],
    endpoint: || routes!(products::lookup),
    warm_up: None,
};
pub static PRODUCTS_REJECT: Route = Route {
    function: "products-reject",
    keys: &[],
    endpoint: || routes!(products::reject),
    warm_up: None,
};
pub static PRODUCTS_IMAGE_UPLOAD: Route = Route {
    function: "products-image-upload",
    keys: &[],
    endpoint: || routes!(images::upload),
    warm_up: None,
};
pub static INVENTORY_IMAGE_UPLOAD: Route = Route {
    function: "inventory-image-upload",
    keys: &[InventoryWrite],
    endpoint: || routes!(images::upload_item_photo),
    warm_up: None,
};
pub static PRODUCTS_MERGE: Route = Route {
    function: "products-merge",
    keys: &[],
    endpoint: || routes!(products::merge),
    warm_up: None,
};
pub static REVIEW_QUEUE: Route = Route {
    function: "review-queue",
    keys: &[],
    endpoint: || routes!(review::queue),
    warm_up: Some(warm_match_index),
};
pub static REVIEW_DECISIONS: Route = Route {
    function: "review-decisions",
    keys: &[],
    endpoint: || routes!(review::decisions),
    warm_up: None,
};
pub static PRODUCTS_HISTORY: Route = Route {
    function: "products-history",
    keys: &[],
    endpoint: || routes!(products::history),
    warm_up: None,
};
pub static INVENTORY_LIST: Route = Route {
    function: "inventory-list",
    keys: &[InventoryRead],
    endpoint: || routes!(inventory::list),
    warm_up: None,
};
pub static INVENTORY_GET: Route = Route {
    function: "inventory-get",
    keys: &[InventoryRead],
    endpoint: || routes!(inventory::get),
    warm_up: None,
};
pub static INVENTORY_PUT: Route = Route {
    function: "inventory-put",
    keys: &[InventoryWrite],
    endpoint: || routes!(inventory::put),
    warm_up: None,
};
pub static INVENTORY_DELETE: Route = Route {
    function: "inventory-delete",
    keys: &[InventoryWrite],
    endpoint: || routes!(inventory::delete),
    warm_up: None,
};
pub static INVENTORY_ADJUST: Route = Route {
    function: "inventory-adjust",
    keys: &[InventoryWrite],
    endpoint: || routes!(inventory::adjust),
    warm_up: None,
};
pub static INVENTORY_EXPORT: Route = Route {
    function: "inventory-export",
    keys: &[InventoryRead],
    endpoint: || routes!(inventory::export),
    warm_up: None,
};
pub static INVENTORY_MOVEMENTS: Route = Route {
    function: "inventory-movements",
    keys: &[InventoryRead],
    endpoint: || routes!(inventory::movements),
    warm_up: None,
};
pub static SCAN: Route = Route {
    function: "scan",
    keys: &[InventoryWrite],
    endpoint: || routes!(scan::post),
    warm_up: None,
};
pub static SCAN_BATCH: Route = Route {
    function: "scan-batch",
    keys: &[InventoryWrite],
    endpoint: || routes!(scan::batch),
    warm_up: None,
};
pub static IMPORTS_CREATE: Route = Route {
    function: "imports-create",
    keys: &[Imports],
    endpoint: || routes!(jobs::create),
    warm_up: None,
};
pub static IMPORTS_LIST: Route = Route {
    function: "imports-list",
    keys: &[Imports],
    endpoint: || routes!(jobs::list),
    warm_up: None,
};
pub static JOBS_GET: Route = Route {
    function: "jobs-get",
    keys: &[Imports, InventoryRead],
    endpoint: || routes!(jobs::get),
    warm_up: None,
};

pub static STORES_CREATE: Route = Route {
    function: "stores-create",
    keys: &[],
    endpoint: || routes!(accounts::create_store),
    warm_up: None,
};
pub static STORES_GET: Route = Route {
    function: "stores-get",
    keys: &[],
    endpoint: || routes!(accounts::get_store),
    warm_up: None,
};
pub static STORE_MEMBERS_ADD: Route = Route {
    function: "store-members-add",
    keys: &[],
    endpoint: || routes!(accounts::add_member),
    warm_up: None,
};
pub static AUTH_CODE: Route = Route {
    function: "auth-code",
    keys: &[],
    endpoint: || routes!(auth::request_code),
    warm_up: None,
};
pub static AUTH_TOKEN: Route = Route {
    function: "auth-token",
    keys: &[],
    endpoint: || routes!(auth::token),
    warm_up: None,
};
pub static AUTH_SIGN_OUT: Route = Route {
    function: "auth-sign-out",
    keys: &[],
    endpoint: || routes!(auth::sign_out),
    warm_up: None,
};
pub static AUTH_SIGN_OUT_EVERYWHERE: Route = Route {
    function: "auth-sign-out-everywhere",
    keys: &[],
    endpoint: || routes!(auth::sign_out_everywhere),
    warm_up: None,
};

pub static STORE_DEVICES_ADD: Route = Route {
    function: "store-devices-add",
    keys: &[],
    endpoint: || routes!(devices::add),
    warm_up: None,
};
pub static STORE_DEVICES_LIST: Route = Route {
    function: "store-devices-list",
    keys: &[],
    endpoint: || routes!(devices::list),
    warm_up: None,
};
pub static STORE_DEVICES_REVOKE: Route = Route {
    function: "store-devices-revoke",
    keys: &[],
    endpoint: || routes!(devices::revoke),
    warm_up: None,
};
pub static STORE_KEYS_CREATE: Route = Route {
    function: "store-keys-create",
    keys: &[],
    endpoint: || routes!(keys::create),
    warm_up: None,
};
pub static STORE_KEYS_LIST: Route = Route {
    function: "store-keys-list",
    keys: &[],
    endpoint: || routes!(keys::list),
    warm_up: None,
};
pub static STORE_KEYS_REVOKE: Route = Route {
    function: "store-keys-revoke",
    keys: &[],
    endpoint: || routes!(keys::revoke),
    warm_up: None,
};
pub static STORE_WEBHOOKS_CREATE: Route = Route {
    function: "store-webhooks-create",
    keys: &[Webhooks],
    endpoint: || routes!(webhooks::create),
    warm_up: None,
};
pub static STORE_WEBHOOKS_LIST: Route = Route {
    function: "store-webhooks-list",
    keys: &[Webhooks],
    endpoint: || routes!(webhooks::list),
    warm_up: None,
};
pub static STORE_WEBHOOKS_DELETE: Route = Route {
    function: "store-webhooks-delete",
    keys: &[Webhooks],
    endpoint: || routes!(webhooks::delete),
    warm_up: None,
};
pub static STORE_WEBHOOK_DELIVERIES: Route = Route {
    function: "store-webhook-deliveries",
    keys: &[Webhooks],
    endpoint: || routes!(webhooks::deliveries),
    warm_up: None,
};
pub static USERS_UPDATE: Route = Route {
    function: "users-update",
    keys: &[],
    endpoint: || routes!(accounts::update_user),
    warm_up: None,
};

impl Route {
    /// Prepares what the route's requests need besides the app: the match index for
    /// products-match and review-queue, the OpenAPI document for openapi. `lambda` starts it
    /// when the app is made (or, ahead of any request, waits for it at init).
    pub async fn warm_up(&self, app: &App) {
        if let Some(warm_up) = self.warm_up {
            warm_up(app).await;
        }
    }
}

fn warm_match_index(app: &App) -> futures::future::BoxFuture<'_, ()> {
    Box::pin(app.catalog.warm_match_index())
}

/// Every route, in the order the README lists them.
pub static ALL: &[&Route] = &[
    &HEALTH,
    &HEALTH_READY,
    &OPENAPI,
    &PRODUCTS_CREATE,
    &PRODUCTS_LIST,
    &PRODUCTS_MATCH,
    &PRODUCTS_CHANGES,
    &PRODUCTS_GET,
    &PRODUCTS_UPDATE,
    &PRODUCTS_APPROVE,
    &PRODUCTS_REJECT,
    &PRODUCTS_LOOKUP,
    &PRODUCTS_MERGE,
    &PRODUCTS_HISTORY,
    &PRODUCTS_IMAGE_UPLOAD,
    &INVENTORY_IMAGE_UPLOAD,
    &REVIEW_QUEUE,
    &REVIEW_DECISIONS,
    &INVENTORY_LIST,
    &INVENTORY_EXPORT,
    &INVENTORY_GET,
    &INVENTORY_PUT,
    &INVENTORY_DELETE,
    &INVENTORY_ADJUST,
    &INVENTORY_MOVEMENTS,
    &SCAN,
    &SCAN_BATCH,
    &IMPORTS_CREATE,
    &IMPORTS_LIST,
    &JOBS_GET,
    &STORES_CREATE,
    &STORES_GET,
    &STORE_MEMBERS_ADD,
    &AUTH_CODE,
    &AUTH_TOKEN,
    &AUTH_SIGN_OUT,
    &AUTH_SIGN_OUT_EVERYWHERE,
    &STORE_DEVICES_ADD,
    &STORE_DEVICES_LIST,
    &STORE_DEVICES_REVOKE,
    &STORE_KEYS_CREATE,
    &STORE_KEYS_LIST,
    &STORE_KEYS_REVOKE,
    &STORE_WEBHOOKS_CREATE,
    &STORE_WEBHOOKS_LIST,
    &STORE_WEBHOOKS_DELETE,
    &STORE_WEBHOOK_DELIVERIES,
    &USERS_UPDATE,
];

/// The route a Lambda function serves, by function name.
pub fn by_function(name: &str) -> Option<&'static Route> {
    ALL.iter().copied().find(|r| r.function == name)
}

fn collect<'a>(routes: impl IntoIterator<Item = &'a Route>) -> OpenApiRouter<Arc<App>> {
    routes.into_iter().fold(
        OpenApiRouter::with_openapi(crate::http::openapi::frame()),
        |r, route| r.routes(route.keyed_endpoint()),
    )
}

/// The router serving `routes` (a Lambda function its own; `catalog serve` all), answering any
/// other path with 404 `route_not_found`. The caller adds the edge's layers
/// ([`crate::http::layers::apply`]).
pub fn router<'a>(app: Arc<App>, routes: impl IntoIterator<Item = &'a Route>) -> Router {
    let (router, _) = collect(routes).split_for_parts();
    router
        .fallback(|method: Method, uri: http::Uri| async move {
            ApiError::RouteNotFound {
                method: method.to_string(),
                path: uri.path().to_string(),
            }
        })
        .with_state(app)
}

/// The OpenAPI 3.1 document of every route, as JSON.
pub fn document() -> serde_json::Value {
    let mut doc = collect(ALL.iter().copied()).into_openapi();
    crate::http::openapi::finish(&mut doc);
    crate::http::openapi::to_json(&doc)
}

/// The document as `catalog openapi` prints it and `shared/openapi.json` holds it: pretty,
/// with a final newline.
pub fn document_text() -> String {
    serde_json::to_string_pretty(&document()).expect("the OpenAPI document serializes") + "\n"
}
