//! Stage 1: the products a query's words reach, scored by IDF in per-product cells (rarest
//! words first; common words only refine the best candidates), the best [`CANDIDATES`] kept.

use rustc_hash::FxHashMap;

use super::*;
use crate::matching::index::{MatchIndex, NO_SIZE};
use crate::matching::quantity::Size;

/// A product's stage-1 accumulator: a fixed-point score (high 24 bits, in 1/2^14: up to 1024,
/// far above any query's sum of IDFs) and the tag of the query word that last added to it
/// (low 8 bits; 0: untouched). Four bytes, so the million cells of a large catalog take half the
/// cache an `(f32, u32)` pair would: the scatter over postings is bound by memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Cell(u32);

impl Cell {
    const SCALE: f32 = 16384.0;
    const MAX_FIXED: u32 = (1 << 24) - 1;

    /// A contribution in the cell's fixed-point units.
    fn fixed(v: f32) -> u32 {
        ((v * Self::SCALE).round() as u32).min(Self::MAX_FIXED)
    }

    fn score(self) -> f32 {
        (self.0 >> 8) as f32 / Self::SCALE
    }

    fn tag(self) -> u8 {
        self.0 as u8
    }

    fn add(self, fixed: u32, tag: u8) -> Cell {
        let sum = ((self.0 >> 8) + fixed).min(Self::MAX_FIXED);
        Cell((sum << 8) | u32::from(tag))
    }
}

/// A query word as stage 1 uses it.
pub(super) struct StageWord {
    /// Its largest contribution to a product's score.
    pub(super) max: f32,
    /// Products holding its likeliest meaning.
    pub(super) df: u32,
    /// Creates candidates (else it only adds to those found).
    pub(super) rare: bool,
    /// The catalog words it reaches, with their contributions, largest first.
    pub(super) matches: Vec<(u32, f32)>,
}

/// Per-thread working memory, reused across queries (sized to the index).
pub struct Scratch {
    /// Per product: its stage-1 score in the current query. Zero between queries: the products
    /// a query touched (`acc_touched`) are cleared when it ends.
    pub(super) cells: Vec<Cell>,
    pub(super) acc_touched: Vec<u32>,
    /// A buffer for the k-th best score.
    pub(super) kth: Vec<f32>,
    /// Products that can still reach the top k when creation stops (sorted).
    pub(super) live: Vec<u32>,
    /// Stage 2: each distinct catalog word of the candidates gets a local index...
    pub(super) local: FxHashMap<u32, u32>,
    pub(super) local_terms: Vec<u32>,
    /// ...and `sims[word * local_terms.len() + local]` caches word similarities (-1: unknown).
    pub(super) sims: Vec<f32>,
}

impl Scratch {
    pub fn new(index: &MatchIndex) -> Scratch {
        Scratch {
            cells: vec![Cell::default(); index.len()],
            acc_touched: Vec::new(),
            kth: Vec::new(),
            live: Vec::new(),
            local: FxHashMap::default(),
            local_terms: Vec::new(),
            sims: Vec::new(),
        }
    }
}

/// Keeps the `n` best of `v` (in no particular order).
pub(super) fn top(
    v: &mut Vec<(f32, u32)>,
    n: usize,
    by: impl Fn(&(f32, u32), &(f32, u32)) -> std::cmp::Ordering,
) {
    if v.len() > n {
        v.select_nth_unstable_by(n, |a, b| by(a, b));
        v.truncate(n);
    }
}

/// The k-th largest of `values` (0 when there are fewer).
pub(super) fn kth_largest(values: impl Iterator<Item = f32>, k: usize, buf: &mut Vec<f32>) -> f32 {
    buf.clear();
    buf.extend(values);
    if buf.len() < k || k == 0 {
        return 0.0;
    }
    let (_, kth, _) = buf.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    *kth
}

impl MatchIndex {
    /// Stage 1: the `k` products that explain the most of the query.
    ///
    /// Each query word adds, to every product containing one of its catalog words, the best
    /// `similarity x IDF` among them (no catalog spelling counts for more than the word itself).
    /// Rare words (whose likeliest catalog word is in at most `CREATE_DF` products, and the
    /// query's two rarest words in any case) create candidates, largest possible contribution
    /// first; once the words left cannot lift a
    /// product not yet seen past the current k-th best (MaxScore), creation stops. Common words,
    /// and rare ones left over, then only add to the best `PROBE` candidates, found in their
    /// postings by galloping search.
    #[inline(never)]
    pub(super) fn candidates(&self, parsed: &Parsed, scratch: &mut Scratch, k: usize) -> Vec<u32> {
        let create = CREATE_DF.max((self.len() / 1000) as u32);
        let probe_size = PROBE.max(k);
        let per_word = STAGE1_WORD_MATCHES;
        let mut words: Vec<StageWord> = parsed
            .tokens
            .iter()
            .filter(|t| !t.matches.is_empty())
            .map(|t| {
                // The likeliest meanings first (the same noisy channel as `likeliest`).
                let keep = REFINE_WORD_MATCHES.max(per_word);
                let mut ranked: Vec<(f32, u32, f32)> = t
                    .matches
                    .iter()
                    .map(|m| (self.channel_score(m), m.0, m.1))
                    .collect();
                let by_channel = |a: &(f32, u32, f32), b: &(f32, u32, f32)| {
                    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
                };
                if ranked.len() > keep {
                    ranked.select_nth_unstable_by(keep, by_channel);
                    ranked.truncate(keep);
                }
                ranked.sort_unstable_by(by_channel);
                let ranked: Vec<(u32, f32)> = ranked.into_iter().map(|(_, t, s)| (t, s)).collect();
                let df = self
                    .likeliest(t)
                    .map_or(u32::MAX, |x| self.term_df[x as usize]);
                let mut m: Vec<(u32, f32)> = ranked
                    .iter()
                    .map(|&(x, s)| (x, s * self.idf(x).min(t.weight)))
                    .collect();
                // Largest contribution first (phase 1 relies on it).
                m.sort_by(|a, b| b.1.total_cmp(&a.1));
                let max = m.iter().map(|(_, v)| *v).fold(0.0, f32::max);
                StageWord {
                    max,
                    df,
                    rare: false,
                    matches: m,
                }
            })
            .collect();
        // Creators: words in at most `create` products, and in any case the query's
        // `MIN_CREATORS` rarest words (unless they are nearly everywhere).
        let mut dfs: Vec<u32> = words.iter().map(|w| w.df).collect();
        dfs.sort_unstable();
        let promoted = dfs
            .get(MIN_CREATORS - 1)
            .copied()
            .unwrap_or(0)
            .min(PROMOTE_MAX_DF);
        for w in &mut words {
            w.rare = w.df <= create.max(promoted);
        }
        words.sort_by(|a, b| b.max.total_cmp(&a.max));
        // The query's pack sizes count as a pseudo-word (as rare as the size), given to every
        // catalog size that agrees with one (by its size code).
        let mut size_bonus: Vec<(u32, f32)> = Vec::new();
        for size in &parsed.sizes {
            let Ok(i) = self.size_df.binary_search_by(|(s, _)| s.cmp(size)) else {
                continue;
            };
            let bonus = 0.5 * (1.0 + self.len() as f32 / self.size_df[i].1 as f32).ln();
            for j in self.sizes_agreeing(size) {
                match size_bonus.iter_mut().find(|(id, _)| *id == j) {
                    Some((_, b)) => *b = b.max(bonus),
                    None => size_bonus.push((j, bonus)),
                }
            }
        }
        // Every query leaves its cells cleared; one that did not finish (a panic caught by a
        // caller) would leave some, and they are cleared here.
        let Scratch {
            cells, acc_touched, ..
        } = &mut *scratch;
        for p in acc_touched.drain(..) {
            cells[p as usize] = Cell::default();
        }

        // Phase 1: rare words create candidates.
        let mut rest: f32 = words.iter().filter(|w| w.rare).map(|w| w.max).sum::<f32>()
            + size_bonus.iter().map(|(_, b)| *b).fold(0.0, f32::max);
        let mut best_acc = 0f32;
        let mut refine: Vec<usize> = Vec::new();
        let mut creating = true;
        let mut checks = 0;
        for (wi, word) in words.iter().enumerate() {
            if !word.rare {
                refine.push(wi);
                continue;
            }
            if creating
                && checks < MAX_SCORE_CHECKS
                && scratch.acc_touched.len() >= k
                && best_acc >= rest
            {
                checks += 1;
                // MaxScore: no product not yet seen can reach the k-th best. Stop creating if
                // the products that still can are few enough to refine them all.
                let Scratch {
                    cells,
                    acc_touched,
                    kth,
                    live,
                    ..
                } = &mut *scratch;
                let theta = kth_largest(
                    acc_touched.iter().map(|&p| cells[p as usize].score()),
                    k,
                    kth,
                );
                if theta > rest {
                    live.clear();
                    live.extend(
                        acc_touched
                            .iter()
                            .copied()
                            .filter(|&p| cells[p as usize].score() + rest >= theta),
                    );
                    live.sort_unstable();
                    creating = live.len() > probe_size * 4;
                }
            }
            rest -= word.max;
            // Word tags fit a cell's 8 bits; a query's 256th word and later only refine.
            let tag = u8::try_from(wi + 1).ok();
            let Some(tag) = tag.filter(|_| creating) else {
                refine.push(wi);
                continue;
            };
            let Scratch {
                cells, acc_touched, ..
            } = &mut *scratch;
            // Best match first: the first time this word reaches a product is its best.
            let cap = create.max(promoted);
            let mut best_fixed = 0u32;
            for &(t, v) in word.matches.iter().take(per_word) {
                let post = self.postings.get(t);
                if post.len() as u32 > cap {
                    continue;
                }
                let v = Cell::fixed(v);
                for &p in post {
                    let c = &mut cells[p as usize];
                    if c.tag() != tag {
                        if *c == Cell::default() {
                            acc_touched.push(p);
                        }
                        *c = c.add(v, tag);
                        best_fixed = best_fixed.max(c.0 >> 8);
                    }
                }
            }
            best_acc = best_acc.max(best_fixed as f32 / Cell::SCALE);
        }
        let Scratch {
            cells,
            acc_touched,
            live,
            kth,
            ..
        } = &mut *scratch;
        let mut ranked: Vec<(f32, u32)> = acc_touched
            .iter()
            .map(|&p| (cells[p as usize].score(), p))
            .collect();
        for &p in acc_touched.iter() {
            cells[p as usize] = Cell::default();
        }
        acc_touched.clear();
        let by_score = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        // Ties (many products sharing the query's words) go to the product the query covers
        // best: a small bonus for the share of its own weighted words the score explains; and
        // the query's pack size counts as a pseudo-word. Every product the bonuses could lift
        // into the best `2 x probe` is kept for them (a cut by raw score alone would settle
        // ties at the cut by product number).
        let max_bonus = COVERAGE_TIEBREAK + size_bonus.iter().map(|(_, b)| *b).fold(0.0, f32::max);
        if ranked.len() > probe_size * 2 {
            let theta = kth_largest(ranked.iter().map(|r| r.0), probe_size * 2, kth);
            ranked.retain(|r| r.0 + max_bonus >= theta);
        }
        for (score, p) in ranked.iter_mut() {
            let info = self.prod_stage1[*p as usize];
            *score += COVERAGE_TIEBREAK * (*score / info.norm.max(1.0)).min(1.0);
            if info.size != NO_SIZE
                && let Some((_, bonus)) = size_bonus.iter().find(|(id, _)| *id == info.size)
            {
                *score += bonus;
            }
        }
        if creating {
            top(&mut ranked, probe_size, by_score);
        } else {
            // Stopped early: refine every product that can still reach the top, and no other.
            ranked.retain(|(_, p)| live.binary_search(p).is_ok());
        }
        // Common words (and rare ones past the MaxScore stop) add to these only.
        if !refine.is_empty() {
            // Product by product: each candidate's few words are looked up among the refining
            // words' catalog words (one memory access per candidate, then cache-local work).
            let mut table: Vec<(u32, u16, f32)> = Vec::new();
            for (slot, &wi) in refine.iter().enumerate() {
                table.extend(words[wi].matches.iter().map(|&(t, v)| (t, slot as u16, v)));
            }
            table.sort_unstable_by_key(|e| e.0);
            // Most of a product's words are none of the refining words: a 4096-bit filter of
            // the table's words says so without searching it.
            let mut filter = [0u64; 64];
            let bit = |t: u32| ((t as usize >> 6) & 63, 1u64 << (t & 63));
            for e in &table {
                let (w, b) = bit(e.0);
                filter[w] |= b;
            }
            let mut best = vec![0f32; refine.len()];
            // The candidates' word lists lie all over the index: each is read a few products
            // ahead of its turn, so the memory loads overlap instead of queueing.
            let spans: Vec<std::ops::Range<usize>> = ranked
                .iter()
                .map(|(_, p)| self.prod_terms.span(*p))
                .collect();
            let values = self.prod_terms.values();
            for (i, (score, _)) in ranked.iter_mut().enumerate() {
                if let Some(ahead) = spans.get(i + PREFETCH_AHEAD) {
                    std::hint::black_box(values.get(ahead.start).copied());
                }
                for &t in &values[spans[i].clone()] {
                    let (w, b) = bit(t);
                    if filter[w] & b == 0 {
                        continue;
                    }
                    let start = table.partition_point(|e| e.0 < t);
                    for &(_, slot, v) in table[start..].iter().take_while(|e| e.0 == t) {
                        let b = &mut best[usize::from(slot)];
                        if *b < v {
                            *b = v;
                        }
                    }
                }
                for b in best.iter_mut() {
                    *score += *b;
                    *b = 0.0;
                }
            }
        }
        top(&mut ranked, k, by_score);
        ranked.sort_unstable_by(by_score);
        ranked.into_iter().map(|(_, p)| p).collect()
    }

    /// Size codes (see `prod_size`) of the catalog sizes that agree with `size` (`Size::agrees`: same
    /// unit and count, within half a percent). `size_df` is sorted by count, then amount, so
    /// they lie in one short run.
    pub(super) fn sizes_agreeing(&self, size: &Size) -> impl Iterator<Item = u32> + '_ {
        let size = *size;
        let (low, high) = (size.milli * 199 / 200, size.milli * 200 / 199 + 1);
        let start = self
            .size_df
            .partition_point(|(s, _)| (s.count, s.milli) < (size.count, low));
        self.size_df[start..]
            .iter()
            .take_while(move |(s, _)| s.count == size.count && s.milli <= high)
            .enumerate()
            .filter(move |(_, (s, _))| s.agrees(&size))
            .map(move |(k, _)| (start + k) as u32 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::index::CatalogRow;

    #[test]
    fn a_cell_sums_fixed_point_scores_and_keeps_the_last_words_tag() {
        let c = Cell::default()
            .add(Cell::fixed(2.5), 1)
            .add(Cell::fixed(0.25), 2);
        assert_eq!(c.tag(), 2);
        assert!((c.score() - 2.75).abs() < 1e-4);
        // A touched cell is never the empty one, even with a zero contribution.
        assert_ne!(Cell::default().add(Cell::fixed(0.0), 1), Cell::default());
        // Sums saturate instead of wrapping into the tag.
        let full = Cell::default()
            .add(Cell::fixed(5000.0), 3)
            .add(Cell::fixed(5000.0), 4);
        assert_eq!(full.tag(), 4);
        assert!(full.score() >= 1023.9);
    }

    #[test]
    fn sizes_agreeing_finds_every_catalog_size_that_agrees_and_no_other() {
        let quantities = [
            "100 g", "99.6 g", "100.4 g", "99 g", "101 g", "100 ml", "2x100 g", "1 kg", "1000 g",
            "50 g", "0.1 kg",
        ];
        let ids: Vec<String> = (0..quantities.len()).map(|i| format!("p{i}")).collect();
        let index = MatchIndex::build(quantities.iter().zip(&ids).map(|(q, id)| CatalogRow {
            id,
            name: "Plain Flour",
            brand: "Acme",
            quantity: q,
            barcode: "",
            aliases: &[],
        }));
        assert!(index.size_df.len() >= 8, "{:?}", index.size_df);
        for (size, _) in &index.size_df {
            let found: Vec<u32> = index.sizes_agreeing(size).collect();
            let expected: Vec<u32> = (0..index.size_df.len() as u32)
                .filter(|&i| index.size_df[i as usize].0.agrees(size))
                .map(|i| i + 1)
                .collect();
            assert_eq!(found, expected, "{size}");
            assert!(!found.is_empty());
        }
        let hundred = index
            .size_df
            .iter()
            .position(|(s, _)| s.to_string() == "100g")
            .expect("100 g is a catalog size");
        assert_eq!(
            index.sizes_agreeing(&index.size_df[hundred].0).count(),
            3,
            "100 g, 99.6 g and 100.4 g agree"
        );
    }
}
