//! `DELETE /v1/stores/{store_id}/keys/{key_id}`: the `store-keys-revoke` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_KEYS_REVOKE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_KEYS_REVOKE).await
}
