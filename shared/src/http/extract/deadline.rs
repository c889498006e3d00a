//! [`Deadline`]: when the request must have answered by (its Lambda's deadline less the edge's
//! margin; locally the local budget), for handlers that do many things in a row and would
//! rather answer with what they finished than be cut off.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::FromRequestParts;
use http::request::Parts;
use tokio::time::Instant;

/// The instant the edge gives up on the request (set by the deadline layer; far off when the
/// router runs without it, as in unit tests).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

impl<S: Send + Sync> FromRequestParts<S> for Deadline {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<Deadline>()
            .copied()
            .unwrap_or_else(|| Deadline(Instant::now() + Duration::from_secs(3600))))
    }
}
