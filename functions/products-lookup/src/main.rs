//! `POST /v1/products/{product_id}/lookup`: the `products-lookup` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_LOOKUP`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_LOOKUP).await
}
