//! `catalog bench-import`: the bulk import end to end against DynamoDB Local and ministack
//! (`make bench-import` starts them), with the figures the import is held to: rows/s next to
//! the raw BatchWriteItem throughput of the same server in the same run, write units per row
//! (inventory items and the pending products the import creates), and the memory of the import
//! itself (its peak RSS, and how far that is above the RSS with the matching index loaded).
//!
//! The stock list is built at run time from a matchbench catalog (never copied into the
//! project): row `i` is catalog product `i mod n`, with its barcode when it has one and every
//! tenth row without (matched by name, brand and pack size), as a store's export looks. The
//! catalog's products are the matching index (ids mapped to UUIDs), published to S3 as
//! `index-build` would. With more rows than products, later rows repeat products (duplicates).
//!
//! The import itself runs in a fresh child process (`catalog bench-import-run`), as it does in
//! a Lambda: it loads the published snapshot and imports, so its memory figures are the
//! import's (and the snapshot load's), not the set-up's (building the index from the CSV
//! catalog takes several times more, which the allocator keeps).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use catalog_core::adapters::dynamo::{DynamoStore, TableNames};
use catalog_core::adapters::s3::S3Blobs;
use catalog_core::app::DEFAULT_MATCH_INDEX_KEY;
use catalog_core::auth::Principal;
use catalog_core::cursor::CursorKey;
use catalog_core::domain::{
    InventoryDetails, InventoryItem, JobId, ProductId, Quantity, StoreId, Timestamp,
};
use catalog_core::matching::{CatalogRow, MatchIndex};
use catalog_core::ports::{BlobKey, BlobStore, InventoryStore};
use catalog_core::services::Catalog;
use catalog_core::services::imports::{NewImport, RunOptions, RunOutcome};
use catalog_core::services::matching::{IndexSource, MatcherState};

use crate::match_cmd::{peak_rss_mb, read_csv, rss_mb};

#[derive(clap::Args)]
pub struct Args {
    /// The catalog the rows are drawn from (matchbench columns).
    #[arg(long, default_value = "../shared/matchbench/dev/100k/catalog.csv")]
    pub catalog: PathBuf,
    /// Rows in the generated stock list.
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    #[command(flatten)]
    pub servers: Servers,
}

#[derive(clap::Args, Clone)]
pub struct Servers {
    #[arg(long, env = "CATALOG_TEST_DYNAMODB_ENDPOINT")]
    pub dynamodb: String,
    #[arg(long, env = "CATALOG_TEST_S3_ENDPOINT")]
    pub s3: String,
}

/// The import phase, in its own process (started by `bench-import`).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Table-name prefix and bucket of the run.
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub store: String,
    #[arg(long)]
    pub job: String,
    #[command(flatten)]
    pub servers: Servers,
}

/// What the import process reports to `bench-import` (one JSON line on stdout).
#[derive(serde::Serialize, serde::Deserialize)]
struct RunFigures {
    status: String,
    processed: u64,
    successful: u64,
    failed: u64,
    duplicates: u64,
    products_created: u64,
    write_units: f64,
    write_requests: u64,
    import_s: f64,
    import_cpu_s: Option<f64>,
    /// Resident memory with the index loaded, before the import starts. CPU and memory figures
    /// are `None` where `/proc` does not give them.
    rss_start_mb: Option<f64>,
    /// Peak while importing (the mark is reset after the snapshot load).
    import_peak_mb: Option<f64>,
    /// Peak over the process's life, snapshot load and import (a Lambda's "max memory used").
    process_peak_mb: Option<f64>,
}

/// Marks the import process's figures among its output (its log lines share stdout).
const FIGURES: &str = "BENCH_IMPORT_FIGURES ";

/// CPU time (user + system) this process has used, in seconds (Linux; NaN elsewhere).
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15: 11th and 12th numbers after the state.
    match (f.get(10), f.get(11)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Items of the raw BatchWriteItem measurement (the rate settles long before).
const RAW_ITEMS: usize = 100_000;

fn uuid_for(id: &str) -> ProductId {
    ProductId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        id.as_bytes(),
    ))
}

/// Hands freed heap back to the OS and resets the kernel's peak-RSS mark, so the figure covers
/// only what follows (the set-up's memory, freed but kept by the allocator, would hide it).
fn reset_peak_rss() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

struct Clients {
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
}

async fn clients(servers: &Servers) -> Clients {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .load()
        .await;
    Clients {
        ddb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(&servers.dynamodb)
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .endpoint_url(&servers.s3)
                .force_path_style(true)
                .build(),
        ),
    }
}

/// The catalog service over the run's tables and bucket (both named `run`), matching against
/// the published snapshot as csv-import does.
fn app(clients: &Clients, run: &str) -> anyhow::Result<Catalog> {
    let store = Arc::new(DynamoStore::new(
        clients.ddb.clone(),
        TableNames::with_prefix(run),
    ));
    let uploads: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(clients.s3.clone(), run));
    let matcher = MatcherState::new(
        IndexSource::Snapshot {
            blobs: uploads.clone(),
            key: BlobKey::parse(DEFAULT_MATCH_INDEX_KEY).map_err(anyhow::Error::msg)?,
        },
        std::time::Duration::from_secs(3600),
    );
    let images: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(clients.s3.clone(), run));
    Ok(Catalog::new(
        store.clone(),
        store.clone(),
        store,
        uploads,
        images,
        matcher,
        CursorKey::derive(b"bench-import-cursor-key-32-bytes!!"),
    ))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Clients { ddb, s3 } = clients(&args.servers).await;
    let run = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let store = Arc::new(DynamoStore::new(ddb.clone(), TableNames::with_prefix(&run)));
    store
        .create_tables()
        .await
        .context("creating tables in DynamoDB Local")?;
    s3.create_bucket()
        .bucket(&run)
        .send()
        .await
        .context("creating a bucket in ministack")?;
    let uploads: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(s3.clone(), &run));

    // The catalog, as the matching index.
    let t = Instant::now();
    let catalog = read_csv(
        &args.catalog,
        &["product_id", "name"],
        &["brand", "quantity", "barcode"],
    )?;
    if catalog.is_empty() {
        bail!("{} has no products", args.catalog.display());
    }
    let ids: Vec<String> = catalog
        .iter()
        .map(|r| uuid_for(&r[0]).to_string())
        .collect();
    let index = MatchIndex::build(catalog.iter().zip(&ids).map(|(r, id)| CatalogRow {
        id,
        name: &r[1],
        brand: &r[2],
        quantity: &r[3],
        barcode: &r[4],
        aliases: &[],
    }));
    let key = BlobKey::parse(DEFAULT_MATCH_INDEX_KEY).map_err(anyhow::Error::msg)?;
    uploads
        .put(&key, index.to_bytes().into(), "application/octet-stream")
        .await?;
    let products = index.len();
    drop(index);
    let index_s = t.elapsed().as_secs_f64();

    // The stock list.
    let mut csv = String::from("name,brand,size,qty,mrp,barcode\n");
    for i in 0..args.rows {
        let r = &catalog[i % catalog.len()];
        let barcode = if i % 10 == 9 { "" } else { r[4].as_str() };
        csv.push_str(&format!(
            "{},{},{},{},{}.{:02},{}\n",
            csv_cell(&r[1]),
            csv_cell(&r[2]),
            csv_cell(&r[3]),
            i % 97,
            10 + i % 490,
            i % 100,
            barcode
        ));
    }
    drop(catalog);
    let distinct = args.rows.min(products);

    let app = app(&Clients { ddb, s3 }, &run)?;
    let shop = StoreId::parse("bench-store").map_err(anyhow::Error::msg)?;

    // Raw BatchWriteItem throughput of this server: distinct items (up to RAW_ITEMS), written
    // as the import writes them (chunks of 500, 25 per request, 8 requests in flight). Measured
    // before and after the import (DynamoDB Local warms up as it runs), after a warm-up.
    let raw = |name: &'static str, n: usize| {
        let store = store.clone();
        async move {
            let shop = StoreId::parse(name).map_err(anyhow::Error::msg)?;
            let now = Timestamp::now();
            let items: Vec<InventoryItem> = (0..n)
                .map(|i| {
                    let d = InventoryDetails {
                        quantity: Quantity::parse(&(i % 97).to_string()).unwrap_or_default(),
                        ..Default::default()
                    };
                    InventoryItem::new(shop.clone(), ProductId::new(), d, 1, now)
                })
                .collect();
            let t = Instant::now();
            let mut units = 0.0;
            for chunk in items.chunks(500) {
                units += InventoryStore::put_many(store.as_ref(), chunk)
                    .await?
                    .write_units
                    .unwrap_or(0.0);
            }
            anyhow::Ok((
                n as f64 / t.elapsed().as_secs_f64(),
                units / n.max(1) as f64,
            ))
        }
    };
    let raw_items = distinct.min(RAW_ITEMS);
    raw("warm-up", distinct.min(20_000)).await?;
    let (raw_before, raw_units) = raw("raw-before", raw_items).await?;

    // The import, end to end: job, upload to S3, run.
    let who = Principal::operator("bench");
    let created = app
        .create_import(
            &who,
            &shop,
            NewImport {
                content_length: csv.len() as u64,
                content_type: "text/csv".into(),
            },
        )
        .await?;
    let job = created.job.job;
    let bytes = csv.len();
    app.uploads
        .put(
            &BlobKey::parse(&job.upload_key).map_err(anyhow::Error::msg)?,
            csv.into(),
            "text/csv",
        )
        .await?;

    // The import, in a fresh process as in a Lambda.
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["bench-import-run", "--run", &run, "--store", shop.as_str()])
        .args(["--job", &job.job_id.to_string()])
        .args([
            "--dynamodb",
            &args.servers.dynamodb,
            "--s3",
            &args.servers.s3,
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the import process")?;
    let out = String::from_utf8_lossy(&child.stdout);
    let mut figures = None;
    for line in out.lines() {
        match line.strip_prefix(FIGURES) {
            Some(json) => figures = Some(json),
            None => eprintln!("{line}"),
        }
    }
    if !child.status.success() {
        bail!("the import process failed: {}", child.status);
    }
    let figures = figures.context("the import process printed no figures")?;
    let f: RunFigures =
        serde_json::from_str(figures).context("reading the import process's figures")?;
    let mb = |v: Option<f64>| v.unwrap_or(f64::NAN);

    let (raw_after, _) = raw("raw-after", raw_items).await?;
    let rows_s = f.processed as f64 / f.import_s;
    let raw_rows_s = (raw_before + raw_after) / 2.0;
    // Rows that wrote an item (duplicates write nothing) against raw item writes.
    let written_s = f.successful as f64 / f.import_s;
    println!(
        "catalog_products={products} index_build_s={index_s:.1} rows={} csv_mb={:.1} status={} successful={} failed={} duplicates={} new_products={} \
         import_s={:.2} import_cpu_s={:.1} import_rows_per_s={rows_s:.0} written_rows_per_s={written_s:.0} raw_batchwrite_items_per_s={raw_rows_s:.0} (before {raw_before:.0}, after {raw_after:.0}) \
         ratio={:.2} write_units_per_row={:.3} raw_write_units_per_item={:.3} write_requests={} \
         rss_index_loaded_mb={:.0} import_peak_rss_mb={:.0} import_rss_growth_mb={:.0} process_peak_rss_mb={:.0}",
        f.processed,
        bytes as f64 / 1e6,
        f.status,
        f.successful,
        f.failed,
        f.duplicates,
        f.products_created,
        f.import_s,
        mb(f.import_cpu_s),
        written_s / raw_rows_s,
        f.write_units / f.successful.max(1) as f64,
        raw_units,
        f.write_requests,
        mb(f.rss_start_mb),
        mb(f.import_peak_mb),
        mb(f.import_peak_mb) - mb(f.rss_start_mb),
        mb(f.process_peak_mb),
    );
    Ok(())
}

/// `bench-import-run`: loads the snapshot, runs the import, prints its figures as JSON.
pub async fn run_import(args: RunArgs) -> anyhow::Result<()> {
    let app = app(&clients(&args.servers).await, &args.run)?;
    let shop = StoreId::parse(&args.store).map_err(anyhow::Error::msg)?;
    let job_id = JobId::parse(&args.job).map_err(|e| anyhow::anyhow!("bad job id: {e}"))?;
    app.match_index().await?; // cold start: the snapshot load is not import time
    let load_peak = peak_rss_mb();
    reset_peak_rss();
    let rss_start = rss_mb();
    let cpu_start = cpu_s();
    let t = Instant::now();
    let (outcome, stats) = app
        .run_import(&shop, &job_id, &RunOptions::default())
        .await?;
    let import_s = t.elapsed().as_secs_f64();
    let import_cpu_s = Some(cpu_s() - cpu_start).filter(|s| s.is_finite());
    let import_peak = peak_rss_mb();
    let RunOutcome::Finished(done) = outcome else {
        bail!("the import did not finish: {outcome:?}")
    };
    let c = done.counters;
    let figures = RunFigures {
        status: done.status.as_str().to_string(),
        processed: c.processed,
        successful: c.successful,
        failed: c.failed,
        duplicates: c.duplicates_found,
        products_created: stats.products_created,
        write_units: stats.write_units,
        write_requests: stats.write_requests as u64,
        import_s,
        import_cpu_s,
        rss_start_mb: rss_start,
        import_peak_mb: import_peak,
        process_peak_mb: load_peak.zip(import_peak).map(|(a, b)| a.max(b)),
    };
    println!("{FIGURES}{}", serde_json::to_string(&figures)?);
    Ok(())
}
