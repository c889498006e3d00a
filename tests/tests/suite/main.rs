//! The workspace's integration tests, as one test binary. Each module is one suite (its own
//! docs say what it covers); test names start with the suite, then the backend where a suite
//! runs on several: `api::aws::...`, `storage_contract::embedded::...`.
//!
//! One binary rather than a file per suite under `tests/`: each of those was a separate link
//! of the whole crate graph (the AWS SDKs, SQLite, the image codecs), nine links' time and
//! disk in every cold `make test` for nothing. nextest still runs every test in its own
//! process.

/// Runs each `async fn case(api: &TestApi)` of the calling suite through the API on both
/// backends: `embedded::case` (SQLite, a blob folder) and `aws::case` (DynamoDB Local,
/// ministack).
macro_rules! api_cases {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&catalog_tests::TestApi::embedded().await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&catalog_tests::TestApi::aws().await).await
                }
            )*
        }
    };
}

/// Runs each `async fn case(s: &Stores)` of the calling suite on both storage backends: in the
/// module named first (SQLite) and in `dynamodb` (DynamoDB Local): the storage contract.
macro_rules! store_cases {
    ($embedded:ident: $($case:ident),* $(,)?) => {
        mod $embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&catalog_tests::embedded_stores().await).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&catalog_tests::dynamo_stores().await).await
                }
            )*
        }
    };
}

mod accounts;
mod api;
mod blob_contract;
mod cold_start;
mod deadlines;
mod edge;
mod enrichment;
mod events;
mod images;
mod imports;
mod keys;
mod match_index;
mod off_import;
mod storage_contract;
mod webhooks;
