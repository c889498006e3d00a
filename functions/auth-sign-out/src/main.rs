//! `POST /v1/auth/sign-out`: the `auth-sign-out` Lambda function. The handler is
//! `catalog_core::api::routes::AUTH_SIGN_OUT`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::AUTH_SIGN_OUT).await
}
