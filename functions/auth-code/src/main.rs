//! `POST /v1/auth/code`: the `auth-code` Lambda function. The handler is
//! `catalog_core::api::routes::AUTH_CODE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::AUTH_CODE).await
}
