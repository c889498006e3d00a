//! An error with its causes, for log lines: `storage is unavailable: <the SDK's error>: <why>`.
//! A service error's Display names only its own layer (an API answer must not show storage
//! details), so a log line that printed just that would hide why it happened.

use std::error::Error;
use std::fmt;

/// Displays the error and every `source()` below it, joined by `: `. Text is never repeated:
/// a cause the message above already quotes (thiserror's `"...: {0}"` next to `#[source]`)
/// is skipped, and a cause that quotes the message above replaces it.
pub struct ErrorChain<'a, E: ?Sized>(pub &'a E);

impl<E: Error + ?Sized> fmt::Display for ErrorChain<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![self.0.to_string()];
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            let last = parts.last_mut().expect("one part at least");
            if text.contains(last.as_str()) {
                *last = text;
            } else if !last.contains(&text) {
                parts.push(text);
            }
            next = cause.source();
        }
        f.write_str(&parts.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StorageError;
    use crate::services::ServiceError;

    #[test]
    fn names_every_cause_once() {
        let e = ServiceError::Unavailable(StorageError::Unavailable("connection refused".into()));
        assert_eq!(e.to_string(), "storage is unavailable");
        assert_eq!(
            ErrorChain(&e).to_string(),
            "storage is unavailable: connection refused"
        );
        let io = std::io::Error::other("reset by peer");
        let e = ServiceError::Internal(StorageError::Backend(Box::new(io)));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "internal error: storage failed: reset by peer"
        );
    }

    /// The AWS SDK's errors say only "service error" and keep the service's answer as their
    /// source: what made a line without the chain useless.
    #[test]
    fn reaches_an_sdk_errors_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("service error")]
        struct Sdk(#[source] std::io::Error);
        let answer = std::io::Error::other("NoSuchBucket: the bucket does not exist");
        let e = ServiceError::Unavailable(StorageError::Unavailable(Box::new(Sdk(answer))));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "storage is unavailable: service error: NoSuchBucket: the bucket does not exist"
        );
    }
}
