//! `POST /v1/products/{product_id}/merge`: the `products-merge` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_MERGE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_MERGE).await
}
