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

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::analyze::{analyze, text_words};
use super::decide::barcode_links;
use super::fuzzy::{WordSig, is_subsequence, levenshtein_within, within_one};
use super::index::{MatchIndex, NO_SIZE, TermSig, WEIGHT_FULL, barcode_number, hash_str};
use super::lexicon::Lexicon;
use super::phonetic;
use super::quantity::Size;
use super::text::{Origin, is_alpha};
use crate::domain::check_digit;

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

/// What a row says about a product.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchQuery<'a> {
    pub name: &'a str,
    pub brand: &'a str,
    pub quantity: &'a str,
    pub barcode: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SizeState {
    Agree,
    /// Same total in another packing (2 x 500 g vs 1 kg): another product.
    TotalOnly,
    Conflict,
    QueryMissing,
    /// Neither the row nor the product states a size.
    Unstated,
    CatalogMissing,
    /// The catalog states a pack that is not a size ("Combo").
    CatalogUnknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BrandState {
    Hit,
    Miss,
    Conflict,
    /// The product has no brand.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BarcodeState {
    Exact,
    /// One digit off, or missing its check digit: a candidate, never proof.
    Near,
    /// The query's valid barcode is not this product's.
    Conflict,
    None,
}

/// What the query's own barcode turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryBarcode {
    None,
    Exact,
    Near,
    /// A valid GTIN the catalog does not have: strong evidence of a product it lacks.
    UnknownValid,
    UnknownInvalid,
}

/// Score added for a product whose brand the row names.
const BRAND_HIT_BONUS: f32 = 0.08;
/// Score added for a product whose size agrees with the row's.
const SIZE_AGREE_BONUS: f32 = 0.10;
/// The most a product without the row's exact barcode can score: full text, brand and size
/// (a near barcode is looked for only when no product has the exact one), and a little for
/// float rounding.
const MAX_SCORE_WITHOUT_EXACT_BARCODE: f32 = 1.0 + BRAND_HIT_BONUS + SIZE_AGREE_BONUS + 0.001;

/// A scored candidate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Index of the product in the index (its id is `MatchIndex::product_id`).
    #[serde(skip)]
    pub product: u32,
    pub score: f32,
    /// 0.7 q_cov + 0.3 c_cov.
    pub text: f32,
    /// Share of the query's (IDF-weighted) words the product explains.
    pub q_cov: f32,
    /// Share of the product's (IDF- and position-weighted) words the query covers; when the
    /// query names no brand (`brand` is `Miss`), of its words other than the brand's.
    pub c_cov: f32,
    pub size: SizeState,
    pub brand: BrandState,
    pub barcode: BarcodeState,
    /// The query has a number (model, SPF) the product lacks while the product has another.
    pub number_conflict: bool,
    #[serde(skip)]
    pub class: u32,
}

struct QToken {
    alts: Vec<String>,
    origin: Origin,
    /// Per alternative: fine key, its id in the index's key table.
    fkeys: Vec<(String, Option<u32>)>,
    ckeys: Vec<(String, Option<u32>)>,
    /// Per alternative: the signatures of it and of its fine key.
    sigs: Vec<(WordSig, WordSig)>,
    weight: f32,
    matches: Vec<(u32, f32)>,
}

/// A parsed query.
pub(crate) struct Parsed {
    tokens: Vec<QToken>,
    pub(crate) sizes: Vec<Size>,
    has_brand: bool,
    /// Tokens at the start or end of the name that are catalog brand words: a row without a
    /// brand column may still name one there.
    edge_brands: Vec<usize>,
    /// Every alternative, for "the query says Combo" checks.
    words: Vec<String>,
    numbers: Vec<String>,
}

/// A product's stage-1 accumulator: a fixed-point score (high 24 bits, in 1/2^14: up to 1024,
/// far above any query's sum of IDFs) and the tag of the query word that last added to it
/// (low 8 bits; 0: untouched). Four bytes, so the million cells of a large catalog take half the
/// cache an `(f32, u32)` pair would: the scatter over postings is bound by memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cell(u32);

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
struct StageWord {
    /// Its largest contribution to a product's score.
    max: f32,
    /// Products holding its likeliest meaning.
    df: u32,
    /// Creates candidates (else it only adds to those found).
    rare: bool,
    /// The catalog words it reaches, with their contributions, largest first.
    matches: Vec<(u32, f32)>,
}

/// Per-thread working memory, reused across queries (sized to the index).
pub struct Scratch {
    /// Per product: its stage-1 score in the current query. Zero between queries: the products
    /// a query touched (`acc_touched`) are cleared when it ends.
    cells: Vec<Cell>,
    acc_touched: Vec<u32>,
    /// A buffer for the k-th best score.
    kth: Vec<f32>,
    /// Products that can still reach the top k when creation stops (sorted).
    live: Vec<u32>,
    /// Stage 2: each distinct catalog word of the candidates gets a local index...
    local: FxHashMap<u32, u32>,
    local_terms: Vec<u32>,
    /// ...and `sims[word * local_terms.len() + local]` caches word similarities (-1: unknown).
    sims: Vec<f32>,
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
fn top(
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
fn kth_largest(values: impl Iterator<Item = f32>, k: usize, buf: &mut Vec<f32>) -> f32 {
    buf.clear();
    buf.extend(values);
    if buf.len() < k || k == 0 {
        return 0.0;
    }
    let (_, kth, _) = buf.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    *kth
}

fn has_vowel(s: &str) -> bool {
    s.bytes()
        .any(|b| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u'))
}

impl MatchIndex {
    pub(crate) fn idf(&self, t: u32) -> f32 {
        self.term_idf[t as usize]
    }

    fn max_idf(&self) -> f32 {
        (1.0 + self.len() as f32).ln()
    }

    #[inline(never)]
    pub(crate) fn parse(&self, q: &MatchQuery) -> Parsed {
        let lexicon = Lexicon::builtin();
        let name = analyze(q.name, lexicon);
        let quantity = analyze(q.quantity, lexicon);
        let brand = analyze(q.brand, lexicon);
        let mut sizes: Vec<Size> = name
            .sizes
            .iter()
            .chain(&quantity.sizes)
            .map(|f| f.size)
            .collect();
        sizes.dedup();
        let mut lexemes: Vec<_> = text_words(&name, lexicon).map(|(_, l)| l).collect();
        let name_words = lexemes.len();
        if quantity.sizes.is_empty() {
            lexemes.extend(text_words(&quantity, lexicon).map(|(_, l)| l));
        }
        let brand_words: Vec<_> = text_words(&brand, lexicon).map(|(_, l)| l).collect();
        let has_brand = !brand_words.is_empty();
        lexemes.extend(brand_words);
        let mut tokens = Vec::with_capacity(lexemes.len());
        let mut words = Vec::new();
        let mut numbers = Vec::new();
        for l in lexemes {
            let mut alts = vec![l.text.clone()];
            alts.extend(l.alts.iter().cloned());
            for extra in lexicon
                .synonyms(&l.text)
                .iter()
                .chain(lexicon.abbreviation(&l.text))
            {
                if !alts.contains(extra) {
                    alts.push(extra.clone());
                }
            }
            if !is_alpha(&l.text) && l.text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                numbers.push(l.text.clone());
            }
            words.extend(alts.iter().cloned());
            let fkeys: Vec<(String, Option<u32>)> = alts
                .iter()
                .map(|a| {
                    let k = phonetic::key(a);
                    let id = self.fkey_id(&k);
                    (k, id)
                })
                .collect();
            let ckeys = fkeys
                .iter()
                .map(|(k, _)| {
                    let c = phonetic::coarse(k);
                    let id = self.ckey_id(&c);
                    (c, id)
                })
                .collect();
            let sigs = alts
                .iter()
                .zip(&fkeys)
                .map(|(a, (k, _))| (WordSig::of(a), WordSig::of(k)))
                .collect();
            let mut t = QToken {
                alts,
                origin: l.origin,
                fkeys,
                ckeys,
                sigs,
                weight: 0.0,
                matches: Vec::new(),
            };
            t.matches = self.term_matches(&t);
            t.weight = self.token_weight(&t);
            tokens.push(t);
        }
        let mut edge_brands: Vec<usize> = [0, name_words.saturating_sub(1)]
            .into_iter()
            .filter(|&i| i < name_words)
            .filter(|&i| {
                tokens[i]
                    .matches
                    .iter()
                    .any(|&(t, s)| s >= 1.0 && self.term_brand[t as usize])
            })
            .collect();
        edge_brands.dedup();
        Parsed {
            tokens,
            sizes,
            has_brand,
            edge_brands,
            words,
            numbers,
        }
    }

    /// Catalog words a query word may stand for, with a similarity: exact (1.0), same phonetic
    /// key (0.92; Tamil-origin words by coarse key, 0.9), one edit (0.85), prefix (0.75). A
    /// weaker tier is looked up only while the stronger ones have not filled the words stage 1
    /// follows (stage 2 compares every candidate word anyway).
    #[inline(never)]
    fn term_matches(&self, q: &QToken) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        // Weaker tiers are skipped only for a word the catalog itself uses.
        let enough = |out: &Vec<(u32, f32)>, above: f32| {
            out.iter().any(|(_, s)| *s >= 1.0)
                && out.iter().filter(|(_, s)| *s > above).count() >= STAGE1_WORD_MATCHES
        };
        for (j, a) in q.alts.iter().enumerate() {
            if let Some(t) = self.term_id(a) {
                out.push((t, 1.0));
            }
            if !is_alpha(a) {
                continue;
            }
            // Same phonetic key: spelling variants and transliterations. Keys of one or two
            // letters (`dl`, `kf`) join unrelated words; their variants are one edit away and
            // come from the next tier.
            let (fk, fid) = &q.fkeys[j];
            if fk.len() >= 3 {
                let keyed = if q.origin == Origin::Tamil {
                    q.ckeys[j].1.map(|k| (self.ckey_terms.get(k), 0.9))
                } else {
                    fid.map(|k| (self.fkey_terms.get(k), 0.92))
                };
                if let Some((ts, s)) = keyed {
                    out.extend(ts.iter().map(|&t| (t, s)));
                }
            }
        }
        if !enough(&out, 0.85) {
            let mut d = String::new();
            for a in q.alts.iter().filter(|a| a.len() >= 3 && is_alpha(a)) {
                let probe = |h: u64, out: &mut Vec<(u32, f32)>| {
                    for t in self.deletes_dir.get(&self.deletes, h) {
                        let w = self.terms.get(t);
                        if w.len().max(a.len()) >= 4 && within_one(a, w) {
                            out.push((t, 0.85));
                        }
                    }
                };
                probe(hash_str(a), &mut out);
                for k in 0..a.len() {
                    d.clear();
                    d.push_str(&a[..k]);
                    d.push_str(&a[k + 1..]);
                    if a.len() >= 4
                        && let Some(t) = self.term_id(&d)
                    {
                        out.push((t, 0.85));
                    }
                    probe(hash_str(&d), &mut out);
                }
            }
        }
        if q.origin == Origin::Latin && !enough(&out, 0.75) {
            for a in q.alts.iter().filter(|a| a.len() >= 3 && is_alpha(a)) {
                let mut i = self.terms.lower_bound(a).unwrap_or(0);
                let mut taken = 0;
                while i < self.terms.len() && taken < MAX_PREFIX_TERMS {
                    let w = self.terms.get(i);
                    if !w.starts_with(a.as_str()) {
                        break;
                    }
                    if w != a {
                        out.push((i, 0.75));
                    }
                    taken += 1;
                    i += 1;
                }
            }
        }
        // One entry per catalog word, with its best similarity.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        out.dedup_by_key(|(t, _)| *t);
        out
    }

    /// What a query word most likely means: the catalog word `t` maximising
    /// `df(t) x P(typed | t)` (a noisy channel: exact 1, same phonetic key 0.2, one edit 0.1,
    /// prefix 0.05). A rare catalog misspelling (`coconat`, in one product) loses to the common
    /// word one edit away (`coconut`); a correctly typed word keeps its own meaning.
    fn likeliest(&self, q: &QToken) -> Option<u32> {
        q.matches
            .iter()
            .max_by(|a, b| {
                self.channel_score(a)
                    .total_cmp(&self.channel_score(b))
                    .then(a.1.total_cmp(&b.1))
            })
            .map(|(t, _)| *t)
    }

    /// `df(t) x P(typed | t)` for a match `(t, similarity)`.
    fn channel_score(&self, m: &(u32, f32)) -> f32 {
        let channel = if m.1 >= 1.0 {
            1.0
        } else if m.1 >= 0.9 {
            0.2
        } else if m.1 >= 0.8 {
            0.1
        } else {
            0.05
        };
        self.term_df[m.0 as usize] as f32 * channel
    }

    /// A query word weighs the IDF of what it most likely means. Unknown words weigh a lot
    /// (they are evidence the product is another one), short ones less.
    fn token_weight(&self, q: &QToken) -> f32 {
        match self.likeliest(q) {
            Some(t) => self.idf(t),
            None if q.alts[0].len() <= 2 => 0.3 * self.max_idf(),
            None => 0.6 * self.max_idf(),
        }
    }

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
    fn candidates(&self, parsed: &Parsed, scratch: &mut Scratch, k: usize) -> Vec<u32> {
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
    fn sizes_agreeing(&self, size: &Size) -> impl Iterator<Item = u32> + '_ {
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

    /// The products with exactly this barcode (a binary search: no text is looked at).
    pub fn products_with_barcode(&self, barcode: &str) -> impl Iterator<Item = u32> + '_ {
        let number = barcode_number(barcode).unwrap_or(0);
        let start = self.barcodes.partition_point(|&(b, _)| b < number);
        self.barcodes[start..]
            .iter()
            .take_while(move |&&(b, _)| number != 0 && b == number)
            .map(|&(_, p)| p)
    }

    /// The query's barcode: exact, near (one digit off or a missing check digit; never proof),
    /// or unknown.
    #[inline(never)]
    pub(crate) fn barcode_lookup(&self, raw: &str) -> (QueryBarcode, Vec<(u32, BarcodeState)>) {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let Some(number) = barcode_number(&digits) else {
            return (QueryBarcode::None, vec![]);
        };
        let find = |n: u64| {
            let start = self.barcodes.partition_point(|&(b, _)| b < n);
            self.barcodes[start..]
                .iter()
                .take_while(move |&&(b, _)| b == n)
                .map(|&(_, p)| p)
        };
        let exact: Vec<(u32, BarcodeState)> =
            find(number).map(|p| (p, BarcodeState::Exact)).collect();
        if !exact.is_empty() {
            return (QueryBarcode::Exact, exact);
        }
        let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        let valid =
            matches!(d.len(), 8 | 12 | 13 | 14) && check_digit(&d[..d.len() - 1]) == d[d.len() - 1];
        let mut near = Vec::new();
        if matches!(d.len(), 7 | 11 | 12) {
            let full = format!("{digits}{}", check_digit(&d));
            if let Some(n) = barcode_number(&full) {
                near.extend(find(n).map(|p| (p, BarcodeState::Near)));
            }
        }
        if !valid && matches!(d.len(), 8 | 12 | 13 | 14) {
            for pos in 0..d.len() {
                for digit in 0..10u8 {
                    if digit == d[pos] {
                        continue;
                    }
                    let mut c = d.clone();
                    c[pos] = digit;
                    if check_digit(&c[..c.len() - 1]) != c[c.len() - 1] {
                        continue;
                    }
                    let n = c.iter().fold(0u64, |acc, &x| acc * 10 + u64::from(x));
                    near.extend(find(n).map(|p| (p, BarcodeState::Near)));
                }
            }
        }
        near.sort_unstable_by_key(|&(p, _)| p);
        near.dedup_by_key(|&mut (p, _)| p);
        let state = if !near.is_empty() {
            QueryBarcode::Near
        } else if valid {
            QueryBarcode::UnknownValid
        } else {
            QueryBarcode::UnknownInvalid
        };
        (state, near)
    }

    /// How alike a query word and a catalog word are, 0 to 1.
    #[inline(never)]
    fn word_similarity(&self, q: &QToken, t: u32) -> f32 {
        let sig = &self.term_sig[t as usize];
        if (0..q.alts.len()).any(|j| Self::may_need_text(q, j, sig)) {
            self.text_similarity(q, t)
        } else {
            Self::key_similarity(q, sig)
        }
    }

    /// `word_similarity` from the words themselves (on top of what the phonetic keys say).
    fn text_similarity(&self, q: &QToken, t: u32) -> f32 {
        let sig = &self.term_sig[t as usize];
        let s = self.terms.get(t);
        let tck = sig.ckey_id;
        let tf = self.fkeys.get(sig.fkey_id);
        let tamil = q.origin == Origin::Tamil;
        // The rules below only raise `best`, and each is skipped only when `best` is already
        // at least what it gives, so starting from the keys' score changes nothing.
        let mut best = Self::key_similarity(q, sig);
        for (j, a) in q.alts.iter().enumerate() {
            if a == s {
                return 1.0;
            }
            if !is_alpha(a) || !is_alpha(s) {
                continue;
            }
            let (la, ls) = (a.len(), s.len());
            let (qf, _) = &q.fkeys[j];
            let (qc, _) = &q.ckeys[j];
            if la.min(ls) >= 3 {
                let longest = la.max(ls);
                if within_one(a, s) {
                    best = best.max(if la.min(ls) >= 5 {
                        0.9
                    } else if longest >= 4 {
                        0.85
                    } else {
                        0.7
                    });
                } else if longest >= 8 {
                    // Similarity >= 0.75 means at most a quarter of the letters differ; shorter
                    // words allow one edit, which `within_one` already tried.
                    if let Some(d) = levenshtein_within(a, s, longest / 4) {
                        best = best.max(1.0 - d as f32 / longest as f32);
                    }
                }
                if best < 0.82
                    && qf.len() >= 4
                    && tf.len() >= 4
                    && qf.as_bytes()[0] == tf.as_bytes()[0]
                {
                    let (k1, k2) = if tamil {
                        (qc.as_str(), self.ckeys.get(tck))
                    } else {
                        (qf.as_str(), tf)
                    };
                    let near = if k2.len() < 7 {
                        within_one(k1, k2)
                    } else {
                        levenshtein_within(k1, k2, 2).is_some()
                    };
                    if near {
                        best = best.max(0.82);
                    }
                }
            }
            if q.origin == Origin::Latin && la >= 2 && ls > la && best < 0.85 {
                if la >= 3 && s.starts_with(a.as_str()) {
                    best = best.max(0.85);
                } else if a.as_bytes()[0] == s.as_bytes()[0]
                    && ((qf.len() >= 2
                        && tf.len() >= 2
                        && is_subsequence(&qf[1..], &tf[1..])
                        && (!has_vowel(&a[1..]) || qf.len() * 10 >= tf.len() * 6))
                        // Vowels dropped: pwdr, chclt, strwbry.
                        || (la >= 3 && !has_vowel(&a[1..]) && is_subsequence(&a[1..], &s[1..])))
                {
                    best = best.max(0.8);
                }
            }
        }
        best
    }

    /// Whether `word_similarity` could find more than the phonetic keys' equality for
    /// alternative `j` and this catalog word, and must read their text (the signatures rule
    /// out each of its text rules; most pairs of words share no rule).
    fn may_need_text(q: &QToken, j: usize, t: &TermSig) -> bool {
        let (a, af) = &q.sigs[j];
        let (s, sf) = (&t.word, &t.fkey);
        if a.may_equal(s) {
            return true;
        }
        if !a.alpha || !s.alpha {
            return false;
        }
        let (la, ls) = (usize::from(a.len), usize::from(s.len));
        if la.min(ls) >= 3 {
            let longest = la.max(ls);
            if a.may_be_within(s, 1) || (longest >= 8 && a.may_be_within(s, longest / 4)) {
                return true;
            }
            if af.len >= 4 && sf.len >= 4 && af.first == sf.first {
                if q.origin == Origin::Tamil {
                    return true;
                }
                if af.may_be_within(sf, if sf.len < 7 { 1 } else { 2 }) {
                    return true;
                }
            }
        }
        // Prefix, or a subsequence of the word or of its key (after the same first letter).
        q.origin == Origin::Latin
            && la >= 2
            && ls > la
            && a.first == s.first
            && (a.rest_may_be_in(s) || af.rest_may_be_in(sf))
    }

    /// `word_similarity` when no alternative needs the text: what the phonetic keys say.
    fn key_similarity(q: &QToken, t: &TermSig) -> f32 {
        let mut best: f32 = 0.0;
        for (j, (a, _)) in q.sigs.iter().enumerate() {
            if !a.alpha || !t.word.alpha {
                continue;
            }
            if t.fkey.len >= 2 || (a.len >= 3 && t.word.len >= 3) {
                if q.fkeys[j].1 == Some(t.fkey_id) {
                    best = best.max(0.95);
                } else if q.origin == Origin::Tamil && q.ckeys[j].1 == Some(t.ckey_id) {
                    best = best.max(0.93);
                }
            }
        }
        best
    }

    /// Stage 2: the features of product `p` for this query.
    fn score(
        &self,
        parsed: &Parsed,
        p: u32,
        barcode: BarcodeState,
        scratch: &mut Scratch,
    ) -> Candidate {
        let span = self.prod_terms.span(p);
        let terms = self.prod_terms.get(p);
        let weights = &self.prod_weight[span];
        let mut matched = [0f32; 64];
        let nterms = terms.len().min(64);
        let mut locals = [0u32; 64];
        for (k, t) in terms.iter().take(nterms).enumerate() {
            locals[k] = scratch.local[t];
        }
        let width = scratch.local_terms.len();
        let (mut num, mut den) = (0f32, 0f32);
        // How well the product explains each of the query's edge brand words.
        let mut edge_best = [0f32; 2];
        for (qi, q) in parsed.tokens.iter().enumerate() {
            let mut best = 0f32;
            let mut at = usize::MAX;
            let row = qi * width;
            for (k, &t) in terms.iter().take(nterms).enumerate() {
                let cell = &mut scratch.sims[row + locals[k] as usize];
                if *cell < 0.0 {
                    *cell = self.word_similarity(q, t);
                }
                let s = *cell;
                if s > best {
                    best = s;
                    at = k;
                    if s >= 1.0 {
                        break;
                    }
                }
            }
            if let Some(j) = parsed.edge_brands.iter().position(|&e| e == qi) {
                edge_best[j] = best;
            }
            num += q.weight * best;
            den += q.weight;
            if best >= 0.7 && at != usize::MAX {
                matched[at] = matched[at].max(best);
            }
        }
        let q_cov = if den > 0.0 { num / den } else { 0.0 };

        let nb = usize::from(self.prod_nbrand[p as usize]).min(nterms);
        let brand = if nb == 0 {
            BrandState::None
        } else if matched[..nb].iter().all(|&m| m >= 0.7) || matched[0] >= 0.75 {
            BrandState::Hit
        } else if parsed.has_brand
            || edge_best[..parsed.edge_brands.len()]
                .iter()
                .any(|&b| b < 0.7)
        {
            // The row's brand column, or a brand word opening or closing its name, names
            // another brand.
            BrandState::Conflict
        } else {
            BrandState::Miss
        };
        // A row that names no brand says nothing about the product's: its brand words count
        // neither for nor against how much of the product the row covers (the brand state
        // carries that evidence). Other words still do.
        let from = if brand == BrandState::Miss && nb < nterms {
            nb
        } else {
            0
        };
        let (mut cn, mut cd) = (0f32, 0f32);
        for k in from..nterms {
            let w = self.idf(terms[k]) * f32::from(weights[k]) / f32::from(WEIGHT_FULL);
            cd += w;
            cn += w * matched[k];
        }
        let c_cov = if cd > 0.0 { cn / cd } else { 0.0 };
        let text = 0.7 * q_cov + 0.3 * c_cov;

        // The query names a number (model, SPF) the product lacks while the product names another.
        let mut product_has_number = false;
        let mut query_numbers_found = 0usize;
        for (k, &t) in terms.iter().enumerate() {
            if self.term_numeric[t as usize] && weights[k] > 0 {
                let w = self.terms.get(t);
                if parsed.numbers.iter().any(|n| n == w) {
                    query_numbers_found += 1;
                } else {
                    product_has_number = true;
                }
            }
        }
        let number_conflict = product_has_number && query_numbers_found < parsed.numbers.len();

        let size = self.size_state(parsed, p);
        let mut score = text;
        score += match brand {
            BrandState::Hit => BRAND_HIT_BONUS,
            BrandState::Miss => -0.02,
            BrandState::Conflict => -0.10,
            BrandState::None => 0.0,
        };
        score += match size {
            SizeState::Agree => SIZE_AGREE_BONUS,
            SizeState::Conflict => -0.15,
            SizeState::CatalogMissing => -0.05,
            SizeState::CatalogUnknown => -0.03,
            SizeState::TotalOnly | SizeState::QueryMissing | SizeState::Unstated => 0.0,
        };
        if number_conflict {
            score -= 0.10;
        }
        score += match barcode {
            BarcodeState::Exact => 0.5,
            BarcodeState::Near => 0.4,
            BarcodeState::Conflict => -0.05,
            BarcodeState::None => 0.0,
        };
        Candidate {
            product: p,
            score,
            text,
            q_cov,
            c_cov,
            size,
            brand,
            barcode,
            number_conflict,
            class: self.prod_class[p as usize],
        }
    }

    fn size_state(&self, parsed: &Parsed, p: u32) -> SizeState {
        let qty_text = self.prod_qty_text.get(p);
        let others = self.prod_sizes.get(p);
        let own = self.pack_size(p);
        if parsed.sizes.is_empty() {
            return if !qty_text.is_empty()
                && own.is_none()
                && parsed.words.iter().any(|w| w == qty_text)
            {
                SizeState::Agree
            } else if own.is_none() && others.is_empty() && qty_text.is_empty() {
                SizeState::Unstated
            } else {
                SizeState::QueryMissing
            };
        }
        let stated = |q: &Size| others.iter().any(|o| o.agrees(q));
        match own {
            None => {
                if !others.is_empty() && parsed.sizes.iter().all(stated) {
                    SizeState::Agree
                } else if qty_text.is_empty() {
                    SizeState::CatalogMissing
                } else {
                    SizeState::CatalogUnknown
                }
            }
            Some(c) if parsed.sizes.iter().any(|q| q.agrees(&c)) => SizeState::Agree,
            Some(c) if parsed.sizes.iter().any(|q| q.same_total(&c)) => SizeState::TotalOnly,
            Some(_) if parsed.sizes.iter().all(stated) => SizeState::Agree,
            Some(_) => SizeState::Conflict,
        }
    }

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

    #[test]
    fn word_signatures_never_change_a_similarity() {
        // Catalog and query words alike and unalike: typos, prefixes, dropped vowels,
        // phonetic spellings, numbers, and Devanagari and Tamil brought to Latin.
        let names = [
            "Haldi Chandan Face Wash",
            "Chocolate Strawberry Powder",
            "Basmati Rice Premium",
            "Turmeric Powder",
            "Jeera Whole",
            "N95 Mask 3 Ply",
            "Coconut Oil Extra Virgin",
        ];
        let ids: Vec<String> = (0..names.len()).map(|i| format!("p{i}")).collect();
        let index = MatchIndex::build(names.iter().zip(&ids).map(|(n, id)| CatalogRow {
            id,
            name: n,
            brand: "Acme Foods",
            quantity: "",
            barcode: "",
            aliases: &[],
        }));
        let queries = [
            "haldhi chandn facewash",
            "chclt strwbry pwdr",
            "basmti rce prem",
            "tumeric powdr",
            "zeera",
            "n-95 mask",
            "coconat oyl",
            "हल्दी पाउडर",
            "தேங்காய் எண்ணெய்",
            "acm fods",
            // Edits at the first letter, and query words longer than the catalog's.
            "xhocolate asmati ruce",
            "turmerci powderr coconutt",
            "strawbery chocolatte",
        ];
        let mut compared = 0;
        for name in queries {
            let parsed = index.parse(&MatchQuery {
                name,
                ..MatchQuery::default()
            });
            for q in &parsed.tokens {
                for t in 0..index.terms.len() {
                    assert_eq!(
                        index.word_similarity(q, t),
                        index.text_similarity(q, t),
                        "{:?} vs {}",
                        q.alts,
                        index.terms.get(t)
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 500, "{compared}");
    }
}
