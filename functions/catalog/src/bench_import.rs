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
//! Beside the rates it prints the CPU time per item of this process, of DynamoDB Local and of
//! its storage thread (`SQLiteQueue`, which runs every read and write one at a time): on a
//! small machine the rates move by a third between runs, while the storage thread's time per
//! item says steadily how much server work an imported row costs next to a raw item
//! (`storage_work_ratio`). `servers.sh env` exports the servers' process ids for this.
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
    InventoryDetails, InventoryItem, JobId, Money, Movement, MovementFacts, MovementKind,
    MovementOrigin, ProductId, Quantity, StockChange, StoreId, Timestamp,
};
use catalog_core::matching::{CatalogRow, MatchIndex};
use catalog_core::ports::{BlobKey, BlobStore, Expect, InventoryStore, StockWrite};
use catalog_core::services::Catalog;
use catalog_core::services::imports::{
    CHUNK_ROWS, NewImport, RunOptions, RunOutcome, WRITE_PIPELINE,
};
use catalog_core::services::matching::{IndexSource, MatcherState};
use futures::StreamExt;

use crate::match_cmd::{peak_rss_mb, read_csv, rss_mb};

#[derive(clap::Args)]
pub struct Args {
    /// The catalog the rows are drawn from (matchbench columns).
    #[arg(long, default_value = "../shared/matchbench/dev/100k/catalog.csv")]
    pub catalog: PathBuf,
    /// Rows in the generated stock list.
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Runs of the whole measurement (each in fresh tables and a fresh bucket); with more than
    /// one, a last line gives the median and range of the ratios.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    #[command(flatten)]
    pub servers: Servers,
    /// DynamoDB Local's process, for its CPU figures (`servers.sh env` exports it).
    #[arg(long, env = "CATALOG_BENCH_DYNAMODB_PID")]
    pub dynamodb_pid: Option<u32>,
    /// ministack's process, for its CPU figures.
    #[arg(long, env = "CATALOG_BENCH_MINISTACK_PID")]
    pub ministack_pid: Option<u32>,
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
    cpu_of("self")
}

/// CPU time, in seconds, of what `/proc/{task}/stat` describes: a process ("self", "123") or
/// one of its threads ("123/task/456"). NaN where `/proc` lacks it.
fn cpu_of(task: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{task}/stat")) else {
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

/// CPU seconds used so far by this process and by the two servers (NaN where unknown).
#[derive(Clone, Copy)]
struct Cpu {
    client: f64,
    dynamodb: f64,
    /// DynamoDB Local's storage thread: it runs every read and write, one at a time, so its
    /// time per item is the server's cost of the item, and when it is always busy, the
    /// server's rate.
    storage: f64,
    ministack: f64,
}

/// The `/proc` path (for [`cpu_of`]) of the thread of `pid` whose name starts with `prefix`
/// (DynamoDB Local's `SQLiteQueue`).
fn thread_named(pid: u32, prefix: &str) -> Option<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|c| c.starts_with(prefix))
        })
        .map(|tid| format!("{pid}/task/{tid}"))
}

impl Cpu {
    fn now(args: &Args) -> Cpu {
        let of = |pid: Option<u32>| pid.map_or(f64::NAN, |p| cpu_of(&p.to_string()));
        let storage = args
            .dynamodb_pid
            .and_then(|p| thread_named(p, "SQLiteQueue"))
            .map_or(f64::NAN, |t| cpu_of(&t));
        Cpu {
            client: cpu_s(),
            dynamodb: of(args.dynamodb_pid),
            storage,
            ministack: of(args.ministack_pid),
        }
    }

    fn mean(self, o: Cpu) -> Cpu {
        Cpu {
            client: (self.client + o.client) / 2.0,
            dynamodb: (self.dynamodb + o.dynamodb) / 2.0,
            storage: (self.storage + o.storage) / 2.0,
            ministack: (self.ministack + o.ministack) / 2.0,
        }
    }

    /// Microseconds per unit of work since `start`.
    fn per(self, start: Cpu, n: u64) -> Cpu {
        let n = n.max(1) as f64 / 1e6;
        Cpu {
            client: (self.client - start.client) / n,
            dynamodb: (self.dynamodb - start.dynamodb) / n,
            storage: (self.storage - start.storage) / n,
            ministack: (self.ministack - start.ministack) / n,
        }
    }
}

/// Items of the raw BatchWriteItem measurement (the rate settles long before).
const RAW_ITEMS: usize = 100_000;
/// Items written before any measurement.
const WARM_UP_ITEMS: usize = 30_000;

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

pub(crate) struct Clients {
    pub(crate) ddb: aws_sdk_dynamodb::Client,
    pub(crate) s3: aws_sdk_s3::Client,
}

pub(crate) async fn clients(servers: &Servers) -> Clients {
    let sdk = catalog_core::adapters::aws_http::sdk_loader()
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
    let clients = clients(&args.servers).await;
    let mut runs: Vec<Ratios> = Vec::new();
    for _ in 0..args.repeat.max(1) {
        runs.push(run_once(&args, &clients).await?);
    }
    if runs.len() > 1 {
        // (median, min, max) of one ratio over the runs.
        let spread = |f: fn(&Ratios) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            (crate::match_cmd::median(&v), v[0], v[v.len() - 1])
        };
        let (ratio, lo, hi) = spread(|r| r.ratio);
        let (work, work_lo, work_hi) = spread(|r| r.storage_work);
        println!(
            "rows={} repeats={} ratio_median={ratio:.2} (min {lo:.2}, max {hi:.2}) \
             storage_work_ratio_median={work:.2} (min {work_lo:.2}, max {work_hi:.2})",
            args.rows,
            runs.len(),
        );
    }
    Ok(())
}

/// The two ratios of one run.
struct Ratios {
    /// Imported (written) rows per second / raw items per second.
    ratio: f64,
    /// The storage thread's time per raw item / per imported row.
    storage_work: f64,
}

/// One measurement, in tables and a bucket of its own (deleted after it).
async fn run_once(args: &Args, clients: &Clients) -> anyhow::Result<Ratios> {
    let Clients { ddb, s3 } = clients;
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
    let measured = measure(args, clients, &run, store).await;
    // Leave the servers as they were: a long-lived DynamoDB Local holds every table it was
    // given in one in-memory database, and grows slower with it.
    if let Err(e) = clean_up(clients, &run).await {
        eprintln!("bench-import: could not delete the run's tables and bucket: {e:#}");
    }
    measured
}

/// Deletes the run's tables and its bucket (with every object in it).
async fn clean_up(clients: &Clients, run: &str) -> anyhow::Result<()> {
    let names = TableNames::with_prefix(run);
    for table in [&names.products, &names.inventory, &names.jobs] {
        clients.ddb.delete_table().table_name(table).send().await?;
    }
    let mut pages = clients
        .s3
        .list_objects_v2()
        .bucket(run)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for object in page?.contents() {
            if let Some(key) = object.key() {
                clients
                    .s3
                    .delete_object()
                    .bucket(run)
                    .key(key)
                    .send()
                    .await?;
            }
        }
    }
    clients.s3.delete_bucket().bucket(run).send().await?;
    Ok(())
}

/// Set-up, the raw measurements and the import, in tables and a bucket named `run`.
async fn measure(
    args: &Args,
    clients: &Clients,
    run: &str,
    store: Arc<DynamoStore>,
) -> anyhow::Result<Ratios> {
    let uploads: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(clients.s3.clone(), run));

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
    // Products the raw items are of: catalog products, so the keys land in the table as the
    // import's do (at random places, not in time order).
    let raw_products: Vec<ProductId> = ids
        .iter()
        .step_by((ids.len() / RAW_ITEMS.max(WARM_UP_ITEMS)).max(1))
        .filter_map(|id| ProductId::parse(id).ok())
        .collect();
    drop(ids);
    let distinct = args.rows.min(products);

    let app = app(clients, run)?;
    let shop = StoreId::parse("bench-store").map_err(anyhow::Error::msg)?;

    // Raw write throughput of this server: new items of distinct catalog products (up to
    // RAW_ITEMS) with the values a stock-list row gives (quantity and price) and their
    // movements, written as the import writes them (chunks of CHUNK_ROWS, transactions of 50
    // items and movements, WRITE_PIPELINE chunks in flight). Measured before and after the import, after a warm-up
    // (DynamoDB Local's JIT takes tens of thousands of items to settle).
    let raw = |name: &'static str, n: usize| {
        let store = store.clone();
        let raw_products = &raw_products;
        async move {
            let shop = StoreId::parse(name).map_err(anyhow::Error::msg)?;
            let now = Timestamp::now();
            let n = n.min(raw_products.len());
            let items: Vec<StockWrite> = (0..n)
                .map(|i| {
                    let d = InventoryDetails {
                        quantity: Quantity::from_minor((i % 97) as i64 * Quantity::UNIT)
                            .unwrap_or_default(),
                        selling_price: Money::from_minor(1000 + (i % 49_000) as i64).ok(),
                        ..Default::default()
                    };
                    let product = raw_products[i];
                    // As the import writes a new item: conditional, with its movement.
                    let facts = MovementFacts {
                        position_version: 1,
                        change: StockChange::Set(d.quantity),
                        before: None,
                        after: d.quantity,
                        reorder_level: None,
                    };
                    let origin = MovementOrigin::new(MovementKind::Import, "bench");
                    let movement = Movement::record(&shop, &product, now, facts, &origin, now);
                    StockWrite {
                        item: InventoryItem::new(shop.clone(), product, d, 1, now, now),
                        expect: Expect::Absent,
                        movement: Some(movement),
                    }
                })
                .collect();
            let t = Instant::now();
            let cpu = Cpu::now(args);
            let written: Vec<_> = futures::stream::iter(
                items
                    .chunks(CHUNK_ROWS)
                    .map(|chunk| InventoryStore::put_many(store.as_ref(), chunk)),
            )
            .buffer_unordered(WRITE_PIPELINE)
            .collect()
            .await;
            let mut units = 0.0;
            for w in written {
                units += w?.write_units.unwrap_or(0.0);
            }
            anyhow::Ok((
                n as f64 / t.elapsed().as_secs_f64(),
                units / n.max(1) as f64,
                Cpu::now(args).per(cpu, n as u64),
            ))
        }
    };
    let raw_items = distinct.min(RAW_ITEMS);
    raw("warm-up", WARM_UP_ITEMS).await?;
    let (raw_before, raw_units, raw_cpu) = raw("raw-before", raw_items).await?;

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
    let import_cpu = Cpu::now(args);
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["bench-import-run", "--run", run, "--store", shop.as_str()])
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

    // The servers' CPU over the import process's life (ministack's includes serving it the
    // snapshot; the process's own figure is the import's alone).
    let import_cpu = Cpu::now(args).per(import_cpu, f.successful);
    let (raw_after, _, raw_cpu_after) = raw("raw-after", raw_items).await?;
    let raw_cpu = raw_cpu.mean(raw_cpu_after);
    let rows_s = f.processed as f64 / f.import_s;
    let raw_rows_s = (raw_before + raw_after) / 2.0;
    // Rows that wrote an item (duplicates write nothing) against raw item writes.
    let written_s = f.successful as f64 / f.import_s;
    println!(
        "catalog_products={products} index_build_s={index_s:.1} rows={} csv_mb={:.1} status={} successful={} failed={} duplicates={} new_products={} \
         import_s={:.2} import_cpu_s={:.1} import_rows_per_s={rows_s:.0} written_rows_per_s={written_s:.0} raw_batchwrite_items_per_s={raw_rows_s:.0} (before {raw_before:.0}, after {raw_after:.0}) \
         ratio={:.2} write_units_per_row={:.3} raw_write_units_per_item={:.3} write_requests={} \
         cpu_us_per_written_row(client,dynamodb,storage_thread,ministack)={:.0},{:.0},{:.0},{:.0} raw_cpu_us_per_item={:.0},{:.0},{:.0},{:.0} storage_work_ratio={:.2} \
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
        mb(f.import_cpu_s) / f.successful.max(1) as f64 * 1e6,
        import_cpu.dynamodb,
        import_cpu.storage,
        import_cpu.ministack,
        raw_cpu.client,
        raw_cpu.dynamodb,
        raw_cpu.storage,
        raw_cpu.ministack,
        raw_cpu.storage / import_cpu.storage,
        mb(f.rss_start_mb),
        mb(f.import_peak_mb),
        mb(f.import_peak_mb) - mb(f.rss_start_mb),
        mb(f.process_peak_mb),
    );
    Ok(Ratios {
        ratio: written_s / raw_rows_s,
        storage_work: raw_cpu.storage / import_cpu.storage,
    })
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
