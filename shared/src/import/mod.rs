//! Bulk CSV import: a store's stock list, read as it streams, matched to the catalog row by
//! row, written in batches, resumable. The pieces here are pure; the service that runs them
//! against storage is `services::imports`.
//!
//! - `reader`: bytes to rows (encodings, delimiters, header synonyms, row validation);
//! - `plan`: each row to its catalog product, a new pending product, or a duplicate;
//! - `state`: what a run remembers and saves when it hands the rest of a file on;
//! - `report`: the error report CSV.

pub mod plan;
pub mod reader;
pub mod report;
pub mod state;
