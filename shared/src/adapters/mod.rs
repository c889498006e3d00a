//! Adapters: the ports implemented on real storage.
//!
//! - `dynamo` + `s3`: DynamoDB tables and S3 buckets (every Lambda function), over the one
//!   HTTPS client and SDK configuration of `aws_http`.
//! - `events`: job events on EventBridge and SQS (the import function).
//! - `sqlite` + `blobdir`: an SQLite file and a folder (the local default behind `make run`).
//! - `sms`: where sign-in codes leave (SNS in AWS, the log locally).
//! - `off`: Open Food Facts' product API and image server (the enrichment's source).
//! - `queues`: where products go for their OFF lookup (SQS in AWS, a task locally).
//! - `webhook_http`: webhook deliveries over HTTPS, reaching public addresses only (in AWS).
//!
//! `records` is the stored shape both families share and `stock` the stock writes they plan
//! from what they read, so they cannot drift apart; the storage
//! contract tests run the same cases on both.

#[cfg(feature = "aws")]
pub mod aws_http;
pub mod blobdir;
#[cfg(feature = "aws")]
pub mod dynamo;
#[cfg(feature = "aws")]
pub mod events;
pub mod off;
pub mod queues;
pub mod records;
#[cfg(feature = "aws")]
pub mod s3;
pub mod sms;
#[cfg(feature = "embedded")]
pub mod sqlite;
pub mod stock;
pub mod webhook_http;
