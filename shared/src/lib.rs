//! The catalog backend's library crate.
//!
//! Data flows one way: request or event -> `http` (parse, authenticate) -> `services` (rules,
//! authorization) -> `ports` (traits) -> `adapters` (DynamoDB + S3 in AWS, SQLite + a blob folder
//! locally). Functions under `functions/` only pick a route and run it.

pub mod adapters;
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod domain;
pub mod error_chain;
pub mod http;
pub mod images;
pub mod import;
#[cfg(feature = "aws")]
pub mod lambda;
#[cfg(feature = "embedded")]
pub mod local;
pub mod matching;
pub mod metrics;
pub mod off;
pub mod ports;
pub mod services;
pub mod triggers;
