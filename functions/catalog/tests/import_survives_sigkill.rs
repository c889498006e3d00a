//! An import survives a crash of the local server: `catalog serve` is killed (SIGKILL) while it
//! imports a stock list, started again on the same data folder, and the job completes with the
//! same inventory as an uninterrupted import of the same file into another store.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use catalog_core::auth::{Role, TokenKeys};
use catalog_core::domain::{StoreId, check_digit};
use serde_json::{Value, json};

const ROWS: u64 = 40_000;

/// A running `catalog serve` and its base URL.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on a free port over `data`, with a 2 s import claim (so the restarted
    /// server takes a killed run's job over soon).
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_catalog"))
            .args(["serve", "--addr", "127.0.0.1:0", "--import-lease-secs", "2"])
            .arg("--data-dir")
            .arg(data)
            .env_remove("JWT_SECRET")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("catalog serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .unwrap();
            if let Some(rest) = line.split("Kirana catalog API on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown, no flush, as a crash.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gtin(n: u64) -> String {
    let base = format!("{:012}", 890_100_000_000 + n);
    let digits: Vec<u8> = base.bytes().map(|b| b - b'0').collect();
    let digit = check_digit(&digits);
    format!("{base}{digit}")
}

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

struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "{url}: {status} {body}");
        body
    }

    /// Creates an import job for `store` and uploads `csv`; returns the job id.
    async fn import(&self, base: &str, store: &str, csv: &[u8]) -> String {
        let created = self
            .call(
                reqwest::Method::POST,
                &format!("{base}/v1/stores/{store}/imports"),
                Some(json!({"content_length": csv.len(), "content_type": "text/csv"})),
            )
            .await;
        let upload = &created["upload"];
        let mut put = self.http.put(upload["url"].as_str().unwrap());
        for h in upload["headers"].as_array().unwrap() {
            put = put.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
        }
        let res = put.body(csv.to_vec()).send().await.unwrap();
        assert!(res.status().is_success(), "upload: {}", res.status());
        created["job_id"].as_str().unwrap().to_string()
    }

    async fn job(&self, base: &str, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("{base}/v1/jobs/{id}"), None)
            .await
    }

    async fn until_final(&self, base: &str, id: &str, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let job = self.job(base, id).await;
            if ["completed", "failed"].contains(&job["status"].as_str().unwrap()) {
                return job;
            }
            assert!(started.elapsed() < within, "job still {job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A store's whole inventory: product id -> quantity.
    async fn inventory(&self, base: &str, store: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/v1/stores/{store}/inventory?limit=100");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = self.call(reqwest::Method::GET, &url, None).await;
            for item in page["items"].as_array().unwrap() {
                out.insert(
                    item["product_id"].as_str().unwrap().to_string(),
                    item["quantity"].as_str().unwrap().to_string(),
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
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
