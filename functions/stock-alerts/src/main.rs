//! The `stock-alerts` Lambda function: every minute, announces the stock alerts of movements
//! whose own function did not (it died, or EventBridge failed it). The handler is
//! `catalog_core::triggers::STOCK_ALERTS`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::STOCK_ALERTS).await
}
