//! What the kill tests share: a real `catalog serve` process to start and SIGKILL, and a
//! client of its API.
#![allow(dead_code)] // each test binary uses its part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use catalog_core::domain::check_digit;
use serde_json::{Value, json};

/// A running `catalog serve` and its base URL.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts the server on a free port over `data`, with a 2 s import claim (so the restarted
    /// server takes a killed run's job over soon).
    pub fn start(data: &Path) -> Self {
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

    pub fn kill(mut self) {
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

pub fn gtin(n: u64) -> String {
    let base = format!("{:012}", 890_100_000_000 + n);
    let digits: Vec<u8> = base.bytes().map(|b| b - b'0').collect();
    let digit = check_digit(&digits);
    format!("{base}{digit}")
}

pub struct Client {
    pub http: reqwest::Client,
    pub token: String,
}

impl Client {
    pub async fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
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
    pub async fn import(&self, base: &str, store: &str, csv: &[u8]) -> String {
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

    pub async fn job(&self, base: &str, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("{base}/v1/jobs/{id}"), None)
            .await
    }

    pub async fn until_final(&self, base: &str, id: &str, within: Duration) -> Value {
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
    pub async fn inventory(&self, base: &str, store: &str) -> BTreeMap<String, String> {
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
