//! `catalog bench-off`: `catalog off-import` of a synthetic Open Food Facts export into
//! DynamoDB Local (`make bench-off` starts it), next to the raw BatchWriteItem rate of the same
//! server in the same run, with the import's write units per product and its peak RSS.
//!
//! The export is built at run time (never copied into the project) from the OFF names in
//! `../shared/matchbench` (barcode and name pairs, ODbL): record `i` takes name `i mod n`
//! (with a variant word past the first `n`) and a valid GTIN-13 of its own under the prefix
//! 890, and carries the fields of a real OFF record (brands, quantity, categories, countries,
//! a Hindi and a Tamil name for some, the nested `nutriments` and `images` objects), so that
//! parsing costs what it costs on a real export. Every tenth record is sold in France only (the
//! country filter skips it). The file is gzipped JSONL, as OFF publishes it.
//!
//! The import runs as its own process (`catalog off-import FILE --aws --quiet`), on fresh
//! tables, so its memory figure is its own; the raw rate writes the same three items an
//! imported product is (the product, its barcode guard, its history entry) with BatchWriteItem
//! at the import's concurrency.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use catalog_core::adapters::dynamo::{DynamoStore, TableNames};
use futures::StreamExt;

use crate::bench_import::{Servers, clients};

#[derive(clap::Args)]
pub struct Args {
    /// OFF's barcode and name pairs (matchbench's `off_barcode_names.csv`).
    #[arg(
        long,
        default_value = "../shared/matchbench/data/off_lifyzer/off_barcode_names.csv"
    )]
    pub names: PathBuf,
    /// Records of each generated export (one import per size, each on fresh tables).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub rows: Vec<usize>,
    /// Where the generated exports go (kept for the next run).
    #[arg(long, default_value = "target/bench-off")]
    pub out: PathBuf,
    #[command(flatten)]
    pub servers: Servers,
}

/// Products of the raw BatchWriteItem measurement (three items each).
const RAW_PRODUCTS: usize = 20_000;
/// Write requests in flight, as the import keeps them.
const IN_FLIGHT: usize = 8;

fn gtin13(n: u64) -> String {
    let body = format!("890{n:09}");
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 1 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

const BRANDS: [&str; 8] = [
    "Britannia",
    "Parle",
    "Haldiram's",
    "Amul",
    "Tata",
    "Nestle",
    "MTR",
    "Dabur",
];
const QUANTITIES: [&str; 6] = ["200 g", "1 kg", "500 ml", "1 L", "6 x 330 ml", "75 g"];
const CATEGORIES: [&[&str]; 4] = [
    &[
        "en:snacks",
        "en:sweet-snacks",
        "en:biscuits-and-cakes",
        "en:biscuits",
    ],
    &["en:beverages", "en:teas", "en:black-teas"],
    &["en:condiments", "en:spices"],
    &["en:dairies", "en:milks"],
];

/// Writes the synthetic export of `rows` records to `path` (gzipped JSONL).
fn generate(names_csv: &Path, rows: usize, path: &Path) -> anyhow::Result<()> {
    let mut names = Vec::new();
    let mut reader = csv::Reader::from_path(names_csv)
        .with_context(|| format!("reading {} (set --names)", names_csv.display()))?;
    for row in reader.records() {
        let row = row?;
        let name = row.get(1).unwrap_or("").trim();
        if name.chars().any(char::is_alphabetic) && name.len() <= 150 {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        bail!("{}: no names", names_csv.display());
    }
    let tmp = path.with_extension("tmp");
    let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    for i in 0..rows {
        let mut name = names[i % names.len()].clone();
        if i >= names.len() {
            name.push_str(&format!(
                " {}",
                ["Classic", "Gold", "Lite", "Family Pack", "Masala"][i / names.len() % 5]
            ));
        }
        let countries: &[&str] = if i % 10 == 9 {
            &["en:france"]
        } else {
            &["en:india", "en:united-kingdom"]
        };
        let mut record = serde_json::json!({
            "code": gtin13(i as u64),
            "product_name": name,
            "brands": BRANDS[i % BRANDS.len()],
            "quantity": QUANTITIES[i % QUANTITIES.len()],
            "categories_tags": CATEGORIES[i % CATEGORIES.len()],
            "countries_tags": countries,
            "lang": "en",
            "image_front_url": format!("https://images.openfoodfacts.org/images/products/890/{:03}/{:03}/front_en.3.400.jpg", i / 1000 % 1000, i % 1000),
            "nutriments": {
                "energy-kcal_100g": 400 + i % 100, "energy-kcal_unit": "kcal", "fat_100g": 12.5,
                "saturated-fat_100g": 6.1, "carbohydrates_100g": 60.2, "sugars_100g": 22.4,
                "proteins_100g": 7.3, "salt_100g": 0.8, "sodium_100g": 0.32, "fiber_100g": 2.1,
                "nova-group": 4, "nutrition-score-fr_100g": 18,
            },
            "images": {
                "front_en": {"rev": "3", "imgid": "1", "sizes": {"100": {"w": 75, "h": 100}, "400": {"w": 300, "h": 400}, "full": {"w": 1200, "h": 1600}}},
                "1": {"uploaded_t": 1_600_000_000 + i, "uploader": "openfoodfacts-contributors", "sizes": {"full": {"w": 1200, "h": 1600}}},
            },
            "ingredients_text": "Wheat flour, sugar, edible vegetable oil (palm), cashew (5%), milk solids, raising agents, salt.",
            "nutriscore_grade": "d",
        });
        if i % 4 == 0 {
            record["product_name_hi"] = serde_json::json!(format!("{name} (हिंदी)"));
        }
        if i % 8 == 0 {
            record["product_name_ta"] = serde_json::json!(format!("{name} (தமிழ்)"));
        }
        serde_json::to_writer(&mut gz, &record)?;
        gz.write_all(b"\n")?;
    }
    gz.finish()?.flush()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The items one imported product is, written raw: its record, its guard, its history entry
/// (sizes like the import's).
fn raw_items(i: usize) -> [WriteRequest; 3] {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("raw-{i}").as_bytes());
    let put = |item: std::collections::HashMap<String, AttributeValue>| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("an item"),
            )
            .build()
    };
    let filler = "x".repeat(900);
    [
        put([
            ("pk".to_string(), s(&format!("P#{id}"))),
            ("entity".into(), s("product")),
            ("verification_status".into(), s("pending")),
            (
                "status_sort".into(),
                s(&format!("2026-12-04T00:00:00.000Z#{id}")),
            ),
            (
                "quality_sort".into(),
                s(&format!("060#2026-12-04T00:00:00.000Z#{id}")),
            ),
            ("category_root".into(), s("snacks & branded foods>")),
            (
                "category_sort".into(),
                s(&format!("snacks & branded foods>biscuits & cookies>#{id}")),
            ),
            ("doc".into(), s(&filler)),
        ]
        .into()),
        put([
            (
                "pk".to_string(),
                s(&format!("B#{}", gtin13(900_000_000 + i as u64))),
            ),
            ("product_id".into(), s(&id.to_string())),
        ]
        .into()),
        put([
            ("pk".to_string(), s(&format!("H#{id}#00000000000000000001"))),
            ("history_of".into(), s(&id.to_string())),
            ("history_sort".into(), s("00000000000000000001")),
            ("doc".into(), s(&filler)),
        ]
        .into()),
    ]
}

/// Products a second the server takes by BatchWriteItem (25 items a request, [`IN_FLIGHT`]
/// requests at a time).
async fn raw_rate(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<f64> {
    let requests: Vec<Vec<WriteRequest>> = (0..RAW_PRODUCTS)
        .flat_map(raw_items)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(<[WriteRequest]>::to_vec)
        .collect();
    products_per_second(requests.into_iter().map(|mut batch| async move {
        loop {
            let out = ddb
                .batch_write_item()
                .request_items(table, batch)
                .send()
                .await?;
            batch = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if batch.is_empty() {
                return Ok(());
            }
        }
    }))
    .await
}

/// Products a second the server takes as the import writes them: the same three items each,
/// 33 products to a TransactWriteItems (every item conditional), [`IN_FLIGHT`] at a time.
async fn raw_transaction_rate(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<f64> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let groups: Vec<Vec<TransactWriteItem>> = (0..RAW_PRODUCTS)
        .map(|i| raw_items(RAW_PRODUCTS + i))
        .collect::<Vec<_>>()
        .chunks(33)
        .map(|products| {
            products
                .iter()
                .flatten()
                .map(|w| {
                    let item = w.put_request().expect("a put").item().clone();
                    let put = Put::builder()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .expect("a put");
                    TransactWriteItem::builder().put(put).build()
                })
                .collect()
        })
        .collect();
    products_per_second(groups.into_iter().map(|items| async move {
        ddb.transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await?;
        Ok(())
    }))
    .await
}

/// [`RAW_PRODUCTS`] over the time `writes` take, [`IN_FLIGHT`] at a time.
async fn products_per_second<F>(writes: impl Iterator<Item = F>) -> anyhow::Result<f64>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(writes)
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(RAW_PRODUCTS as f64 / started.elapsed().as_secs_f64())
}

/// What `off-import --quiet` prints.
#[derive(serde::Deserialize)]
struct Figures {
    stats: catalog_core::services::off_import::OffImportStats,
    seconds: f64,
    peak_rss_mb: Option<f64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let clients = clients(&args.servers).await;
    std::fs::create_dir_all(&args.out)?;
    println!(
        "{:>9} {:>8} {:>9} {:>9} {:>11} {:>6} {:>10} {:>8} {:>9} {:>8}",
        "records",
        "seconds",
        "records/s",
        "prod/s",
        "raw batch/s",
        "ratio",
        "raw tx/s",
        "tx ratio",
        "WCU/prod",
        "peak MB"
    );
    for &rows in &args.rows {
        let file = args.out.join(format!("off-{rows}.jsonl.gz"));
        if !file.exists() {
            let t = Instant::now();
            generate(&args.names, rows, &file)?;
            eprintln!(
                "[bench-off] generated {} ({} MB) in {:.0} s",
                file.display(),
                std::fs::metadata(&file)?.len() / 1_000_000,
                t.elapsed().as_secs_f64()
            );
        }
        let run = format!(
            "benchoff{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let names = TableNames::with_prefix(&run);
        let store = DynamoStore::new(clients.ddb.clone(), names.clone());
        store.create_tables().await?;
        let raw_names = TableNames::with_prefix(&format!("{run}-rawset"));
        DynamoStore::new(clients.ddb.clone(), raw_names.clone())
            .create_tables()
            .await?;
        let raw = raw_rate(&clients.ddb, &raw_names.products).await?;
        let raw_tx = raw_transaction_rate(&clients.ddb, &raw_names.products).await?;
        let exe = std::env::current_exe()?;
        let out = std::process::Command::new(exe)
            .args(["off-import", "--aws", "--quiet", "--restart"])
            .arg(&file)
            .env("PRODUCTS_TABLE", &names.products)
            .env("INVENTORY_TABLE", &names.inventory)
            .env("JOBS_TABLE", &names.jobs)
            .env("ACCOUNTS_TABLE", &names.accounts)
            .env("UPLOADS_BUCKET", "bench-off-unused")
            .env("IMAGES_BUCKET", "bench-off-unused")
            .env("JWT_SECRET", "bench-off-secret-of-at-least-32-bytes!")
            .env("AWS_ENDPOINT_URL_DYNAMODB", &args.servers.dynamodb)
            .env("AWS_ENDPOINT_URL_S3", &args.servers.s3)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_OFF_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .output()?;
        if !out.status.success() {
            bail!(
                "off-import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log = String::from_utf8_lossy(&out.stderr);
        if !log.is_empty() {
            eprintln!(
                "[bench-off] off-import's log: {} lines, the last: {}",
                log.lines().count(),
                log.lines().last().unwrap_or("")
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .context("no figures from off-import")?;
        let f: Figures = serde_json::from_str(line)?;
        let rate = f.stats.records as f64 / f.seconds;
        // The raw rate counts products; the import's records include the tenth it skips.
        let products_rate =
            (f.stats.created + f.stats.enriched + f.stats.unchanged) as f64 / f.seconds;
        println!(
            "{:>9} {:>8.1} {:>9.0} {:>9.0} {:>11.0} {:>6.2} {:>10.0} {:>8.2} {:>9.2} {:>8}",
            f.stats.records,
            f.seconds,
            rate,
            products_rate,
            raw,
            products_rate / raw,
            raw_tx,
            products_rate / raw_tx,
            f.stats.write_units / (f.stats.created.max(1)) as f64,
            f.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0}")),
        );
        for t in [
            &names.products,
            &names.inventory,
            &names.jobs,
            &names.accounts,
            &raw_names.products,
            &raw_names.inventory,
            &raw_names.jobs,
            &raw_names.accounts,
        ] {
            let _ = clients.ddb.delete_table().table_name(t).send().await;
        }
    }
    println!(
        "(ratio: products the import writes a second / raw BatchWriteItem of the same three items; \
         tx ratio: / raw TransactWriteItems of them, 33 products each, as the import must write \
         them for its barcode claims to be conditional)"
    );
    Ok(())
}
