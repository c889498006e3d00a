//! `GET /v1/products`: the `products-list` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_LIST`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_LIST).await
}
