//! `POST /v1/review/decisions`: the `review-decisions` Lambda function. The handler is
//! `catalog_core::api::routes::REVIEW_DECISIONS`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::REVIEW_DECISIONS).await
}
