//! `PATCH /v1/products/{product_id}`: the `products-update` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_UPDATE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_UPDATE).await
}
