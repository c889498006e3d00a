//! `GET /v1/stores/{store_id}/keys`: the `store-keys-list` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_KEYS_LIST`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_KEYS_LIST).await
}
