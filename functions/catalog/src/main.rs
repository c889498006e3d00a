//! `catalog`: the local binary. `catalog serve` runs every route of the API on one port on the
//! embedded backend (what `make run` starts); the other subcommands are operator tools.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use catalog_core::adapters::off::OffConfig;
use catalog_core::app::{App, DEV_JWT_SECRET};
use catalog_core::auth::{Role, TokenKeys};
use catalog_core::config::EdgeConfig;
use catalog_core::domain::StoreId;
use clap::{Parser, Subcommand, ValueEnum};

mod bench_api;
mod bench_import;
mod bench_inventory;
mod bench_off;
mod import_cmd;
mod match_cmd;
mod off_import_cmd;
mod web;

#[derive(Parser)]
#[command(
    name = "catalog",
    version,
    about = "Kirana catalog backend: local server and operator tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every API route on the embedded backend (SQLite file + blob folders).
    Serve {
        /// Address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:8080", env = "CATALOG_ADDR")]
        addr: SocketAddr,
        /// Folder for the database and blobs (created if missing).
        #[arg(long, default_value = "data", env = "CATALOG_DATA_DIR")]
        data_dir: PathBuf,
        /// HS256 secret for tokens (at least 32 bytes). Defaults to the local development secret.
        #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
        /// Comma-separated origins allowed to call the API from a browser (CORS).
        #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
        cors_origins: String,
        /// Start with an empty catalog: no demo catalog in a fresh data folder.
        #[arg(long, env = "CATALOG_NO_DEMO")]
        no_demo: bool,
        /// Seconds an import run's claim on its job lasts between progress saves: after a
        /// crash, the restarted server resumes the job once it lapses.
        #[arg(long, env = "CATALOG_IMPORT_LEASE_SECS", default_value_t = catalog_core::local::LOCAL_IMPORT_LEASE.whole_seconds() as u16, value_parser = clap::value_parser!(u16).range(2..=600))]
        import_lease_secs: u16,
        /// The web app's built files (`make web` writes them), served at `/`.
        #[arg(long, env = "CATALOG_WEB_DIR", default_value = "web/dist")]
        web_dir: PathBuf,
        /// The address browsers reach this server at, when it is not the one it listens on (a
        /// phone on the LAN: `--addr 0.0.0.0:8080 --public-url http://192.168.1.5:8080`). Upload
        /// URLs and the printed links use it.
        #[arg(long, env = "CATALOG_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Match every row of a queries CSV against a catalog CSV (matchbench columns) and print
    /// the speed and memory figures.
    Match(match_cmd::Args),
    /// Import a CSV stock list into a store's inventory on the embedded backend (the same
    /// pipeline as an upload through the API), with a progress bar.
    Import {
        /// The CSV file (UTF-8, UTF-16 or Windows-1252; comma, semicolon or tab separated).
        file: PathBuf,
        /// The store whose inventory the rows go to.
        #[arg(long)]
        store: String,
        /// Folder of the embedded backend (as for `serve`).
        #[arg(long, default_value = "data", env = "CATALOG_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
    },
    /// Load an Open Food Facts export (JSONL or CSV, maybe gzipped) into the catalog: new
    /// products for barcodes it does not know, the others filled where they lack a field.
    OffImport(off_import_cmd::Args),
    /// Benchmark the bulk import end to end against DynamoDB Local and ministack (`make
    /// bench-import` starts them): rows/s next to raw BatchWriteItem throughput, write units
    /// per row, peak RSS.
    BenchImport(bench_import::Args),
    /// What a store's inventory operations cost on DynamoDB Local, in capacity units (`make
    /// bench-inventory` starts the server).
    BenchInventory(bench_inventory::Args),
    /// The local server under concurrent clients (`make bench-api` installs the load
    /// generator, oha): requests/s, p50 and p99 of the most called routes, next to the storage
    /// call each read makes.
    BenchApi(bench_api::Args),
    /// Benchmark `off-import` of a synthetic Open Food Facts export into DynamoDB Local (`make
    /// bench-off` starts it): records/s next to raw BatchWriteItem, write units, peak RSS.
    BenchOff(bench_off::Args),
    /// The import phase of `bench-import`, run in its own process.
    #[command(hide = true)]
    BenchImportRun(bench_import::RunArgs),
    /// Print the routes, triggers and DynamoDB table layouts the code expects, as JSON (the
    /// infra check compares them with infra/template.yaml).
    Describe,
    /// Print the API's OpenAPI 3.1 document (what `GET /v1/openapi.json` serves).
    Openapi,
    /// Mint a token for local use.
    Token {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The caller's id (the `sub` claim).
        #[arg(long, default_value = "dev-user")]
        sub: String,
        /// A store the token grants (repeatable); needed for store owners and scanners.
        #[arg(long = "store")]
        stores: Vec<String>,
        /// Lifetime in days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
        /// Also print the web app's sign-in link (`<url>/#token=...`) as a QR code, for a
        /// phone's camera: the pairing a shop does once per phone. Drawn for a dark terminal.
        #[arg(long)]
        qr: bool,
        /// Where the phone reaches `catalog serve` (serve it on the LAN with
        /// `CATALOG_ADDR=0.0.0.0:8080`).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    StoreOwner,
    Scanner,
    Reviewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::StoreOwner => Role::StoreOwner,
            RoleArg::Scanner => Role::Scanner,
            RoleArg::Reviewer => Role::Reviewer,
        }
    }
}

fn secret(given: Option<String>) -> String {
    given.unwrap_or_else(|| DEV_JWT_SECRET.to_string())
}

fn mint(
    secret: &str,
    role: Role,
    sub: &str,
    stores: &[String],
    days: i64,
) -> anyhow::Result<String> {
    let keys = TokenKeys::new(secret.as_bytes())?;
    let stores = stores
        .iter()
        .map(|s| StoreId::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if role != Role::Admin && stores.is_empty() {
        anyhow::bail!("a {role} token needs at least one --store");
    }
    Ok(keys.mint(sub, role, &stores, time::Duration::days(days)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve {
            addr,
            data_dir,
            jwt_secret,
            cors_origins,
            no_demo,
            import_lease_secs,
            web_dir,
            public_url,
        } => {
            let edge = EdgeConfig::parse_origins(&cors_origins)?;
            let lease = time::Duration::seconds(i64::from(import_lease_secs));
            let local = Local {
                data_dir,
                web_dir,
                public_url,
                import_lease: lease,
                demo: !no_demo,
            };
            serve(addr, local, secret(jwt_secret), edge).await
        }
        Command::Match(args) => match_cmd::run(args),
        Command::Import {
            file,
            store,
            data_dir,
            jwt_secret,
        } => import_cmd::run(&file, &store, &data_dir, &secret(jwt_secret)).await,
        Command::OffImport(args) => {
            let secret = secret(args.jwt_secret.clone());
            off_import_cmd::run(args, &secret).await
        }
        Command::BenchImport(args) => bench_import::run(args).await,
        Command::BenchInventory(args) => bench_inventory::run(args).await,
        Command::BenchApi(args) => bench_api::run(args).await,
        Command::BenchOff(args) => bench_off::run(args).await,
        Command::BenchImportRun(args) => bench_import::run_import(args).await,
        Command::Describe => {
            println!("{}", serde_json::to_string_pretty(&describe())?);
            Ok(())
        }
        Command::Openapi => {
            print!("{}", catalog_core::api::routes::document_text());
            Ok(())
        }
        Command::Token {
            role,
            sub,
            stores,
            days,
            jwt_secret,
            qr,
            url,
        } => {
            let token = mint(&secret(jwt_secret), role.into(), &sub, &stores, days)?;
            println!("{token}");
            if qr {
                let link = sign_in_link(&url, &token);
                println!("\n{}\n{link}", qr_code(&link)?);
            }
            Ok(())
        }
    }
}

/// The web app's sign-in link for `token`: the app reads the token from the fragment, which
/// browsers never send to a server.
fn sign_in_link(base: &str, token: &str) -> String {
    format!("{}/#token={token}", base.trim_end_matches('/'))
}

/// `text` as a QR code of unicode half blocks, light on dark (a dark terminal's colours), with
/// its quiet zone.
fn qr_code(text: &str) -> anyhow::Result<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The store the printed tokens name, and its owner, made on a fresh data folder (with the
/// demo catalog): the web app's Devices and the sign-in by phone need the store's record.
const DEMO_STORE: &str = "store-1";
const DEMO_STORE_NAME: &str = "Demo Kirana";
const DEMO_OWNER_PHONE: &str = "9000000001";

/// Makes the demo store unless it exists; true when it was made now. A failure is a warning:
/// the server serves without it.
async fn demo_store(app: &App) -> bool {
    match make_demo_store(app).await {
        Ok(made) => made,
        Err(e) => {
            tracing::warn!("the demo store was not made: {e:#}");
            false
        }
    }
}

async fn make_demo_store(app: &App) -> anyhow::Result<bool> {
    use catalog_core::auth::Principal;
    use catalog_core::domain::{Phone, RegionCode};
    use catalog_core::services::accounts::{Invitee, NewStore};
    let new = NewStore {
        store_id: StoreId::parse(DEMO_STORE).map_err(anyhow::Error::msg)?,
        name: DEMO_STORE_NAME.into(),
        region: RegionCode::parse("IN-MH").map_err(anyhow::Error::msg)?,
        owner: Invitee {
            phone: Phone::parse(DEMO_OWNER_PHONE).map_err(anyhow::Error::msg)?,
            display_name: "Demo owner".into(),
        },
    };
    match app
        .accounts
        .create_store(&Principal::operator("catalog-serve"), new)
        .await
    {
        Ok(_) => Ok(true),
        Err(catalog_core::services::ServiceError::Conflict {
            code: "store_exists",
            ..
        }) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("making the demo store: {e}")),
    }
}

/// What `catalog serve` serves from the disk.
struct Local {
    data_dir: PathBuf,
    web_dir: PathBuf,
    public_url: Option<String>,
    import_lease: time::Duration,
    demo: bool,
}

async fn serve(
    addr: SocketAddr,
    local: Local,
    secret: String,
    edge: EdgeConfig,
) -> anyhow::Result<()> {
    let Local {
        data_dir,
        web_dir,
        public_url,
        import_lease,
        demo,
    } = local;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let base = match public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let off = OffConfig::from_vars(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    let (app, paths) = App::embedded_with(
        &data_dir,
        &base,
        &secret,
        std::sync::Arc::new(catalog_core::services::LoggedEvents),
        std::sync::Arc::new(catalog_core::adapters::sms::LoggedCodes),
        off,
    )?;
    if demo && let Some(loaded) = off_import_cmd::load_demo(&app.catalog).await? {
        println!(
            "\nA fresh catalog: loaded {} demo products from Open Food Facts (ODbL: \
             functions/catalog/demo/NOTICE.md); `--no-demo` (CATALOG_NO_DEMO=1) starts empty.",
            loaded.created
        );
    }
    if demo && demo_store(&app).await {
        println!(
            "\nA fresh data folder: made the store {DEMO_STORE} (\"{DEMO_STORE_NAME}\"), its owner signing \
             in with the number {DEMO_OWNER_PHONE} (the SMS code is a line of this log)."
        );
    }
    let admin = mint(&secret, Role::Admin, "dev-admin", &[], 30)?;
    let owner = mint(
        &secret,
        Role::StoreOwner,
        "dev-owner",
        &[DEMO_STORE.into()],
        30,
    )?;
    let scanner = mint(
        &secret,
        Role::Scanner,
        "dev-scanner",
        &[DEMO_STORE.into()],
        30,
    )?;
    let web = if web::built(&web_dir) {
        format!(
            "The web app: open {base}/ in a browser. Sign in with a token below, or straight \
             from this link as {DEMO_STORE}'s owner:\n  {}\n\n",
            sign_in_link(&base, &owner)
        )
    } else {
        format!(
            "The web app is not built in {} (`make web`; `make run` builds it).\n\n",
            web_dir.display()
        )
    };
    println!(
        "\nKirana catalog API on {base} (embedded backend: {})\n\n{web}\
         admin token:         {admin}\n\
         {DEMO_STORE} owner token: {owner}\n\
         {DEMO_STORE} scanner:     {scanner}\n\n\
         Try:\n  \
         curl -s {base}/v1/health\n  \
         curl -s {base}/v1/openapi.json    # the OpenAPI 3.1 document\n  \
         curl -s -X POST {base}/v1/scan -H \"Authorization: Bearer {scanner}\" -H 'Content-Type: application/json' \\\n    \
         -d '{{\"store_id\":\"{DEMO_STORE}\",\"barcode\":\"8901058000290\",\"scan_id\":\"first-scan\"}}'\n  \
         curl -s {base}/v1/stores/{DEMO_STORE}/inventory -H \"Authorization: Bearer {owner}\"\n\n\
         Sign in as a store owner would (the SMS with the code is this server's log line):\n  \
         curl -s -X POST {base}/v1/stores -H \"Authorization: Bearer {admin}\" -H 'Content-Type: application/json' \\\n    \
         -d '{{\"store_id\":\"store-2\",\"name\":\"My Kirana\",\"region\":\"IN-MH\",\"owner\":{{\"phone\":\"9876543210\",\"display_name\":\"Me\"}}}}'\n  \
         curl -s -X POST {base}/v1/auth/code -H 'Content-Type: application/json' -d '{{\"phone\":\"9876543210\"}}'\n  \
         curl -s -X POST {base}/v1/auth/token -H 'Content-Type: application/json' \\\n    \
         -d '{{\"grant_type\":\"code\",\"phone\":\"9876543210\",\"code\":\"<the 6 digits>\"}}'\n\n\
         Ctrl-C stops the server; data stays in {}.\n",
        paths.database.display(),
        data_dir.display()
    );
    // Imports a crash left unfinished go on (now, and whenever a run's claim lapses), and
    // stock alerts not yet announced are.
    let sweep = tokio::spawn(catalog_core::local::sweep_stalled_work(
        app.clone(),
        import_lease,
    ));
    // Events reach the stores' webhooks (now, and as retries come due).
    let deliver = tokio::spawn(catalog_core::local::deliver_webhooks(app.clone()));
    // New products with a barcode are looked up in Open Food Facts (OFF_BASE_URL=off: not).
    let enrich = match (app.off.get(), app.off.config()) {
        (Some(off), Some(config)) => {
            println!(
                "Open Food Facts lookups from {} (OFF_BASE_URL=off turns them off)\n",
                config.base_url
            );
            Some(tokio::spawn(catalog_core::local::enrich_products(
                app.clone(),
                off,
                paths.enrich_requests,
            )))
        }
        _ => {
            println!("Open Food Facts lookups are off: new products stay queued\n");
            None
        }
    };
    let router = catalog_core::local::router_with(
        app,
        vec![paths.uploads, paths.images],
        &edge,
        import_lease,
        web::router(&web_dir)?,
    );
    // The peer's address reaches the handlers: the sign-in limits count per client address.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    sweep.abort();
    deliver.abort();
    if let Some(enrich) = enrich {
        enrich.abort();
    }
    served?;
    Ok(())
}

fn describe() -> serde_json::Value {
    use catalog_core::adapters::dynamo::schema::specs;
    let routes: Vec<_> = catalog_core::api::routes::ALL
        .iter()
        .map(|r| {
            let (method, path) = r.method_path();
            let keys: Vec<_> = r.keys.iter().map(|k| k.as_str()).collect();
            serde_json::json!({
                "function": r.function, "method": method.as_str(), "path": path, "key_scopes": keys,
            })
        })
        .collect();
    let tables: Vec<_> = specs()
        .into_iter()
        .map(|t| {
            let indexes: Vec<_> = t
                .indexes
                .iter()
                .map(|(name, h, r, all)| serde_json::json!({ "name": name, "hash_key": h, "range_key": r, "project_all": all }))
                .collect();
            serde_json::json!({
                "logical": t.logical, "hash_key": t.hash_key, "range_key": t.range_key,
                "indexes": indexes, "ttl_attribute": t.ttl_attribute,
            })
        })
        .collect();
    let triggers: Vec<_> = catalog_core::triggers::ALL
        .iter()
        .map(|t| serde_json::json!({ "function": t.function, "source": t.source }))
        .collect();
    serde_json::json!({
        "routes": routes, "triggers": triggers, "tables": tables, "local_only_crates": ["catalog"],
        "import_max_receives": catalog_core::triggers::IMPORT_MAX_RECEIVES,
        "image_max_receives": catalog_core::triggers::IMAGE_MAX_RECEIVES,
        "enrich_max_receives": catalog_core::triggers::ENRICH_MAX_RECEIVES,
        "off_import_max_receives": catalog_core::triggers::OFF_IMPORT_MAX_RECEIVES,
        "webhook_max_receives": catalog_core::triggers::WEBHOOK_MAX_RECEIVES,
    })
}
