//! `catalog bench-api` (`make bench-api`): the local server (`catalog serve`'s router, on the
//! embedded backend) under concurrent clients, read by `oha` (the HTTP load generator, from
//! crates.io), for the routes a shop's screens and scanners call most: a product, a page of
//! inventory, a match, a scan. Next to each read, the storage call it makes, timed in the same
//! run with the same concurrency: what the HTTP edge, the auth and the JSON add.
//!
//! Prints requests/s, p50 and p99 per route. The load generator shares the machine (and its
//! cores) with the server, as a client on the same host would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use catalog_core::app::App;
use catalog_core::auth::Role;
use catalog_core::config::EdgeConfig;
use catalog_core::domain::{Product, StoreId, Timestamp};
use catalog_core::ports::{InventoryFilter, InventoryOrder, PageQuery};

use crate::bench_inventory::{gtin, product, stock};

#[derive(clap::Args)]
pub struct Args {
    /// Products in the catalog.
    #[arg(long, default_value_t = 10_000)]
    pub products: usize,
    /// Items the store stocks.
    #[arg(long, default_value_t = 1_000)]
    pub items: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Seconds each route is loaded for.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The `oha` binary (`make bench-api` installs it under .local).
    #[arg(long, default_value = "oha")]
    pub oha: PathBuf,
}

/// One route's figures.
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Answers that were not 2xx.
    failed: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.items > args.products {
        bail!("--items must not exceed --products");
    }
    let dir = std::env::temp_dir().join(format!(
        "catalog-bench-api-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = bench(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn bench(args: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
    let secret = catalog_core::app::DEV_JWT_SECRET;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (app, paths) = App::embedded(dir, &base, secret)?;
    let shop = StoreId::parse("bench-shop").map_err(anyhow::Error::msg)?;

    // The catalog and the shop's stock, written as bulk loads write them.
    let now = Timestamp::now();
    let products: Vec<Product> = (0..args.products).map(|i| product(i, now)).collect();
    let actor = catalog_core::domain::Actor::system("bench");
    for chunk in products.chunks(500) {
        app.catalog.products.insert_new(chunk, &actor).await?;
    }
    stock(
        app.catalog.inventory.as_ref(),
        &shop,
        &products[..args.items],
        now,
    )
    .await?;
    let router = catalog_core::local::router(
        app.clone(),
        vec![paths.uploads, paths.images],
        &EdgeConfig::default(),
        time::Duration::minutes(15),
    );
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let owner = app.tokens.mint(
        "bench-owner",
        Role::StoreOwner,
        std::slice::from_ref(&shop),
        time::Duration::hours(2),
    );
    let sample = &products[args.items / 2];
    let barcode = gtin((args.items / 3) as u64);
    // The match index is built before the clock starts (its first request would build it).
    let warm = reqwest::Client::new()
        .get(format!(
            "{base}/v1/products/match?name=Tata%20Iodised%20Salt&quantity=1%20kg"
        ))
        .bearer_auth(&owner)
        .send()
        .await?;
    if !warm.status().is_success() {
        bail!("the match route answered {}", warm.status());
    }

    println!(
        "bench-api: catalog serve (embedded, SQLite) with {} products, a store of {} items; {} clients, {} s a route; {}",
        args.products,
        args.items,
        args.clients,
        args.seconds,
        oha_version(&args.oha)?
    );
    println!(
        "{:<44} {:>9} {:>8} {:>8} {:>7}   {:<34} {:>9} {:>8} {:>8}",
        "route",
        "req/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "storage call (same clients)",
        "calls/s",
        "p50 ms",
        "p99 ms"
    );
    let product_url = format!("{base}/v1/products/{}", sample.product_id);
    let page_url = format!("{base}/v1/stores/{shop}/inventory?limit=25");
    let match_url =
        format!("{base}/v1/products/match?name=Tata%20Iodised%20Salt&brand=Tata&quantity=1%20kg");
    let scan_body = serde_json::json!({
        "store_id": shop, "barcode": barcode.to_string(), "mode": "receive", "quantity": "1"
    })
    .to_string();

    let http = oha(args, "GET", &product_url, &owner, None)?;
    let (id, store) = (sample.product_id, app.catalog.products.clone());
    let raw = storage_call(args, move || {
        let store = store.clone();
        async move { store.get(&id).await.map(|_| ()) }
    })
    .await?;
    line(
        "GET /v1/products/{id}",
        &http,
        "ProductStore::get",
        Some(&raw),
    );

    let http = oha(args, "GET", &page_url, &owner, None)?;
    let (inv, catalog, s) = (
        app.catalog.inventory.clone(),
        app.catalog.products.clone(),
        shop.clone(),
    );
    let raw = storage_call(args, move || {
        let (inv, catalog, s) = (inv.clone(), catalog.clone(), s.clone());
        async move {
            // The page, and its items' products (what the listing shows beside each).
            let page = inv
                .list(
                    &s,
                    &InventoryFilter::default(),
                    InventoryOrder::default(),
                    &PageQuery {
                        after: None,
                        limit: 25,
                    },
                )
                .await?;
            let ids: Vec<_> = page.items.iter().map(|i| i.product_id).collect();
            catalog.summaries(&ids).await.map(|_| ())
        }
    })
    .await?;
    line(
        "GET /v1/stores/{s}/inventory?limit=25",
        &http,
        "inventory list + 25 summaries",
        Some(&raw),
    );

    let http = oha(args, "GET", &match_url, &owner, None)?;
    line("GET /v1/products/match", &http, "", None);

    let http = oha(
        args,
        "POST",
        &format!("{base}/v1/scan"),
        &owner,
        Some(&scan_body),
    )?;
    line("POST /v1/scan (receive 1; a write each)", &http, "", None);

    server.abort();
    Ok(())
}

fn line(route: &str, http: &Figures, call: &str, raw: Option<&Figures>) {
    let raw = raw.map_or_else(
        || format!("{:<34} {:>9} {:>8} {:>8}", "", "", "", ""),
        |r| {
            format!(
                "{call:<34} {:>9.0} {:>8.2} {:>8.2}",
                r.per_second, r.p50_ms, r.p99_ms
            )
        },
    );
    println!(
        "{route:<44} {:>9.0} {:>8.2} {:>8.2} {:>7}   {raw}",
        http.per_second, http.p50_ms, http.p99_ms, http.failed
    );
}

fn oha_version(oha: &PathBuf) -> anyhow::Result<String> {
    let out = std::process::Command::new(oha)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} (make bench-api installs it)", oha.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Loads `url` with `oha` for the run's seconds and clients, and reads its JSON summary.
fn oha(
    args: &Args,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&str>,
) -> anyhow::Result<Figures> {
    let mut cmd = std::process::Command::new(&args.oha);
    cmd.args(["--no-tui", "--output-format", "json"])
        .args(["-z", &format!("{}s", args.seconds)])
        .args(["-c", &args.clients.to_string()])
        .args(["-m", method])
        .args(["-H", &format!("authorization: Bearer {token}")]);
    if let Some(body) = body {
        cmd.args(["-T", "application/json", "-d", body]);
    }
    let out = cmd.arg(url).output().context("running oha")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading oha's JSON")?;
    let secs = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN) * 1000.0;
    let codes = report["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let failed = codes
        .iter()
        .filter(|(code, _)| !code.starts_with('2'))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    Ok(Figures {
        per_second: report["summary"]["requestsPerSec"]
            .as_f64()
            .unwrap_or(f64::NAN),
        p50_ms: secs(&report["latencyPercentiles"]["p50"]),
        p99_ms: secs(&report["latencyPercentiles"]["p99"]),
        failed,
    })
}

/// Calls `call` from the run's number of tasks at once for the run's seconds; its rate and
/// latency percentiles.
async fn storage_call<F, Fut>(args: &Args, call: F) -> anyhow::Result<Figures>
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), catalog_core::ports::StorageError>> + Send,
{
    let until = Instant::now() + Duration::from_secs(args.seconds.max(1));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut took = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    call().await?;
                    took.push(t.elapsed());
                }
                Ok::<_, catalog_core::ports::StorageError>(took)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Figures {
        per_second: all.len() as f64 / elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        failed: 0,
    })
}
