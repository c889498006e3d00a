//! The route table: one entry per API Gateway route, each served by its own function.

use http::Method;

use super::{health, inventory, jobs, matching, products, scan};
use crate::http::Route;

macro_rules! route {
    ($name:ident, $function:literal, $method:ident, $path:literal, $handler:path) => {
        pub static $name: Route = Route {
            function: $function,
            method: Method::$method,
            path: $path,
            handler: |app, req| Box::pin($handler(app, req)),
        };
    };
}

route!(HEALTH, "health", GET, "/v1/health", health::get);
route!(
    PRODUCTS_CREATE,
    "products-create",
    POST,
    "/v1/products",
    products::create
);
route!(
    PRODUCTS_LIST,
    "products-list",
    GET,
    "/v1/products",
    products::list
);
route!(
    PRODUCTS_MATCH,
    "products-match",
    GET,
    "/v1/products/match",
    matching::get
);
route!(
    PRODUCTS_GET,
    "products-get",
    GET,
    "/v1/products/{product_id}",
    products::get
);
route!(
    PRODUCTS_UPDATE,
    "products-update",
    PATCH,
    "/v1/products/{product_id}",
    products::update
);
route!(
    INVENTORY_LIST,
    "inventory-list",
    GET,
    "/v1/stores/{store_id}/inventory",
    inventory::list
);
route!(
    INVENTORY_GET,
    "inventory-get",
    GET,
    "/v1/stores/{store_id}/inventory/{product_id}",
    inventory::get
);
route!(
    INVENTORY_PUT,
    "inventory-put",
    PUT,
    "/v1/stores/{store_id}/inventory/{product_id}",
    inventory::put
);
route!(
    INVENTORY_DELETE,
    "inventory-delete",
    DELETE,
    "/v1/stores/{store_id}/inventory/{product_id}",
    inventory::delete
);
route!(
    INVENTORY_ADJUST,
    "inventory-adjust",
    POST,
    "/v1/stores/{store_id}/inventory/{product_id}/adjustments",
    inventory::adjust
);
route!(SCAN, "scan", POST, "/v1/scan", scan::post);
route!(
    IMPORTS_CREATE,
    "imports-create",
    POST,
    "/v1/stores/{store_id}/imports",
    jobs::create
);
route!(
    IMPORTS_LIST,
    "imports-list",
    GET,
    "/v1/stores/{store_id}/imports",
    jobs::list
);
route!(JOBS_GET, "jobs-get", GET, "/v1/jobs/{job_id}", jobs::get);

/// Every route, in the order the README lists them.
pub static ALL: &[&Route] = &[
    &HEALTH,
    &PRODUCTS_CREATE,
    &PRODUCTS_LIST,
    &PRODUCTS_MATCH,
    &PRODUCTS_GET,
    &PRODUCTS_UPDATE,
    &INVENTORY_LIST,
    &INVENTORY_GET,
    &INVENTORY_PUT,
    &INVENTORY_DELETE,
    &INVENTORY_ADJUST,
    &SCAN,
    &IMPORTS_CREATE,
    &IMPORTS_LIST,
    &JOBS_GET,
];

/// The route a Lambda function serves, by function name.
pub fn by_function(name: &str) -> Option<&'static Route> {
    ALL.iter().copied().find(|r| r.function == name)
}
