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

use super::{health, images, inventory, jobs, matching, openapi, products, review, scan};
use crate::app::App;
use crate::http::ApiError;

/// One route and the Lambda function (and crate under `functions/`) that serves it.
pub struct Route {
    pub function: &'static str,
    endpoint: fn() -> UtoipaMethodRouter<Arc<App>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (method, path) = self.method_path();
        write!(f, "{method} {path} ({})", self.function)
    }
}

impl Route {
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
    endpoint: || routes!(health::get),
};
pub static HEALTH_READY: Route = Route {
    function: "health-ready",
    endpoint: || routes!(health::ready),
};
pub static OPENAPI: Route = Route {
    function: "openapi",
    endpoint: || routes!(openapi::get),
};
pub static PRODUCTS_CREATE: Route = Route {
    function: "products-create",
    endpoint: || routes!(products::create),
};
pub static PRODUCTS_LIST: Route = Route {
    function: "products-list",
    endpoint: || routes!(products::list),
};
pub static PRODUCTS_MATCH: Route = Route {
    function: "products-match",
    endpoint: || routes!(matching::get),
};
pub static PRODUCTS_GET: Route = Route {
    function: "products-get",
    endpoint: || routes!(products::get),
};
pub static PRODUCTS_UPDATE: Route = Route {
    function: "products-update",
    endpoint: || routes!(products::update),
};
pub static PRODUCTS_APPROVE: Route = Route {
    function: "products-approve",
    endpoint: || routes!(products::approve),
};
pub static PRODUCTS_REJECT: Route = Route {
    function: "products-reject",
    endpoint: || routes!(products::reject),
};
pub static PRODUCTS_IMAGE_UPLOAD: Route = Route {
    function: "products-image-upload",
    endpoint: || routes!(images::upload),
};
pub static INVENTORY_IMAGE_UPLOAD: Route = Route {
    function: "inventory-image-upload",
    endpoint: || routes!(images::upload_item_photo),
};
pub static PRODUCTS_MERGE: Route = Route {
    function: "products-merge",
    endpoint: || routes!(products::merge),
};
pub static REVIEW_QUEUE: Route = Route {
    function: "review-queue",
    endpoint: || routes!(review::queue),
};
pub static REVIEW_DECISIONS: Route = Route {
    function: "review-decisions",
    endpoint: || routes!(review::decisions),
};
pub static PRODUCTS_HISTORY: Route = Route {
    function: "products-history",
    endpoint: || routes!(products::history),
};
pub static INVENTORY_LIST: Route = Route {
    function: "inventory-list",
    endpoint: || routes!(inventory::list),
};
pub static INVENTORY_GET: Route = Route {
    function: "inventory-get",
    endpoint: || routes!(inventory::get),
};
pub static INVENTORY_PUT: Route = Route {
    function: "inventory-put",
    endpoint: || routes!(inventory::put),
};
pub static INVENTORY_DELETE: Route = Route {
    function: "inventory-delete",
    endpoint: || routes!(inventory::delete),
};
pub static INVENTORY_ADJUST: Route = Route {
    function: "inventory-adjust",
    endpoint: || routes!(inventory::adjust),
};
pub static INVENTORY_EXPORT: Route = Route {
    function: "inventory-export",
    endpoint: || routes!(inventory::export),
};
pub static INVENTORY_MOVEMENTS: Route = Route {
    function: "inventory-movements",
    endpoint: || routes!(inventory::movements),
};
pub static SCAN: Route = Route {
    function: "scan",
    endpoint: || routes!(scan::post),
};
pub static SCAN_BATCH: Route = Route {
    function: "scan-batch",
    endpoint: || routes!(scan::batch),
};
pub static IMPORTS_CREATE: Route = Route {
    function: "imports-create",
    endpoint: || routes!(jobs::create),
};
pub static IMPORTS_LIST: Route = Route {
    function: "imports-list",
    endpoint: || routes!(jobs::list),
};
pub static JOBS_GET: Route = Route {
    function: "jobs-get",
    endpoint: || routes!(jobs::get),
};

/// The longest a function's init waits for its warm-up (Lambda allows an init 10 s).
pub const WARM_UP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

impl Route {
    /// Does at a function's init what the route's first request would otherwise wait for: the
    /// match index (products-match and review-queue; a failure, or more than [`WARM_UP_BUDGET`], is logged and
    /// the first request tries again) and the OpenAPI document.
    pub async fn warm_up(&'static self, app: &App) {
        if std::ptr::eq(self, &PRODUCTS_MATCH) || std::ptr::eq(self, &REVIEW_QUEUE) {
            match tokio::time::timeout(WARM_UP_BUDGET, app.catalog.match_index()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "no match index at init; the first request loads it")
                }
                Err(_) => tracing::warn!(
                    budget_ms = WARM_UP_BUDGET.as_millis() as u64,
                    "the match index did not load at init; the first request loads it"
                ),
            }
        } else if std::ptr::eq(self, &OPENAPI) {
            openapi::warm_up();
        }
    }
}

/// Every route, in the order the README lists them.
pub static ALL: &[&Route] = &[
    &HEALTH,
    &HEALTH_READY,
    &OPENAPI,
    &PRODUCTS_CREATE,
    &PRODUCTS_LIST,
    &PRODUCTS_MATCH,
    &PRODUCTS_GET,
    &PRODUCTS_UPDATE,
    &PRODUCTS_APPROVE,
    &PRODUCTS_REJECT,
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
];

/// The route a Lambda function serves, by function name.
pub fn by_function(name: &str) -> Option<&'static Route> {
    ALL.iter().copied().find(|r| r.function == name)
}

fn collect<'a>(routes: impl IntoIterator<Item = &'a Route>) -> OpenApiRouter<Arc<App>> {
    routes.into_iter().fold(
        OpenApiRouter::with_openapi(crate::http::openapi::frame()),
        |r, route| r.routes((route.endpoint)()),
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
