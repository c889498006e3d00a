//! `POST /v1/stores/{store_id}/devices`: the `store-devices-add` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_DEVICES_ADD`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_DEVICES_ADD).await
}
