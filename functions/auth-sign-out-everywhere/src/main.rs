//! `POST /v1/auth/sign-out-everywhere`: the `auth-sign-out-everywhere` Lambda function. The handler is
//! `catalog_core::api::routes::AUTH_SIGN_OUT_EVERYWHERE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::AUTH_SIGN_OUT_EVERYWHERE).await
}
