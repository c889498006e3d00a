//! `DELETE /v1/stores/{store_id}/devices/{device_id}`: the `store-devices-revoke` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_DEVICES_REVOKE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_DEVICES_REVOKE).await
}
