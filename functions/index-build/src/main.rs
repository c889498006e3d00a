//! The `index-build` Lambda function: on a schedule, rebuilds the matching index from the
//! catalog and writes its snapshot for the matching functions. The handler is
//! `catalog_core::triggers::INDEX_BUILD`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::INDEX_BUILD).await
}
