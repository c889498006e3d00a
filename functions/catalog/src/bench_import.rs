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
    InventoryDetails, InventoryItem, ProductId, Quantity, StoreId, Timestamp,
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
    #[arg(long, env = "CATALOG_TEST_DYNAMODB_ENDPOINT")]
    pub dynamodb: String,
    #[arg(long, env = "CATALOG_TEST_S3_ENDPOINT")]
    pub s3: String,
}

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

pub async fn run(args: Args) -> anyhow::Result<()> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&args.dynamodb)
            .build(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&args.s3)
            .force_path_style(true)
            .build(),
    );
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let store = Arc::new(DynamoStore::new(
        ddb,
        TableNames::with_prefix(&format!("bench-{run_id}")),
    ));
    store
        .create_tables()
        .await
        .context("creating tables in DynamoDB Local")?;
    let bucket = format!("bench-{run_id}");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .context("creating a bucket in ministack")?;
    let uploads: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(s3.clone(), &bucket));

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

    let matcher = MatcherState::new(
        IndexSource::Snapshot {
            blobs: uploads.clone(),
            key,
        },
        std::time::Duration::from_secs(3600),
    );
    let images: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(s3.clone(), &bucket));
    let app = Catalog::new(
        store.clone(),
        store.clone(),
        store.clone(),
        uploads.clone(),
        images,
        matcher,
        CursorKey::derive(b"bench-import-cursor-key-32-bytes!!"),
    );
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
    app.match_index().await?; // cold start: the snapshot load is not import time
    reset_peak_rss();
    let rss_start = rss_mb().unwrap_or(f64::NAN);
    let cpu_start = cpu_s();
    let t = Instant::now();
    let (outcome, stats) = app
        .run_import(&shop, &job.job_id, &RunOptions::default())
        .await?;
    let import_s = t.elapsed().as_secs_f64();
    let import_cpu = cpu_s() - cpu_start;
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    let RunOutcome::Finished(done) = outcome else {
        bail!("the import did not finish: {outcome:?}")
    };
    let c = done.counters;
    let (raw_after, _) = raw("raw-after", raw_items).await?;
    let rows_s = c.processed as f64 / import_s;
    let raw_rows_s = (raw_before + raw_after) / 2.0;
    // Rows that wrote an item (duplicates write nothing) against raw item writes.
    let written_s = c.successful as f64 / import_s;
    println!(
        "catalog_products={products} index_build_s={index_s:.1} rows={} csv_mb={:.1} status={} successful={} failed={} duplicates={} new_products={} \
         import_s={import_s:.2} import_cpu_s={import_cpu:.1} import_rows_per_s={rows_s:.0} written_rows_per_s={written_s:.0} raw_batchwrite_items_per_s={raw_rows_s:.0} (before {raw_before:.0}, after {raw_after:.0}) \
         ratio={:.2} write_units_per_row={:.3} raw_write_units_per_item={:.3} write_requests={} rss_at_start_mb={rss_start:.0} import_peak_rss_mb={rss:.0} import_rss_growth_mb={:.0}",
        c.processed,
        bytes as f64 / 1e6,
        done.status.as_str(),
        c.successful,
        c.failed,
        c.duplicates_found,
        stats.products_created,
        written_s / raw_rows_s,
        stats.write_units / c.successful.max(1) as f64,
        raw_units,
        stats.write_requests,
        rss - rss_start,
    );
    Ok(())
}
