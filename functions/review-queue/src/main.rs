//! `GET /v1/review`: the `review-queue` Lambda function. The handler is
//! `catalog_core::api::routes::REVIEW_QUEUE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::REVIEW_QUEUE).await
}
