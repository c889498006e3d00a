//! The `csv-import` Lambda function: S3 notifications of uploaded CSVs (through the import
//! queue) run the bulk import; a run near its deadline queues its own continuation. The handler
//! is `catalog_core::triggers::CSV_IMPORT`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::CSV_IMPORT).await
}
