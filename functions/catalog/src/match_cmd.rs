//! `catalog match`: runs the matching engine over a catalog file and a file of queries, writes
//! `query_id,product_id,decision,score,sizes` (score: the top candidate's probability; sizes:
//! the pack sizes read from the row, `|`-joined), and prints the figures (queries/s on one
//! thread and on all threads, index build time, snapshot size and load time, peak RSS, the
//! confidence model's weights).
//!
//! The index that answers the queries is the one loaded back from the snapshot bytes, so the
//! figures cover the path a Lambda takes at cold start.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use catalog_core::matching::{CALIBRATION_NAMES, CatalogRow, MatchIndex, MatchQuery, Scratch};

#[derive(clap::Args)]
pub struct Args {
    /// Catalog CSV (or .csv.gz) with product_id, name, brand, quantity, barcode.
    #[arg(long, required_unless_present = "index")]
    pub catalog: Option<PathBuf>,
    /// Queries CSV; only query_id, name, brand, quantity and barcode are read.
    #[arg(long)]
    pub queries: PathBuf,
    /// Where to write query_id,product_id,decision,score,sizes.
    #[arg(long)]
    pub out: PathBuf,
    /// Threads for the all-threads figure (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write the index snapshot here.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Load this index snapshot instead of building one from --catalog.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Minimum seconds per timing pass (the query set is repeated).
    #[arg(long, default_value_t = 1.0)]
    pub min_seconds: f64,
    /// Timing passes per figure: the best and the median pass are printed (on a shared
    /// machine other work only ever slows a pass down, so the best is the engine's speed).
    #[arg(long, default_value_t = 5)]
    pub passes: usize,
    /// Also write each query's best candidates with their evidence (JSON lines).
    #[arg(long)]
    pub explain: Option<PathBuf>,
}

/// Queries per second over several timing passes.
struct Rates {
    best: f64,
    median: f64,
}

impl Rates {
    fn of(mut passes: Vec<f64>) -> Rates {
        passes.sort_by(f64::total_cmp);
        Rates {
            best: passes.last().copied().unwrap_or(0.0),
            median: median(&passes),
        }
    }
}

/// The median of sorted values (the mean of the middle two for an even count; 0 for none).
pub fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => 0.0,
        n if n.is_multiple_of(2) => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

/// Candidates per query in the `--explain` file.
const EXPLAINED: usize = 24;

struct OwnedRow {
    id: String,
    name: String,
    brand: String,
    quantity: String,
    barcode: String,
}

pub fn open(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let r = BufReader::with_capacity(1 << 20, f);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else {
        Box::new(r)
    })
}

/// Reads CSV rows, picking the named columns (missing optional columns read as empty).
pub fn read_csv(
    path: &Path,
    required: &[&str],
    optional: &[&str],
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(open(path)?);
    let headers = reader
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .clone();
    let pos = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let mut cols = Vec::new();
    for name in required {
        cols.push(Some(pos(name).with_context(|| {
            format!("{} has no column {name}", path.display())
        })?));
    }
    for name in optional {
        cols.push(pos(name));
    }
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        out.push(
            cols.iter()
                .map(|c| c.and_then(|c| rec.get(c)).unwrap_or("").to_string())
                .collect(),
        );
    }
    Ok(out)
}

/// A query row (query_id, name, brand, quantity, barcode) as the engine reads it.
fn query(r: &[String]) -> MatchQuery<'_> {
    MatchQuery {
        name: &r[1],
        brand: &r[2],
        quantity: &r[3],
        barcode: &r[4],
    }
}

pub fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

/// The resident set now, in MB (Linux).
pub fn rss_mb() -> Option<f64> {
    proc_status_mb("VmRSS:")
}

fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn read_catalog(path: &Path) -> anyhow::Result<Vec<OwnedRow>> {
    let rows: Vec<OwnedRow> = read_csv(
        path,
        &["product_id", "name"],
        &["brand", "quantity", "barcode"],
    )?
    .into_iter()
    .map(|mut r| OwnedRow {
        barcode: r.pop().unwrap_or_default(),
        quantity: r.pop().unwrap_or_default(),
        brand: r.pop().unwrap_or_default(),
        name: r.pop().unwrap_or_default(),
        id: r.pop().unwrap_or_default(),
    })
    .collect();
    if rows.is_empty() {
        bail!("{} has no products", path.display());
    }
    Ok(rows)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (bytes, read_s, build_s, calibrate_s, vocabulary) = match &args.index {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            (bytes, 0.0, 0.0, 0.0, 0)
        }
        None => {
            let t = Instant::now();
            let path = args
                .catalog
                .as_deref()
                .context("--catalog or --index is required")?;
            let catalog = read_catalog(path)?;
            let read_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let index = MatchIndex::build(catalog.iter().map(|r| CatalogRow {
                id: &r.id,
                name: &r.name,
                brand: &r.brand,
                quantity: &r.quantity,
                barcode: &r.barcode,
                aliases: &[],
            }));
            let build_s = t.elapsed().as_secs_f64();
            drop(catalog);
            let vocabulary = index.vocabulary_size();
            let calibrate_s = index.calibration_seconds();
            (index.to_bytes(), read_s, build_s, calibrate_s, vocabulary)
        }
    };
    if let Some(path) = &args.snapshot {
        std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let snapshot_bytes = bytes.len();
    let t = Instant::now();
    let index = MatchIndex::from_owned_bytes(bytes)?;
    let load_s = t.elapsed().as_secs_f64();
    let vocabulary = if vocabulary == 0 {
        index.vocabulary_size()
    } else {
        vocabulary
    };

    // Only these four columns of a query are read; the rest are answers.
    let queries = read_csv(
        &args.queries,
        &["query_id"],
        &["name", "brand", "quantity", "barcode"],
    )?;

    // One thread: predictions, then timing passes.
    let mut scratch = Scratch::new(&index);
    let mut out = csv::Writer::from_path(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    out.write_record(["query_id", "product_id", "decision", "score", "sizes"])?;
    let mut explain = match &args.explain {
        Some(path) => Some(std::io::BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut decisions = [0usize; 3];
    for r in &queries {
        let o = index.match_row(&query(r), &mut scratch);
        let id = o
            .candidates
            .first()
            .map(|c| index.product_id(c.product))
            .unwrap_or("");
        decisions[o.decision as usize] += 1;
        out.write_record([
            r[0].as_str(),
            id,
            o.decision.as_str(),
            &format!("{:.4}", o.confidence()),
            &o.sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("|"),
        ])?;
        if let Some(w) = explain.as_mut() {
            let candidates: Vec<_> = o
                .candidates
                .iter()
                .take(EXPLAINED)
                .map(|c| serde_json::json!({ "product_id": index.product_id(c.product), "class": c.class, "evidence": c }))
                .collect();
            let line = serde_json::json!({
                "query_id": r[0], "decision": o.decision, "query_barcode": o.query_barcode,
                "sizes": o.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "candidates": candidates,
            });
            serde_json::to_writer(&mut *w, &line)?;
            std::io::Write::write_all(w, b"\n")?;
        }
    }
    out.flush()?;
    if let Some(mut w) = explain {
        std::io::Write::flush(&mut w)?;
    }
    let min = Duration::from_secs_f64(args.min_seconds);
    let passes = args.passes.max(1);
    // Queries per second of one pass of at least `min` on this thread.
    let pass = |scratch: &mut Scratch| {
        let (mut n, t) = (0usize, Instant::now());
        while t.elapsed() < min || n == 0 {
            for r in &queries {
                std::hint::black_box(index.match_row(&query(r), scratch));
            }
            n += queries.len();
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    let single = Rates::of((0..passes).map(|_| pass(&mut scratch)).collect());
    drop(scratch);

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let all = Rates::of(
        (0..passes)
            .map(|_| {
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                let mut scratch = Scratch::new(&index);
                                pass(&mut scratch)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("worker"))
                        .sum::<f64>()
                })
            })
            .collect(),
    );

    println!(
        "catalog={} products={} vocabulary={} queries={} decisions(match/review/new)={}/{}/{} \
         single_thread_qps={:.0} single_thread_qps_median={:.0} all_threads_qps={:.0} \
         all_threads_qps_median={:.0} threads={} passes={passes} catalog_read_s={:.2} index_build_s={:.2} \
         snapshot_bytes={} snapshot_mb={:.1} snapshot_load_s={:.3} peak_rss_mb={:.0}",
        args.catalog
            .as_deref()
            .or(args.index.as_deref())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        index.len(),
        vocabulary,
        queries.len(),
        decisions[0],
        decisions[1],
        decisions[2],
        single.best,
        single.median,
        all.best,
        all.median,
        threads,
        read_s,
        build_s,
        snapshot_bytes,
        snapshot_bytes as f64 / 1e6,
        load_s,
        peak_rss_mb().unwrap_or(f64::NAN),
    );
    let model = index.calibration();
    println!(
        "calibration: examples={} right={} seconds={calibrate_s:.2} (of the build) weights: {}",
        model.examples,
        model.positives,
        CALIBRATION_NAMES
            .iter()
            .zip(model.weights)
            .map(|(name, w)| format!("{name}={w:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_best_passes() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        let r = Rates::of(vec![5.0, 1.0, 3.0, 4.0, 2.0]);
        assert_eq!((r.best, r.median), (5.0, 3.0));
    }
}
