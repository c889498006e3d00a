//! `POST /v1/products/{product_id}/reject`: the `products-reject` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_REJECT`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_REJECT).await
}
