//! `GET /v1/products/changes`: the `products-changes` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_CHANGES`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_CHANGES).await
}
