//! `POST /v1/products`: the `products-create` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_CREATE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_CREATE).await
}
