//! `POST /v1/products/{product_id}/approve`: the `products-approve` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_APPROVE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_APPROVE).await
}
