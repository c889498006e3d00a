//! `PATCH /v1/users/{user_id}`: the `users-update` Lambda function. The handler is
//! `catalog_core::api::routes::USERS_UPDATE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::USERS_UPDATE).await
}
