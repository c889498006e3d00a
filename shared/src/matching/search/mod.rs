//! Matching one row: query analysis, candidate generation (stage 1), re-scoring (stage 2).
//!
//! Stage 1 accumulates, per product, the IDF of the catalog words each query word reaches
//! (exact, phonetic key, one edit, prefix), rarest words first; very common words only add to
//! products already found. The best `CANDIDATES` products, plus any the barcode names, go to
//! stage 2, which aligns query words with each product's words and computes the features the
//! decision uses (a pair of words whose signatures, `fuzzy::WordSig`, rule out every text rule
//! is scored from the phonetic keys alone, without reading either word). A row whose exact
//! barcode names a product the text supports skips stage 1: that product scores beyond any
//! other, so it is the decision either way.
//!
//! One concern per file: `query` (the row analysed), `candidates` (stage 1), `barcode`,
//! `similarity` (word against word), `score` (stage 2), `conflict` (variants the row and a
//! product disagree on); [`MatchIndex::search`] runs them.

mod barcode;
mod candidates;
mod conflict;
mod query;
mod score;
mod similarity;

pub use barcode::{BarcodeState, QueryBarcode};
pub use candidates::Scratch;
pub use conflict::{Conflict, Unstated, VariantKind};
pub use query::MatchQuery;
pub(crate) use query::Parsed;
pub use score::{BrandState, Candidate, SizeState};

use super::decide::barcode_links;
use super::index::{MatchIndex, barcode_number};
use query::QToken;
use score::MAX_SCORE_WITHOUT_EXACT_BARCODE;

/// Products re-scored per query (stage 1 ranks well enough that 16 already lose nothing on the
/// benchmark; 24 leaves room).
pub const CANDIDATES: usize = 24;
/// Words in at most this many products (or N/1000 at larger sizes) start candidates; more
/// common words only add to candidates found by rarer ones.
const CREATE_DF: u32 = 1000;
/// Catalog words per query word that stage 1 follows (stage 2 compares all of them).
const STAGE1_WORD_MATCHES: usize = 4;
/// Common words add to this many of the best candidates rare words found.
const PROBE: usize = 256;
/// Catalog words per common word used to refine candidates (cheap: looked up per candidate).
const REFINE_WORD_MATCHES: usize = 16;
/// Weight of a candidate's coverage (score / its own word weight) in stage 1: enough to order
/// ties, far below one word's IDF.
const COVERAGE_TIEBREAK: f32 = 0.5;
/// MaxScore stop checks per query (each is a selection over the candidates so far).
const MAX_SCORE_CHECKS: usize = 2;
/// Every query's rarest words create candidates, however common...
const MIN_CREATORS: usize = 2;
/// ...unless they are in more products than this (then the query names almost nothing).
const PROMOTE_MAX_DF: u32 = 60_000;
/// How many candidates ahead the refine loop starts reading a candidate's words.
const PREFETCH_AHEAD: usize = 4;
/// Prefix expansions per query word (abbreviations, truncated brands).
const MAX_PREFIX_TERMS: u32 = 30;

impl MatchIndex {
    /// Matches one row: the scored candidates (best first) and the query's barcode state.
    pub(crate) fn search(
        &self,
        q: &MatchQuery,
        scratch: &mut Scratch,
    ) -> (Vec<Candidate>, QueryBarcode, Parsed) {
        let parsed = self.parse(q);
        let (qb, by_barcode) = self.barcode_lookup(q.barcode);
        if qb == QueryBarcode::Exact {
            // Barcode first: a product with the row's barcode that the text supports is
            // linked whatever else the text finds, and when its score is beyond any product
            // without the barcode it is the best of a full search too. So the text search is
            // skipped, and the decision is the same.
            let ids = by_barcode.iter().map(|&(p, _)| p).collect();
            let scored = self.score_all(q, &parsed, ids, qb, &by_barcode, scratch);
            if scored.first().is_some_and(|best| {
                best.score > MAX_SCORE_WITHOUT_EXACT_BARCODE && barcode_links(best)
            }) {
                return (scored, qb, parsed);
            }
        }
        let mut ids = self.candidates(&parsed, scratch, CANDIDATES);
        for (p, _) in &by_barcode {
            if !ids.contains(p) {
                ids.push(*p);
            }
        }
        let scored = self.score_all(q, &parsed, ids, qb, &by_barcode, scratch);
        (scored, qb, parsed)
    }

    /// Scores `ids` for the query, best first.
    fn score_all(
        &self,
        q: &MatchQuery,
        parsed: &Parsed,
        ids: Vec<u32>,
        qb: QueryBarcode,
        by_barcode: &[(u32, BarcodeState)],
        scratch: &mut Scratch,
    ) -> Vec<Candidate> {
        scratch.local.clear();
        scratch.local.reserve(ids.len() * 16);
        scratch.local_terms.clear();
        for &p in &ids {
            for &t in self.prod_terms.get(p) {
                let next = scratch.local_terms.len() as u32;
                if *scratch.local.entry(t).or_insert(next) == next {
                    scratch.local_terms.push(t);
                }
            }
        }
        scratch.sims.clear();
        scratch
            .sims
            .resize(parsed.tokens.len() * scratch.local_terms.len(), -1.0);
        let query_number = barcode_number(q.barcode);
        let mut scored: Vec<Candidate> = ids
            .into_iter()
            .map(|p| {
                let state = match by_barcode.iter().find(|(x, _)| *x == p) {
                    Some((_, s)) => *s,
                    None if matches!(qb, QueryBarcode::UnknownValid | QueryBarcode::Exact)
                        && self.prod_barcode[p as usize] != 0
                        && Some(self.prod_barcode[p as usize]) != query_number =>
                    {
                        BarcodeState::Conflict
                    }
                    None => BarcodeState::None,
                };
                self.score(parsed, p, state, scratch)
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.product.cmp(&b.product)));
        scored
    }
}
