//! `GET /v1/products/{product_id}/history`: the `products-history` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_HISTORY`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_HISTORY).await
}
