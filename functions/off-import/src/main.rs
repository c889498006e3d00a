//! The `off-import` Lambda function: an Open Food Facts export uploaded under `off/` in the
//! uploads bucket is loaded into the catalog, over as many runs as it takes (each hands over
//! to the next before its deadline). The handler is `catalog_core::triggers::OFF_IMPORT`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::OFF_IMPORT).await
}
