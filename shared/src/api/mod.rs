//! The routes of the public API and their handlers.
//!
//! Each handler takes its input through the edge's extractors (`http::extract`), calls one
//! service, and writes the response; validation of shapes happens here, rules and
//! authorization in the services. Each handler's `#[utoipa::path]` documents it;
//! [`routes::ALL`] is the route table the Lambda functions, the local server, the OpenAPI
//! document, the SAM template check and the README all follow.

pub mod accounts;
pub mod auth;
mod bodies;
pub mod devices;
pub mod health;
pub mod images;
pub mod inventory;
pub mod jobs;
pub mod keys;
pub mod matching;
pub mod openapi;
pub mod products;
pub mod review;
pub mod routes;
pub mod scan;
pub mod webhooks;
