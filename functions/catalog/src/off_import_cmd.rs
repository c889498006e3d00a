//! `catalog off-import FILE`: an Open Food Facts export (`.jsonl[.gz]` or `.csv[.gz]`) loaded
//! into the catalog, on the embedded backend (`--data-dir`) or on the DynamoDB tables the
//! environment names (`--aws`: the variables a function has, see README "Configuration"),
//! with a progress bar.
//!
//! The file is read on a thread of its own, a chunk ahead of the writes (memory stays flat
//! whatever its size; `services::off_import::run`). The place reached is saved beside the file after every chunk
//! (`FILE.off-import-place`), so a run cut short goes on from there when started again; the
//! load is idempotent besides, so starting over (`--restart`) writes nothing twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use catalog_core::app::App;
use catalog_core::off::reader::{self, OffFormat};
use catalog_core::services::Catalog;
use catalog_core::services::off_import::{DEFAULT_COUNTRY, OffImportOptions, OffImportStats};
use futures::StreamExt;

#[derive(clap::Args)]
pub struct Args {
    /// The export: OFF's JSONL (`.jsonl`, `.jsonl.gz`) or CSV (tab-separated, `.csv`, `.csv.gz`).
    pub file: PathBuf,
    /// Load only products OFF lists as sold in this country (an OFF tag).
    #[arg(long, default_value = DEFAULT_COUNTRY, conflicts_with = "all_countries")]
    pub country: String,
    /// Load every country's products.
    #[arg(long)]
    pub all_countries: bool,
    /// Folder of the embedded backend (as for `serve`).
    #[arg(long, default_value = "data", env = "CATALOG_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Load into DynamoDB as the environment configures it (PRODUCTS_TABLE and the rest, and
    /// the AWS SDK's own variables) instead of the embedded backend.
    #[arg(long)]
    pub aws: bool,
    /// Start from the file's beginning even if an earlier run saved its place.
    #[arg(long)]
    pub restart: bool,
    /// No progress bar; one JSON line of figures at the end (benchmarks).
    #[arg(long)]
    pub quiet: bool,
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

/// Where a run got to in a file, saved beside it.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Place {
    /// The file as it was (a changed file starts over).
    size: u64,
    modified_ms: u128,
    records_done: u64,
}

fn place_path(file: &Path) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(".off-import-place");
    PathBuf::from(p)
}

fn file_id(file: &Path) -> anyhow::Result<(u64, u128)> {
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    Ok((meta.len(), modified))
}

async fn catalog(args: &Args, secret: &str) -> anyhow::Result<Catalog> {
    if args.aws {
        let config = catalog_core::config::Config::from_env()?;
        let sdk = catalog_core::adapters::aws_http::sdk_loader().load().await;
        let clients = catalog_core::app::AwsClients::new(&sdk, config.s3_path_style);
        Ok(App::from_config(&config, clients).await?.catalog.clone())
    } else {
        let (app, _) = App::embedded_with(
            &args.data_dir,
            "http://127.0.0.1:8080",
            secret,
            Arc::new(catalog_core::services::LoggedEvents),
            Arc::new(catalog_core::adapters::sms::LoggedCodes),
            None,
        )?;
        Ok(app.catalog.clone())
    }
}

pub async fn run(args: Args, secret: &str) -> anyhow::Result<()> {
    let catalog = catalog(&args, secret).await?;
    let (size, modified_ms) = file_id(&args.file)?;
    let place_file = place_path(&args.file);
    let resume_from = match std::fs::read(&place_file) {
        Ok(bytes) if !args.restart => serde_json::from_slice::<Place>(&bytes)
            .ok()
            .filter(|p| p.size == size && p.modified_ms == modified_ms)
            .map_or(0, |p| p.records_done),
        _ => 0,
    };
    let opts = OffImportOptions {
        country: (!args.all_countries).then(|| args.country.clone()),
    };
    let read = Arc::new(AtomicU64::new(0));
    // Opened here, so that a file that is not an export is said before anything starts.
    let records = reader::open(&args.file, read.clone())
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut loads = std::pin::pin!(catalog.load_off_export(move || Ok(records), resume_from, opts));

    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(size)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if resume_from > 0 && !args.quiet {
        println!(
            "going on after record {resume_from} (where the last run stopped; --restart starts over)"
        );
    }
    let started = std::time::Instant::now();
    let mut total = OffImportStats::default();
    let mut done = resume_from;
    while let Some(loaded) = loads.next().await {
        let chunk = loaded?;
        total.add(&chunk.stats);
        done += chunk.records;
        let place = Place {
            size,
            modified_ms,
            records_done: done,
        };
        std::fs::write(&place_file, serde_json::to_vec(&place)?)
            .with_context(|| format!("saving the place in {}", place_file.display()))?;
        bar.set_position(read.load(Ordering::Relaxed));
        bar.set_message(format!(
            "{} records, {} new, {} enriched",
            total.records, total.created, total.enriched
        ));
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&place_file);
    let seconds = started.elapsed().as_secs_f64();
    if args.quiet {
        println!(
            "{}",
            serde_json::json!({
                "stats": total,
                "seconds": seconds,
                "peak_rss_mb": crate::match_cmd::peak_rss_mb(),
            })
        );
    } else {
        println!(
            "{} records in {:.1} s ({:.0}/s): {} new products, {} enriched, {} unchanged; skipped {} of other countries, {} without a valid barcode or name, {} repeated",
            total.records,
            seconds,
            total.records as f64 / seconds.max(1e-9),
            total.created,
            total.enriched,
            total.unchanged,
            total.other_country,
            total.invalid,
            total.repeated,
        );
        println!("{}", catalog_core::domain::enrichment::OFF_NOTICE);
    }
    if total.records == 0 && resume_from == 0 {
        bail!("{} holds no records", args.file.display());
    }
    Ok(())
}

/// The demo catalog (`demo/off-india.jsonl.gz`: Open Food Facts data, ODbL; see
/// `demo/NOTICE.md`).
const DEMO: &[u8] = include_bytes!("../demo/off-india.jsonl.gz");

/// Loads the demo catalog into `catalog` when it holds no product yet (a fresh data folder);
/// `None` when it already has products.
pub async fn load_demo(catalog: &Catalog) -> anyhow::Result<Option<OffImportStats>> {
    use catalog_core::ports::{PageQuery, ProductFilter};
    let any = catalog
        .products
        .list(
            &ProductFilter::default(),
            &PageQuery {
                after: None,
                limit: 1,
            },
        )
        .await?;
    if !any.items.is_empty() {
        return Ok(None);
    }
    let mut total = OffImportStats::default();
    let open = || {
        let counted = Arc::new(AtomicU64::new(0));
        Ok(reader::records(
            Box::new(DEMO),
            OffFormat::Jsonl,
            true,
            counted,
        ))
    };
    let opts = OffImportOptions { country: None };
    let mut loads = std::pin::pin!(catalog.load_off_export(open, 0, opts));
    while let Some(loaded) = loads.next().await {
        total.add(&loaded?.stats);
    }
    Ok(Some(total))
}
