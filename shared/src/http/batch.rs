//! What every batch route shares (a batch of scans, of review decisions): the size check of
//! its list, and one entry's failure answered as the entry's own route would answer it.

use super::ApiError;
use crate::domain::FieldErrors;

/// The entries of a batch's list `field`: 1 to `max` of them, else `required`, `empty` or
/// `too_many` on `field`.
pub fn entries<T>(list: Option<Vec<T>>, field: &str, max: usize) -> Result<Vec<T>, ApiError> {
    let problem = match &list {
        None => ("required", format!("{field} is required")),
        Some(l) if l.is_empty() => ("empty", format!("{field} is empty")),
        Some(l) if l.len() > max => (
            "too_many",
            format!(
                "{field} holds at most {max} entries; this one has {}",
                l.len()
            ),
        ),
        Some(_) => return Ok(list.unwrap_or_default()),
    };
    Err(FieldErrors::single(field, problem.0, problem.1).into())
}

/// One entry's failure: its status and RFC 9457 problem, as its own route would answer (a
/// 5xx is logged here, as the edge logs a request's).
pub fn entry_problem(error: ApiError, entry: &str) -> (u16, Option<serde_json::Value>) {
    let problem = error.to_problem();
    if problem.status >= 500 {
        tracing::error!(
            error = %error,
            cause = ?std::error::Error::source(&error),
            "{entry} of a batch failed"
        );
    }
    (problem.status, serde_json::to_value(&problem).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Vec<u8>, ApiError>) -> String {
        match r {
            Err(ApiError::Invalid(e)) => e.0[0].code.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_batch_holds_one_to_max_entries() {
        assert_eq!(entries(Some(vec![1u8, 2]), "scans", 2).unwrap(), [1, 2]);
        assert_eq!(code(entries(None, "scans", 2)), "required");
        assert_eq!(code(entries(Some(vec![]), "scans", 2)), "empty");
        assert_eq!(code(entries(Some(vec![1, 2, 3]), "scans", 2)), "too_many");
    }
}
