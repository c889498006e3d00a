//! The routes of the public API and their handlers.
//!
//! Each handler reads the request (`http::request`), calls one service, and writes the
//! response; validation of shapes happens here, rules and authorization in the services.
//! [`routes::ALL`] is the route table the Lambda functions, the local server, the SAM template
//! check and the README all follow.

mod bodies;
pub mod health;
pub mod inventory;
pub mod jobs;
pub mod matching;
pub mod products;
pub mod routes;
pub mod scan;
