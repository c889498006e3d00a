//! Open Food Facts enrichment end to end, against a fake OFF on a loopback port
//! (`catalog_tests::fake_off`: OFF's JSON shape, its failures on demand). `embedded::...` runs
//! it as `catalog serve` does (the local queue, its worker and sweep); `aws::...` as deployed:
//! the product-creating route puts a message on an SQS queue (ministack), and the `enrich`
//! function is fed what the queue holds, as Lambda's event source mapping would.

use std::time::{Duration, Instant};

use catalog_core::auth::Role;
use catalog_core::domain::{
    Actor, Gtin, HistoryEntry, Product, ProductContent, ProductId, ProductSource, Timestamp,
};
use catalog_core::ports::OpenFoodFacts;
use catalog_core::services::enrichment::EnrichOutcome;
use catalog_core::triggers::{ENRICH, TriggerContext};
use catalog_tests::fake_off::{FakeOff, KNOWN, KNOWN_WITHOUT_IMAGE, OffMode, UNKNOWN};
use catalog_tests::{TestApi, random_gtin};
use serde_json::{Value, json};

/// A backend wired to a fake OFF.
struct Rig {
    api: TestApi,
    off: FakeOff,
    /// AWS: the enrich queue.
    queue: Option<(aws_sdk_sqs::Client, String)>,
}

impl Rig {
    async fn embedded() -> Self {
        let off = FakeOff::start().await;
        let api = TestApi::embedded_with_off(Some(off.config())).await;
        Rig {
            api,
            off,
            queue: None,
        }
    }

    async fn aws() -> Self {
        let off = FakeOff::start().await;
        let (api, sqs, url) = TestApi::aws_with_enrichment(off.config()).await;
        Rig {
            api,
            off,
            queue: Some((sqs, url)),
        }
    }

    async fn scan(&self, barcode: &str, scan_id: &str) -> Value {
        let scanner = self.api.token(Role::Scanner, &["s1"]);
        let started = Instant::now();
        let r = self
            .api
            .post(
                "/v1/scan",
                &scanner,
                json!({"store_id": "s1", "barcode": barcode, "scan_id": scan_id}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        // OFF is never in the scan's way, whatever state it is in.
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.body["product"]["enrichment"]["status"], "queued", "{r:?}");
        r.body["product"].clone()
    }

    async fn product(&self, id: &str) -> Value {
        let admin = self.api.token(Role::Admin, &[]);
        let r = self.api.get(&format!("/v1/products/{id}"), &admin).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    /// Runs the enrichment as the backend does, until product `id`'s lookup is no longer
    /// queued or `within` passes: locally the server's worker does it (this waits for it);
    /// on AWS the queue's messages go through the `enrich` function. Answers the product.
    async fn run(&self, id: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            if let Some((sqs, url)) = &self.queue {
                let got = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                let records: Vec<Value> = got
                    .messages()
                    .iter()
                    .map(|m| {
                        json!({
                            "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                            "body": m.body(), "attributes": {}, "messageAttributes": {},
                            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:enrich",
                            "awsRegion": "us-east-1",
                        })
                    })
                    .collect();
                if !records.is_empty() {
                    let response = ENRICH
                        .call(
                            self.api.app.clone(),
                            json!({ "Records": records }),
                            TriggerContext::default(),
                        )
                        .await
                        .unwrap();
                    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
                    for m in got.messages() {
                        sqs.delete_message()
                            .queue_url(url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .send()
                            .await
                            .unwrap();
                    }
                }
            }
            let p = self.product(id).await;
            // Done: looked up, and an image it handed over processed.
            let image_pending = self.off.image_reads() > 0 && p["image_state"].is_null();
            if (p["enrichment"]["status"] != "queued" && !image_pending) || Instant::now() > until {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn id_of(p: &Value) -> String {
    p["product_id"].as_str().unwrap().to_string()
}

/// A scanned barcode OFF knows: the placeholder gets OFF's name, brand, size, category and
/// regional names, with OFF's attribution and its front image through the image pipeline; it
/// stays pending for review.
async fn a_scanned_barcode_off_knows_is_filled_from_it(rig: &Rig) {
    let placeholder = rig.scan(KNOWN, "scan-known").await;
    assert_eq!(placeholder["name"], format!("Unidentified product {KNOWN}"));
    let p = rig.run(&id_of(&placeholder), Duration::from_secs(15)).await;
    assert_eq!(p["enrichment"]["status"], "found", "{p}");
    assert_eq!(p["name"], "Good Day Cashew Cookies");
    assert_eq!(p["brand"], "Britannia");
    assert_eq!(p["attributes"]["quantity"], "200 g");
    assert_eq!(p["category"], "Snacks & Branded Foods > Biscuits & Cookies");
    assert_eq!(
        p["regional_names"]["IN-TN"],
        json!(["குட் டே முந்திரி குக்கீஸ்"])
    );
    assert_eq!(p["regional_names"]["IN-UP"], json!(["गुड डे काजू कुकीज़"]));
    assert_eq!(p["verification_status"], "pending");
    let attribution = &p["enrichment"]["attribution"];
    assert_eq!(attribution["source"], "openfoodfacts");
    assert_eq!(attribution["licence"], "ODbL-1.0");
    assert_eq!(
        attribution["url"],
        format!("https://world.openfoodfacts.org/product/{KNOWN}")
    );
    // The image went through the pipeline: the product's image is OFF's, processed.
    assert_eq!(p["image_state"]["status"], "ready", "{p}");
    assert!(p["canonical_image_urls"]["thumbnail"].is_string(), "{p}");
    assert_eq!(rig.off.product_reads(), 1);
    assert_eq!(rig.off.image_reads(), 1);
    // The history says who filled what.
    let admin = rig.api.token(Role::Admin, &[]);
    let h = rig
        .api
        .get(&format!("/v1/products/{}/history", id_of(&p)), &admin)
        .await;
    let enriched = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "enriched")
        .unwrap_or_else(|| panic!("no enriched entry: {h:?}"));
    assert_eq!(enriched["actor"]["sub"], "openfoodfacts");
    assert_eq!(
        enriched["changes"]["name"]["after"],
        "Good Day Cashew Cookies"
    );
}

/// A product created through the API keeps what its creator wrote; OFF fills the rest.
async fn what_a_person_wrote_is_kept(rig: &Rig) {
    let owner = rig.api.token(Role::StoreOwner, &["s1"]);
    let r = rig
        .api
        .post(
            "/v1/products",
            &owner,
            json!({"name": "Brooke Bond Darjeeling 250g", "barcode": KNOWN_WITHOUT_IMAGE}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let p = rig.run(&id_of(&r.body), Duration::from_secs(15)).await;
    assert_eq!(p["enrichment"]["status"], "found", "{p}");
    assert_eq!(p["name"], "Brooke Bond Darjeeling 250g");
    assert_eq!(p["brand"], "Brooke Bond");
    assert_eq!(p["category"], "Beverages > Tea");
    assert_eq!(
        p["enrichment"]["filled"],
        json!(["brand", "category", "attributes.quantity"])
    );
    assert_eq!(rig.off.image_reads(), 0);
}

/// A barcode OFF does not know is marked looked up, once: a repeated request, and a lookup
/// asked for again, do not ask OFF again (the client remembers for a day).
async fn an_unknown_barcode_is_looked_up_once(rig: &Rig) {
    let placeholder = rig.scan(UNKNOWN, "scan-unknown").await;
    let id = id_of(&placeholder);
    let p = rig.run(&id, Duration::from_secs(15)).await;
    assert_eq!(p["enrichment"]["status"], "not_found", "{p}");
    assert_eq!(p["name"], placeholder["name"]);
    assert_eq!(rig.off.product_reads(), 1);
    // The request repeated (SQS delivers at least once): nothing to do.
    let client = rig.api.app.off.get().unwrap();
    let pid = ProductId::parse(&id).unwrap();
    let again = rig
        .api
        .app
        .catalog
        .enrich(client.as_ref(), &pid)
        .await
        .unwrap();
    assert_eq!(again, EnrichOutcome::NotQueued);
    // A reviewer asks again: queued, and answered from the client's memory.
    let reviewer = rig.api.token(Role::Reviewer, &[]);
    let r = rig
        .api
        .post(&format!("/v1/products/{id}/lookup"), &reviewer, json!({}))
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["enrichment"]["status"], "queued");
    let p = rig.run(&id, Duration::from_secs(15)).await;
    assert_eq!(p["enrichment"]["status"], "not_found", "{p}");
    assert_eq!(rig.off.product_reads(), 1);
    // Only reviewers ask; a product without a barcode has nothing to look up.
    let owner = rig.api.token(Role::StoreOwner, &["s1"]);
    let r = rig
        .api
        .post(&format!("/v1/products/{id}/lookup"), &owner, json!({}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = rig
        .api
        .post("/v1/products", &owner, json!({"name": "Loose jaggery"}))
        .await;
    assert!(r.body.get("enrichment").is_none(), "{r:?}");
    let r = rig
        .api
        .post(
            &format!("/v1/products/{}/lookup", id_of(&r.body)),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "no_barcode"), "{r:?}");
}

/// OFF down, slow or throttling: the scan answers at once, the lookup waits for its next
/// try (kept on the product: an early request ends at once, so retries never multiply), no
/// storm; when the try comes due with OFF back, the lookup lands.
async fn off_down_never_blocks_a_scan_and_is_retried(rig: &Rig) {
    let client = rig.api.app.off.get().unwrap();
    let enrich = |id: ProductId| {
        let (app, client) = (rig.api.app.clone(), client.clone());
        async move { app.catalog.enrich(client.as_ref(), &id).await.unwrap() }
    };
    // Down (503), then back.
    rig.off.set_mode(OffMode::Down);
    let placeholder = rig.scan(KNOWN, "scan-down").await;
    let id = ProductId::parse(&id_of(&placeholder)).unwrap();
    // Locally the server's worker may have tried first: then this request is early.
    let outcome = enrich(id).await;
    assert!(
        matches!(&outcome, EnrichOutcome::Retry { after, .. } if *after == Duration::from_secs(60))
            || outcome == EnrichOutcome::NotDue,
        "{outcome:?}"
    );
    let p = rig
        .api
        .app
        .catalog
        .products
        .get(&id)
        .await
        .unwrap()
        .unwrap();
    let e = p.enrichment.clone().unwrap();
    assert!(e.is_queued(), "{e:?}");
    let due = e.due.expect("the next try's due time");
    assert!(
        due > Timestamp::now().plus(time::Duration::seconds(50)),
        "{due}"
    );
    // Asked again before it is due: it ends at once, OFF is not asked.
    let reads = rig.off.product_reads();
    assert_eq!(enrich(id).await, EnrichOutcome::NotDue);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.off.product_reads(), reads, "a retry storm");
    assert!(reads <= 2, "{reads}");
    // OFF is back and the try comes due.
    rig.off.set_mode(OffMode::Normal);
    rig.api
        .app
        .catalog
        .products
        .defer_lookup(&id, p.version, Timestamp::now())
        .await
        .unwrap();
    assert!(matches!(enrich(id).await, EnrichOutcome::Found { .. }));
    assert_eq!(
        rig.product(&id.to_string()).await["name"],
        "Good Day Cashew Cookies"
    );

    // Slower than the client waits.
    rig.off.set_mode(OffMode::Slow(Duration::from_secs(3)));
    let placeholder = rig.scan(&random_gtin().to_string(), "scan-slow").await;
    let id = ProductId::parse(&id_of(&placeholder)).unwrap();
    let outcome = enrich(id).await;
    assert!(
        matches!(&outcome, EnrichOutcome::Retry { detail, .. } if detail.contains("no answer within"))
            || outcome == EnrichOutcome::NotDue,
        "{outcome:?}"
    );

    // Throttling: OFF's Retry-After is the pause, every lookup is held back for it without
    // a request (told how long is left), and the scan still answers at once.
    rig.off.set_mode(OffMode::Throttling(120));
    let barcode = catalog_core::domain::Gtin::parse(KNOWN_WITHOUT_IMAGE).unwrap();
    let refused = client.lookup(&barcode).await.unwrap_err();
    assert_eq!(
        refused.retry_after,
        Some(Duration::from_secs(120)),
        "{refused}"
    );
    rig.off.set_mode(OffMode::Normal);
    let reads = rig.off.product_reads();
    let held = client.lookup(&barcode).await.unwrap_err();
    assert!(
        held.retry_after.unwrap() > Duration::from_secs(110),
        "{held}"
    );
    assert_eq!(rig.off.product_reads(), reads);
    let placeholder = rig.scan(&random_gtin().to_string(), "scan-throttled").await;
    let p = rig.product(&id_of(&placeholder)).await;
    assert_eq!(p["enrichment"]["status"], "queued", "{p}");
}

/// A product written queued whose request was lost (the queue refused it, the process died
/// after the write): the sweep asks for it again, and it is looked up.
async fn a_lost_request_is_found_by_the_sweep(rig: &Rig) {
    let content = ProductContent {
        name: "Good Day".into(),
        barcode: Some(Gtin::parse(KNOWN).unwrap()),
        ..Default::default()
    };
    let product = Product::create(
        ProductId::new(),
        content,
        ProductSource::Api,
        "owner-1",
        Timestamp::now(),
    );
    let history = HistoryEntry::created(&product, Actor::system("test"), None);
    // Written as a creation writes it, but no request sent.
    rig.api
        .app
        .catalog
        .products
        .insert(&product, &history)
        .await
        .unwrap();
    let catalog = &rig.api.app.catalog;
    // Asked for a moment ago: not stalled yet for an hourly sweep.
    let recent = catalog
        .request_stalled_enrichments(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(recent, 0);
    // Stalled (the local sweep, at start, takes every one).
    let mut asked = 0;
    for _ in 0..50 {
        // DynamoDB's index is a moment behind the write.
        asked = catalog
            .request_stalled_enrichments(Duration::ZERO)
            .await
            .unwrap();
        if asked > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(asked, 1);
    let p = rig
        .run(&product.product_id.to_string(), Duration::from_secs(15))
        .await;
    assert_eq!(p["enrichment"]["status"], "found", "{p}");
    assert_eq!(p["name"], "Good Day");
    assert_eq!(p["brand"], "Britannia");
    // Looked up, it leaves the sweep's outbox.
    let mut left = 1;
    for _ in 0..50 {
        left = catalog
            .products
            .awaiting_enrichment(Timestamp::now(), 10)
            .await
            .unwrap()
            .len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0);
}

/// A product a CSV import creates for a barcode the catalog did not know is looked up too
/// (the local server: its import, its worker).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_product_is_looked_up() {
    let rig = Rig::embedded().await;
    let owner = rig.api.token(Role::StoreOwner, &["s1"]);
    let csv = format!("name,barcode,qty\nGood Day cashew biscuit,{KNOWN},12\n");
    let job = rig.api.upload_import(&owner, "s1", csv.as_bytes()).await;
    let until = Instant::now() + Duration::from_secs(30);
    let product = loop {
        let j = rig.api.app.catalog.jobs.get(&job).await.unwrap().unwrap();
        if j.status.is_final() {
            assert_eq!(j.counters.successful, 1, "{j:?}");
            let barcode = Gtin::parse(KNOWN).unwrap();
            break rig
                .api
                .app
                .catalog
                .products
                .find_by_barcode(&barcode)
                .await
                .unwrap()
                .unwrap();
        }
        assert!(Instant::now() < until, "the import did not finish: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(product.source, ProductSource::Import);
    let p = rig
        .run(&product.product_id.to_string(), Duration::from_secs(15))
        .await;
    assert_eq!(p["enrichment"]["status"], "found", "{p}");
    // The importer's name stays; OFF fills what the row did not say.
    assert_eq!(p["name"], "Good Day cashew biscuit");
    assert_eq!(p["brand"], "Britannia");
}

/// Runs each `async fn case(rig: &Rig)` of this suite on both backends, each wired to a fake
/// Open Food Facts of its own.
macro_rules! api_enrichment_cases {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&super::Rig::embedded().await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(&super::Rig::aws().await).await
                }
            )*
        }
    };
}

api_enrichment_cases!(
    a_scanned_barcode_off_knows_is_filled_from_it,
    what_a_person_wrote_is_kept,
    a_lost_request_is_found_by_the_sweep,
    an_unknown_barcode_is_looked_up_once,
    off_down_never_blocks_a_scan_and_is_retried,
);
