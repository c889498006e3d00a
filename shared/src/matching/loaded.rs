//! [`LoadedIndex`]: an index in memory with the working memory its queries reuse, shared by
//! the matching route and the import (which holds one for a whole file).

use std::sync::Mutex;

use super::{MatchIndex, MatchOutcome, MatchQuery, Scratch};

/// An index with the per-thread working memory its queries reuse. A `Scratch` holds a cell per
/// product (4 MB at a million), so it is pooled rather than allocated per request.
pub struct LoadedIndex {
    pub index: MatchIndex,
    scratch: Mutex<Vec<Scratch>>,
}

impl LoadedIndex {
    pub fn new(index: MatchIndex) -> Self {
        Self {
            index,
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// Matches one row with a pooled scratch (CPU-bound: call from a blocking thread).
    pub fn match_row(&self, q: &MatchQuery) -> MatchOutcome {
        let pooled = self.scratch.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut scratch = pooled.unwrap_or_else(|| Scratch::new(&self.index));
        let outcome = self.index.match_row(q, &mut scratch);
        self.scratch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scratch);
        outcome
    }
}
