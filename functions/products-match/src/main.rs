//! `GET /v1/products/match`: the `products-match` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_MATCH`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_MATCH).await
}
