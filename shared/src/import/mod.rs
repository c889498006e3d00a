//! Bulk CSV import: a store's stock list, read as it streams, matched to the catalog row by
//! row, written in batches, resumable.
//!
//! - `reader`: bytes to rows (encodings, delimiters, header synonyms, row validation);

pub mod reader;
