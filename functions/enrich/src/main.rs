//! The `enrich` Lambda function: products created with a barcode the catalog did not know are
//! looked up in Open Food Facts (messages of the enrich queue), and an hourly schedule asks
//! again for lookups a lost message left queued. The handler is
//! `catalog_core::triggers::ENRICH`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::ENRICH).await
}
