//! The workspace's integration tests, as one test binary. Each module is one suite (its own
//! docs say what it covers); test names start with the suite, then the backend where a suite
//! runs on several: `api::aws::...`, `storage_contract::embedded::...`.
//!
//! One binary rather than a file per suite under `tests/`: each of those was a separate link
//! of the whole crate graph (the AWS SDKs, SQLite, the image codecs), nine links' time and
//! disk in every cold `make test` for nothing. nextest still runs every test in its own
//! process.

mod accounts;
mod api;
mod blob_contract;
mod cold_start;
mod deadlines;
mod edge;
mod events;
mod images;
mod imports;
mod storage_contract;
