//! An import survives a crash of the local server: `catalog serve` is killed (SIGKILL) while it
//! imports a stock list, started again on the same data folder, and the job completes with the
//! same inventory as an uninterrupted import of the same file into another store.

mod common;

use std::time::{Duration, Instant};

use catalog_core::auth::{Role, TokenKeys};
use catalog_core::domain::StoreId;
use common::{Client, Server, gtin};

const ROWS: u64 = 40_000;

/// A stock list: distinct products with a count each, every 97th row repeating an earlier
/// barcode (counted once) and every 1000th with a count that is not a number (rejected).
fn stock_list() -> Vec<u8> {
    let mut csv = String::from("name,brand,quantity,barcode,qty\n");
    let brands = ["Tata", "Amul", "Parle", "Britannia", "Dabur"];
    for i in 0..ROWS {
        let brand = brands[(i % 5) as usize];
        let barcode = if i % 97 == 96 { gtin(i - 50) } else { gtin(i) };
        let qty = if i % 1000 == 999 {
            "many".to_string()
        } else {
            (i % 37).to_string()
        };
        csv.push_str(&format!(
            "{brand} Product {i},{brand},{} g,{barcode},{qty}\n",
            100 + i % 9 * 50
        ));
    }
    csv.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_mid_way_completes_after_a_restart_as_if_never_killed() {
    let data = tempfile::tempdir().unwrap();
    let keys = TokenKeys::new(catalog_core::app::DEV_JWT_SECRET.as_bytes()).unwrap();
    let stores: Vec<StoreId> = ["crash", "calm"]
        .iter()
        .map(|s| StoreId::parse(s).unwrap())
        .collect();
    let client = Client {
        http: reqwest::Client::new(),
        token: keys.mint("owner", Role::StoreOwner, &stores, time::Duration::hours(1)),
    };
    let csv = stock_list();

    // GIVEN an import under way: killed once its first checkpoint is saved.
    let server = Server::start(data.path());
    let job_id = client.import(&server.base, "crash", &csv).await;
    let started = Instant::now();
    let at_kill = loop {
        let job = client.job(&server.base, &job_id).await;
        let processed = job["processed"].as_u64().unwrap();
        assert_ne!(
            job["status"], "completed",
            "the import ended before it could be killed; make the file longer"
        );
        if processed >= 25_000 {
            break processed;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill();
    assert!(at_kill < ROWS);

    // WHEN the server starts again on the same folder THEN the job goes on from its
    // checkpoint and completes.
    let server = Server::start(data.path());
    let crashed = client
        .until_final(&server.base, &job_id, Duration::from_secs(300))
        .await;
    assert_eq!(crashed["status"], "completed", "{crashed}");

    // AND it did what an uninterrupted import of the same file does.
    let calm_id = client.import(&server.base, "calm", &csv).await;
    let calm = client
        .until_final(&server.base, &calm_id, Duration::from_secs(300))
        .await;
    for counter in [
        "total_rows",
        "processed",
        "successful",
        "failed",
        "duplicates_found",
    ] {
        assert_eq!(crashed[counter], calm[counter], "{counter}");
    }
    assert_eq!(crashed["total_rows"], ROWS);
    assert_eq!(crashed["failed"], ROWS / 1000);
    let (a, b) = (
        client.inventory(&server.base, "crash").await,
        client.inventory(&server.base, "calm").await,
    );
    assert!(a.len() as u64 > ROWS * 9 / 10, "{} items", a.len());
    assert_eq!(a, b);
}
