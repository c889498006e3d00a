//! A merge survives a crash of the local server: `catalog serve` is killed (SIGKILL) while it
//! moves a duplicate's stock in many stores onto the product it duplicates, started again on
//! the same data folder, and the merge asked for again finishes it: every store holds what it
//! held of both products together, on the one product, and no unit is lost or counted twice.

mod common;

use std::time::{Duration, Instant};

use catalog_core::auth::{Role, TokenKeys};
use common::{Client, Server};
use futures::StreamExt;
use serde_json::{Value, json};

const STORES: usize = 1_500;

fn store(i: usize) -> String {
    format!("shop-{i:04}")
}

/// What store `i` holds of the duplicate, and of the kept product (every tenth has some).
fn held(i: usize) -> (u64, Option<u64>) {
    ((i % 7 + 1) as u64, i.is_multiple_of(10).then_some(2))
}

/// The item of `product` in store `i` (its quantity), if any.
async fn item(client: &Client, base: &str, i: usize, product: &str) -> Option<String> {
    let res = client
        .http
        .get(format!("{base}/v1/stores/{}/inventory/{product}", store(i)))
        .bearer_auth(&client.token)
        .send()
        .await
        .unwrap();
    match res.status().as_u16() {
        200 => Some(
            res.json::<Value>().await.unwrap()["quantity"]
                .as_str()?
                .to_string(),
        ),
        404 => None,
        s => panic!("GET item: {s}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_killed_mid_way_finishes_when_asked_again() {
    let data = tempfile::tempdir().unwrap();
    let keys = TokenKeys::new(catalog_core::app::DEV_JWT_SECRET.as_bytes()).unwrap();
    let client = Client {
        http: reqwest::Client::new(),
        token: keys.mint("admin", Role::Admin, &[], time::Duration::hours(1)),
    };
    let server = Server::start(data.path());
    let base = server.base.clone();
    let mut ids = Vec::new();
    for name in ["Amul Butter 100g", "Amul Butter 100 g"] {
        let made = client
            .call(
                reqwest::Method::POST,
                &format!("{base}/v1/products"),
                Some(json!({"name": name, "brand": "Amul"})),
            )
            .await;
        ids.push(made["product_id"].as_str().unwrap().to_string());
    }
    let (dup, keep) = (ids[0].clone(), ids[1].clone());

    // GIVEN the duplicate stocked by many stores, a tenth of them stocking the kept one too.
    let puts = (0..STORES).flat_map(|i| {
        let (d, k) = held(i);
        let mut out = vec![(i, dup.clone(), d)];
        out.extend(k.map(|k| (i, keep.clone(), k)));
        out
    });
    futures::stream::iter(puts)
        .for_each_concurrent(8, |(i, product, q)| {
            let (client, base) = (&client, &base);
            async move {
                client
                    .call(
                        reqwest::Method::PUT,
                        &format!("{base}/v1/stores/{}/inventory/{product}", store(i)),
                        Some(json!({"quantity": q.to_string()})),
                    )
                    .await;
            }
        })
        .await;

    // WHEN the merge is killed once a fifth of the stores have moved (stores move in order).
    let merge = {
        let (http, token, url) = (
            client.http.clone(),
            client.token.clone(),
            format!("{base}/v1/products/{dup}/merge"),
        );
        let into = keep.clone();
        tokio::spawn(async move {
            // The answer never comes: the server dies first.
            let _ = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"into": into}))
                .send()
                .await;
        })
    };
    let started = Instant::now();
    while item(&client, &base, STORES / 5, &dup).await.is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the merge did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    merge.abort();

    // THEN after a restart some stores have moved and some have not, each whole.
    let server = Server::start(data.path());
    let base = server.base.clone();
    let last = STORES - 1;
    assert!(
        item(&client, &base, last, &dup).await.is_some(),
        "the merge ended before it could be killed; add stores"
    );
    assert!(item(&client, &base, 0, &dup).await.is_none());

    // AND asking again finishes it.
    let report = client
        .call(
            reqwest::Method::POST,
            &format!("{base}/v1/products/{dup}/merge"),
            Some(json!({"into": keep})),
        )
        .await;
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["product"]["verification_status"], "merged");
    let moved_now = report["stores_moved"].as_u64().unwrap() as usize;
    assert!(
        0 < moved_now && moved_now < STORES,
        "{moved_now} moved after the restart"
    );

    // AND every store holds both together, on the kept product only.
    let checks = futures::stream::iter(0..STORES)
        .map(|i| {
            let (client, base, dup, keep) = (&client, &base, &dup, &keep);
            async move {
                (
                    i,
                    item(client, base, i, dup).await,
                    item(client, base, i, keep).await,
                )
            }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    for (i, from, into) in checks {
        let (d, k) = held(i);
        assert_eq!(from, None, "store {i} still holds the duplicate");
        assert_eq!(into, Some((d + k.unwrap_or(0)).to_string()), "store {i}");
    }
}
