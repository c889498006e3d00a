//! `GET /v1/products/{product_id}`: the `products-get` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_GET`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_GET).await
}
