//! The candidate index: everything matching needs about the catalog, in flat arrays that build
//! in seconds at a million products and serialise to one versioned snapshot.
//!
//! Why an inverted index with phonetic, delete-1 and prefix side tables (rather than an FST or
//! n-grams): every query word must reach its catalog words through exact spelling, a phonetic
//! key (spelling variants, transliteration), one edit (typos) or a prefix (abbreviations,
//! truncated brands). Each of these is a sorted table lookup, and IDF-weighted postings then rank
//! products by how much of the query they explain, touching only the postings of the query's
//! words. Sorted string tables give exact and prefix lookups with one binary search each and
//! store compactly.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::analyze::{Analyzed, analyze, is_code, lex_field, sized, split_head, text_words};
use super::calibrate::Calibration;
use super::fuzzy::WordSig;
use super::lexicon::{Lexicon, WordClass};
use super::phonetic;
use super::quantity::Size;
use super::text::is_alpha;

/// Snapshot format version: bump when the layout or the analysis changes (4: model codes;
/// 5: the calibration model), and with it the default snapshot key
/// (`config::DEFAULT_MATCH_INDEX_KEY`; a test checks they agree).
pub const FORMAT_VERSION: u32 = 5;
const MAGIC: &[u8; 8] = b"KCMATCH\0";

/// FNV-1a: a fixed hash, so snapshots built anywhere agree.
pub fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn hash_str(s: &str) -> u64 {
    fnv1a(s.as_bytes(), 0xcbf2_9ce4_8422_2325)
}

/// A catalog word's signature and phonetic keys, side by side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TermSig {
    pub word: WordSig,
    pub fkey: WordSig,
    pub fkey_id: u32,
    pub ckey_id: u32,
}

/// Many strings in one buffer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Strings {
    bytes: String,
    ends: Vec<u32>,
}

impl Strings {
    pub fn push(&mut self, s: &str) {
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len() as u32);
    }

    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> u32 {
        self.ends.len() as u32
    }

    /// First index whose string is >= `s`.
    pub fn lower_bound(&self, s: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0u32, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.get(mid) < s {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

/// Rows of values (compressed sparse rows).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rows<T> {
    offs: Vec<u32>,
    vals: Vec<T>,
}

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows {
            offs: vec![0],
            vals: Vec::new(),
        }
    }
}

impl<T> Rows<T> {
    pub fn push_row(&mut self, row: impl IntoIterator<Item = T>) {
        self.vals.extend(row);
        self.offs.push(self.vals.len() as u32);
    }

    pub fn get(&self, i: u32) -> &[T] {
        &self.vals[self.offs[i as usize] as usize..self.offs[i as usize + 1] as usize]
    }

    pub fn len(&self) -> u32 {
        self.offs.len() as u32 - 1
    }

    /// Every row's values, end to end (`span` says where a row sits).
    pub fn values(&self) -> &[T] {
        &self.vals
    }

    /// Where row `i` sits in the flat values (for arrays kept parallel to them).
    pub fn span(&self, i: u32) -> std::ops::Range<usize> {
        self.offs[i as usize] as usize..self.offs[i as usize + 1] as usize
    }
}

/// A directory over `(hash, value)` pairs sorted by hash: the top bits of a hash pick a bucket,
/// so a lookup costs two memory reads instead of a binary search's twenty. Rebuilt on load.
#[derive(Debug, Clone, Default)]
pub(crate) struct HashDir {
    shift: u32,
    starts: Vec<u32>,
}

impl HashDir {
    pub fn build(sorted: &[(u64, u32)]) -> HashDir {
        let bits = (sorted.len().max(2) as f64).log2().ceil() as u32;
        let shift = 64 - bits.clamp(1, 30);
        let buckets = 1usize << (64 - shift);
        let mut starts = vec![0u32; buckets + 1];
        let mut i = 0usize;
        for (b, start) in starts.iter_mut().enumerate().take(buckets) {
            while i < sorted.len() && ((sorted[i].0 >> shift) as usize) < b {
                i += 1;
            }
            *start = i as u32;
        }
        starts[buckets] = sorted.len() as u32;
        HashDir { shift, starts }
    }

    /// The values stored under `h`.
    pub fn get<'a>(&self, sorted: &'a [(u64, u32)], h: u64) -> impl Iterator<Item = u32> + 'a {
        let b = (h >> self.shift) as usize;
        let (lo, hi) = match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, 0),
        };
        sorted[lo..hi]
            .iter()
            .filter(move |(x, _)| *x == h)
            .map(|(_, v)| *v)
    }
}

/// What stage 1 needs of a product once its score is known: the IDF mass of its words (by
/// weight) for the coverage tie-break, and its pack size code (see `prod_size`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stage1Info {
    pub norm: f32,
    pub size: u32,
}

/// The size code of a product without a pack size (see `prod_size`).
pub(crate) const NO_SIZE: u32 = 0;

/// A catalog row as matching sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub brand: &'a str,
    /// Pack size text ("500 g", "2x1 L", "Combo"); may be empty (then sizes in the name count).
    pub quantity: &'a str,
    pub barcode: &'a str,
    /// More names (regional names); matched like descriptors.
    pub aliases: &'a [&'a str],
}

/// Weight of a product word in "how much of the product does the query cover": brand and head
/// words 1.0, descriptors (after " - ", ",", "(") 0.3.
pub(crate) const WEIGHT_FULL: u8 = 10;
pub(crate) const WEIGHT_DESCRIPTOR: u8 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatchIndex {
    pub(crate) lexicon_fingerprint: u64,
    pub(crate) ids: Strings,
    /// Unique words of each product: brand words first, then name, then other text.
    pub(crate) prod_terms: Rows<u32>,
    /// Parallel to `prod_terms` values: the word's weight x 10.
    pub(crate) prod_weight: Vec<u8>,
    pub(crate) prod_nbrand: Vec<u8>,
    /// The pack size (from the quantity field, else the name) as a size code: `NO_SIZE`, or one
    /// more than its position in `size_df` (four bytes a product instead of an `Option<Size>`'s
    /// sixteen). `prod_stage1` holds a copy next to what stage 1 reads with it.
    pub(crate) prod_size: Vec<u32>,
    /// Every other size the product states (multi-size fields, sizes inside the name).
    pub(crate) prod_sizes: Rows<Size>,
    /// A quantity field that names no size ("Combo"), squashed; empty otherwise.
    pub(crate) prod_qty_text: Strings,
    /// Numeric GTIN (zero padding does not change it), 0 when none.
    pub(crate) prod_barcode: Vec<u64>,
    /// Products with the same brand, name and size share a class.
    pub(crate) prod_class: Vec<u32>,
    /// Sorted vocabulary; a term's id is its position.
    pub(crate) terms: Strings,
    pub(crate) term_df: Vec<u32>,
    pub(crate) term_fkey: Vec<u32>,
    pub(crate) term_ckey: Vec<u32>,
    pub(crate) fkeys: Strings,
    pub(crate) fkey_terms: Rows<u32>,
    pub(crate) ckeys: Strings,
    pub(crate) ckey_terms: Rows<u32>,
    pub(crate) postings: Rows<u32>,
    /// (hash of a word with one letter deleted, term) for words of 4+ letters, sorted.
    pub(crate) deletes: Vec<(u64, u32)>,
    #[serde(skip)]
    pub(crate) deletes_dir: HashDir,
    /// Per product, what stage 1 reads after the scatter (side by side: one memory access).
    #[serde(skip)]
    pub(crate) prod_stage1: Vec<Stage1Info>,
    /// Per word: its IDF, and whether it is a number (model numbers, SPF...).
    #[serde(skip)]
    pub(crate) term_idf: Vec<f32>,
    #[serde(skip)]
    pub(crate) term_numeric: Vec<bool>,
    /// Per word: mostly a brand (the brand of at least two products, and a brand in at least
    /// half the products it is in), so a row naming it names a brand.
    #[serde(skip)]
    pub(crate) term_brand: Vec<bool>,
    /// Per word: the variant it names (a colour, a flavour...: `variants.tsv`), unless it is
    /// mostly a brand.
    #[serde(skip)]
    pub(crate) term_class: Vec<Option<WordClass>>,
    /// Per word: a model code (`analyze::model_code`).
    #[serde(skip)]
    pub(crate) term_code: Vec<bool>,
    /// Per word: what scoring needs to rule it out against a query word without reading the
    /// strings (one memory access instead of four).
    #[serde(skip)]
    pub(crate) term_sig: Vec<TermSig>,
    /// (hash of a word, term), sorted: exact lookups without a binary search.
    #[serde(skip)]
    pub(crate) term_hashes: Vec<(u64, u32)>,
    #[serde(skip)]
    pub(crate) term_dir: HashDir,
    /// The same for the phonetic key tables.
    #[serde(skip)]
    pub(crate) fkey_hashes: Vec<(u64, u32)>,
    #[serde(skip)]
    pub(crate) fkey_dir: HashDir,
    #[serde(skip)]
    pub(crate) ckey_hashes: Vec<(u64, u32)>,
    #[serde(skip)]
    pub(crate) ckey_dir: HashDir,
    /// (numeric GTIN, product), sorted.
    pub(crate) barcodes: Vec<(u64, u32)>,
    /// How many products have each pack size, sorted by size.
    pub(crate) size_df: Vec<(Size, u32)>,
    /// The model that turns a candidate's evidence into a probability, learnt at build time.
    pub(crate) calibration: Calibration,
    /// How long learning it took (0 for an index loaded from a snapshot).
    #[serde(skip)]
    pub(crate) calibration_seconds: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a matching-index snapshot")]
    NotASnapshot,
    #[error("snapshot format {found}; this build reads format {FORMAT_VERSION}: rebuild the index")]
    Version { found: u32 },
    #[error("the snapshot was built with another matching vocabulary: rebuild the index")]
    StaleVocabulary,
    #[error("corrupt snapshot: {0}")]
    Corrupt(String),
}

/// The numeric value of a barcode's digits, if it has any (and at most 18).
pub fn barcode_number(s: &str) -> Option<u64> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

struct Pending {
    terms: Vec<(u32, u8)>,
    nbrand: u8,
    size: Option<Size>,
    sizes: Vec<Size>,
    qty_text: String,
    class_key: String,
}

impl MatchIndex {
    /// Builds the index over `rows`. Products are numbered in brand and name order, so that the
    /// postings of most words fall in runs of nearby products (fewer cache misses when a query
    /// walks them); `product_id` maps back.
    pub fn build<'a>(rows: impl IntoIterator<Item = CatalogRow<'a>>) -> MatchIndex {
        let lexicon = Lexicon::builtin();
        let mut rows: Vec<CatalogRow<'a>> = rows.into_iter().collect();
        let keys: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{}\u{1}{}",
                    super::text::normalize(r.brand),
                    super::text::normalize(r.name)
                )
            })
            .collect();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        // By brand and name, then id: the catalog's own order (a table scan's, which moves
        // with every write) must not number the products, or ties would fall differently after
        // a rebuild of the same catalog.
        order.sort_by(|&a, &b| {
            keys[a]
                .cmp(&keys[b])
                .then_with(|| rows[a].id.cmp(rows[b].id))
                .then(a.cmp(&b))
        });
        drop(keys);
        rows = order.into_iter().map(|i| rows[i]).collect();
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut ids = Strings::default();
        let mut pending: Vec<Pending> = Vec::new();
        let mut barcodes = Vec::new();
        let intern = |w: &str, vocab: &mut HashMap<String, u32>| -> u32 {
            if let Some(&id) = vocab.get(w) {
                return id;
            }
            let id = vocab.len() as u32;
            vocab.insert(w.to_string(), id);
            id
        };
        for (i, row) in rows.iter().enumerate() {
            ids.push(row.id);
            if let Some(b) = barcode_number(row.barcode) {
                barcodes.push((b, i as u32));
            }
            let p = analyze_row(row, lexicon);
            let mut terms: Vec<(u32, u8)> = Vec::with_capacity(p.words.len());
            for (w, weight) in &p.words {
                let id = intern(w, &mut vocab);
                match terms.iter_mut().find(|(t, _)| *t == id) {
                    Some(existing) => existing.1 = existing.1.max(*weight),
                    None => terms.push((id, *weight)),
                }
            }
            let nbrand = terms.len().min(p.brand_words) as u8;
            pending.push(Pending {
                terms,
                nbrand,
                size: p.size,
                sizes: p.sizes,
                qty_text: p.qty_text,
                class_key: p.class_key,
            });
        }
        let n = pending.len();

        // Vocabulary in sorted order; remap ids.
        let mut sorted: Vec<(String, u32)> = vocab.into_iter().collect();
        sorted.sort_unstable();
        let mut remap = vec![0u32; sorted.len()];
        let mut terms = Strings::default();
        for (new, (w, old)) in sorted.iter().enumerate() {
            remap[*old as usize] = new as u32;
            terms.push(w);
        }
        let nterms = sorted.len();
        drop(sorted);

        let mut prod_terms = Rows::default();
        let mut prod_weight = Vec::new();
        let mut prod_nbrand = Vec::with_capacity(n);
        let mut prod_size = Vec::with_capacity(n);
        let mut prod_sizes = Rows::default();
        let mut prod_qty_text = Strings::default();
        let mut prod_class = Vec::with_capacity(n);
        let mut classes: HashMap<String, u32> = HashMap::new();
        let mut counts = vec![0u32; nterms];
        let mut size_counts: HashMap<Size, u32> = HashMap::new();
        for p in &pending {
            for (t, _) in &p.terms {
                counts[remap[*t as usize] as usize] += 1;
            }
        }
        // Postings: products in order, so each list is sorted.
        let mut post_offs = Vec::with_capacity(nterms + 1);
        post_offs.push(0u32);
        let mut acc = 0u32;
        for c in &counts {
            acc += c;
            post_offs.push(acc);
        }
        let mut post_vals = vec![0u32; acc as usize];
        let mut fill = post_offs.clone();
        for (i, p) in pending.into_iter().enumerate() {
            prod_terms.push_row(p.terms.iter().map(|(t, _)| remap[*t as usize]));
            prod_weight.extend(p.terms.iter().map(|(_, w)| *w));
            for (t, _) in &p.terms {
                let t = remap[*t as usize] as usize;
                post_vals[fill[t] as usize] = i as u32;
                fill[t] += 1;
            }
            prod_nbrand.push(p.nbrand);
            if let Some(s) = p.size {
                *size_counts.entry(s).or_default() += 1;
            }
            prod_size.push(p.size);
            prod_sizes.push_row(p.sizes);
            prod_qty_text.push(&p.qty_text);
            let next = classes.len() as u32;
            prod_class.push(*classes.entry(p.class_key).or_insert(next));
        }
        let postings = Rows {
            offs: post_offs,
            vals: post_vals,
        };

        // Phonetic keys.
        let mut term_fkey = vec![0u32; nterms];
        let mut term_ckey = vec![0u32; nterms];
        let (fkeys, fkey_terms) = key_table(&terms, phonetic::key, &mut term_fkey);
        let (ckeys, ckey_terms) = key_table(
            &terms,
            |t| phonetic::coarse(&phonetic::key(t)),
            &mut term_ckey,
        );

        // One-deletion table (SymSpell) for typo lookups.
        let mut deletes = Vec::new();
        for t in 0..terms.len() {
            let w = terms.get(t);
            if w.len() >= 4 && is_alpha(w) {
                for j in 0..w.len() {
                    let d = format!("{}{}", &w[..j], &w[j + 1..]);
                    deletes.push((hash_str(&d), t));
                }
            }
        }
        deletes.sort_unstable();
        deletes.dedup();
        barcodes.sort_unstable();
        let mut size_df: Vec<(Size, u32)> = size_counts.into_iter().collect();
        size_df.sort_unstable();
        let prod_size = prod_size
            .into_iter()
            .map(|own: Option<Size>| {
                own.and_then(|own| size_df.binary_search_by(|(s, _)| s.cmp(&own)).ok())
                    .map_or(NO_SIZE, |i| i as u32 + 1)
            })
            .collect();

        let mut index = MatchIndex {
            lexicon_fingerprint: lexicon.fingerprint,
            ids,
            prod_terms,
            prod_weight,
            prod_nbrand,
            prod_size,
            prod_sizes,
            prod_qty_text,
            prod_barcode: {
                let mut v = vec![0u64; n];
                for (b, i) in &barcodes {
                    v[*i as usize] = *b;
                }
                v
            },
            prod_class,
            term_df: counts,
            term_fkey,
            term_ckey,
            fkeys,
            fkey_terms,
            ckeys,
            ckey_terms,
            postings,
            deletes,
            deletes_dir: HashDir::default(),
            prod_stage1: Vec::new(),
            term_idf: Vec::new(),
            term_numeric: Vec::new(),
            term_brand: Vec::new(),
            term_class: Vec::new(),
            term_code: Vec::new(),
            term_sig: Vec::new(),
            term_hashes: Vec::new(),
            term_dir: HashDir::default(),
            fkey_hashes: Vec::new(),
            fkey_dir: HashDir::default(),
            ckey_hashes: Vec::new(),
            ckey_dir: HashDir::default(),
            barcodes,
            size_df,
            terms,
            calibration: Calibration::default(),
            calibration_seconds: 0.0,
        };
        index.build_directories();
        let started = std::time::Instant::now();
        index.calibration = Calibration::train(&index, &rows);
        index.calibration_seconds = started.elapsed().as_secs_f32();
        index
    }

    /// The lookup directories (derived, so not stored in snapshots).
    fn build_directories(&mut self) {
        fn hashed(strings: &Strings) -> (Vec<(u64, u32)>, HashDir) {
            let mut v: Vec<(u64, u32)> = (0..strings.len())
                .map(|i| (hash_str(strings.get(i)), i))
                .collect();
            v.sort_unstable();
            let dir = HashDir::build(&v);
            (v, dir)
        }
        self.deletes_dir = HashDir::build(&self.deletes);
        let n = self.len() as f32;
        self.term_idf = self
            .term_df
            .iter()
            .map(|&df| (1.0 + n / df.max(1) as f32).ln())
            .collect();
        self.term_numeric = (0..self.terms.len())
            .map(|t| {
                let w = self.terms.get(t);
                !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            })
            .collect();
        let mut as_brand = vec![0u32; self.terms.len() as usize];
        for p in 0..self.prod_terms.len() {
            let nb = usize::from(self.prod_nbrand[p as usize]);
            for &t in self.prod_terms.get(p).iter().take(nb) {
                as_brand[t as usize] += 1;
            }
        }
        self.term_brand = as_brand
            .iter()
            .zip(&self.term_df)
            .map(|(&b, &df)| b >= 2 && b * 2 >= df)
            .collect();
        let lexicon = Lexicon::builtin();
        self.term_class = (0..self.terms.len())
            .map(|t| {
                let brand = self.term_brand[t as usize];
                lexicon.variant(self.terms.get(t)).filter(|_| !brand)
            })
            .collect();
        self.term_code = (0..self.terms.len())
            .map(|t| is_code(self.terms.get(t)))
            .collect();
        self.term_sig = (0..self.terms.len())
            .map(|t| {
                let (f, c) = (self.term_fkey[t as usize], self.term_ckey[t as usize]);
                TermSig {
                    word: WordSig::of(self.terms.get(t)),
                    fkey: WordSig::of(self.fkeys.get(f)),
                    fkey_id: f,
                    ckey_id: c,
                }
            })
            .collect();
        self.prod_stage1 = (0..self.prod_terms.len())
            .map(|p| {
                let span = self.prod_terms.span(p);
                let norm = self
                    .prod_terms
                    .get(p)
                    .iter()
                    .zip(&self.prod_weight[span])
                    .map(|(t, w)| {
                        self.term_idf[*t as usize] * f32::from(*w) / f32::from(WEIGHT_FULL)
                    })
                    .sum();
                Stage1Info {
                    norm,
                    size: self.prod_size[p as usize],
                }
            })
            .collect();
        (self.term_hashes, self.term_dir) = hashed(&self.terms);
        (self.fkey_hashes, self.fkey_dir) = hashed(&self.fkeys);
        (self.ckey_hashes, self.ckey_dir) = hashed(&self.ckeys);
    }

    /// Product `p`'s pack size.
    pub(crate) fn pack_size(&self, p: u32) -> Option<Size> {
        let code = self.prod_size[p as usize];
        (code != NO_SIZE).then(|| self.size_df[code as usize - 1].0)
    }

    /// The id of a catalog word.
    pub(crate) fn term_id(&self, w: &str) -> Option<u32> {
        self.term_dir
            .get(&self.term_hashes, hash_str(w))
            .find(|&t| self.terms.get(t) == w)
    }

    /// The id of a fine phonetic key.
    pub(crate) fn fkey_id(&self, k: &str) -> Option<u32> {
        self.fkey_dir
            .get(&self.fkey_hashes, hash_str(k))
            .find(|&i| self.fkeys.get(i) == k)
    }

    /// The id of a coarse phonetic key.
    pub(crate) fn ckey_id(&self, k: &str) -> Option<u32> {
        self.ckey_dir
            .get(&self.ckey_hashes, hash_str(k))
            .find(|&i| self.ckeys.get(i) == k)
    }

    pub fn len(&self) -> usize {
        self.ids.len() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The catalog id of product `i`.
    pub fn product_id(&self, i: u32) -> &str {
        self.ids.get(i)
    }

    pub fn vocabulary_size(&self) -> usize {
        self.terms.len() as usize
    }

    /// The confidence model this index learnt from its catalog.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// How long this build spent learning it (0 for an index loaded from a snapshot).
    pub fn calibration_seconds(&self) -> f32 {
        self.calibration_seconds
    }

    /// The snapshot: magic, format version, vocabulary fingerprint, then the index (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 << 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.lexicon_fingerprint.to_le_bytes());
        postcard::to_io(self, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MatchIndex, SnapshotError> {
        let mut index = Self::decode(bytes)?;
        index.build_directories();
        Ok(index)
    }

    /// [`from_bytes`](Self::from_bytes), freeing the snapshot (pass the owned buffer) as soon
    /// as it is decoded, before the lookup tables derived from it are built: a smaller peak
    /// while a Lambda loads it.
    pub fn from_owned_bytes(bytes: impl AsRef<[u8]>) -> Result<MatchIndex, SnapshotError> {
        let mut index = Self::decode(bytes.as_ref())?;
        drop(bytes);
        index.build_directories();
        Ok(index)
    }

    /// The snapshot's fields, checked, without the derived lookup tables.
    fn decode(bytes: &[u8]) -> Result<MatchIndex, SnapshotError> {
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if found != FORMAT_VERSION {
            return Err(SnapshotError::Version { found });
        }
        let fingerprint = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        if fingerprint != Lexicon::builtin().fingerprint {
            return Err(SnapshotError::StaleVocabulary);
        }
        let index: MatchIndex = postcard::from_bytes(&bytes[20..])
            .map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        index.check()?;
        Ok(index)
    }

    /// Cheap consistency checks after loading (lengths agree, ids in range).
    fn check(&self) -> Result<(), SnapshotError> {
        let n = self.ids.len() as usize;
        let nt = self.terms.len() as usize;
        let ok = self.prod_terms.len() as usize == n
            && self.prod_weight.len() == self.prod_terms.vals.len()
            && [
                self.prod_nbrand.len(),
                self.prod_size.len(),
                self.prod_barcode.len(),
                self.prod_class.len(),
            ]
            .iter()
            .all(|&l| l == n)
            && self.prod_sizes.len() as usize == n
            && self.prod_qty_text.len() as usize == n
            && self
                .prod_size
                .iter()
                .all(|&s| s as usize <= self.size_df.len())
            && [
                self.term_df.len(),
                self.term_fkey.len(),
                self.term_ckey.len(),
            ]
            .iter()
            .all(|&l| l == nt)
            && self.postings.len() as usize == nt
            && self.prod_terms.vals.iter().all(|&t| (t as usize) < nt)
            && self.postings.vals.iter().all(|&p| (p as usize) < n)
            && self.term_fkey.iter().all(|&k| k < self.fkeys.len())
            && self.term_ckey.iter().all(|&k| k < self.ckeys.len())
            && self.barcodes.iter().all(|&(_, p)| (p as usize) < n)
            && self.deletes.iter().all(|&(_, t)| (t as usize) < nt);
        if ok {
            Ok(())
        } else {
            Err(SnapshotError::Corrupt("inconsistent tables".into()))
        }
    }
}

/// Sorted unique keys of all terms, each with its terms; fills `term_key`.
fn key_table(
    terms: &Strings,
    key: impl Fn(&str) -> String,
    term_key: &mut [u32],
) -> (Strings, Rows<u32>) {
    let mut pairs: Vec<(String, u32)> = (0..terms.len()).map(|t| (key(terms.get(t)), t)).collect();
    pairs.sort_unstable();
    let mut keys = Strings::default();
    let mut rows = Rows::default();
    let mut i = 0;
    while i < pairs.len() {
        let k = pairs[i].0.clone();
        let start = i;
        while i < pairs.len() && pairs[i].0 == k {
            term_key[pairs[i].1 as usize] = keys.len();
            i += 1;
        }
        keys.push(&k);
        rows.push_row(pairs[start..i].iter().map(|(_, t)| *t));
    }
    (keys, rows)
}

/// What one catalog row contributes.
struct RowWords {
    words: Vec<(String, u8)>,
    brand_words: usize,
    size: Option<Size>,
    sizes: Vec<Size>,
    qty_text: String,
    class_key: String,
}

fn analyze_row(row: &CatalogRow, lexicon: &Lexicon) -> RowWords {
    let mut words: Vec<(String, u8)> = Vec::new();
    let push = |a: &Analyzed, weight: &dyn Fn(usize) -> u8, words: &mut Vec<(String, u8)>| {
        for (k, l) in text_words(a, lexicon) {
            words.push((l.text.clone(), weight(k)));
            for alt in &l.alts {
                words.push((alt.clone(), weight(k)));
            }
        }
    };
    let full = |_: usize| WEIGHT_FULL;
    let brand = analyze(row.brand, lexicon);
    push(&brand, &full, &mut words);
    let brand_words = words.len();

    let name = super::text::normalize(row.name);
    let (head, tail) = split_head(&name);
    let mut lexemes = lex_field(head, lexicon);
    let head_len = lexemes.len();
    lexemes.extend(lex_field(tail, lexicon));
    let name = sized(lexemes, lexicon);
    let name_start = words.len();
    push(
        &name,
        &|k| {
            if k < head_len {
                WEIGHT_FULL
            } else {
                WEIGHT_DESCRIPTOR
            }
        },
        &mut words,
    );
    let name_words: Vec<String> = words[name_start..].iter().map(|(w, _)| w.clone()).collect();

    let qty = analyze(row.quantity, lexicon);
    let mut qty_text = String::new();
    if qty.sizes.is_empty() {
        qty_text = super::text::normalize(row.quantity)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        push(&qty, &full, &mut words);
    }
    for alias in row.aliases {
        push(&analyze(alias, lexicon), &|_| WEIGHT_DESCRIPTOR, &mut words);
    }
    let mut sizes: Vec<Size> = qty.sizes.iter().map(|f| f.size).collect();
    let size = sizes.first().copied().or_else(|| {
        if row.quantity.trim().is_empty() {
            name.sizes.first().map(|f| f.size)
        } else {
            None
        }
    });
    if !sizes.is_empty() {
        sizes.remove(0);
    }
    sizes.extend(
        name.sizes
            .iter()
            .map(|f| f.size)
            .filter(|s| Some(*s) != size),
    );
    let brand_key: Vec<&str> = words[..brand_words]
        .iter()
        .map(|(w, _)| w.as_str())
        .collect();
    let class_key = format!(
        "{}\u{1}{}\u{1}{}",
        brand_key.join(" "),
        name_words.join(" "),
        size.map(|s| s.to_string())
            .unwrap_or_else(|| qty_text.clone())
    );
    RowWords {
        words,
        brand_words,
        size,
        sizes,
        qty_text,
        class_key,
    }
}
