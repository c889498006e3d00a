//! `POST /v1/auth/token`: the `auth-token` Lambda function. The handler is
//! `catalog_core::api::routes::AUTH_TOKEN`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::AUTH_TOKEN).await
}
