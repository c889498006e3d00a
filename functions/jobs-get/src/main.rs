//! `GET /v1/jobs/{job_id}`: the `jobs-get` Lambda function. The handler is
//! `catalog_core::api::routes::JOBS_GET`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::JOBS_GET).await
}
