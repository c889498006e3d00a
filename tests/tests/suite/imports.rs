//! Bulk CSV imports end to end. `aws::...` runs the path as deployed: the presigned upload to
//! S3 (ministack), the S3 notification it sends to SQS, the `csv-import` handler fed what the
//! queue holds (as Lambda's event source mapping would), DynamoDB Local underneath, and the
//! `job.completed` event through an EventBridge rule to a queue. The malformed-file corpus runs
//! on both backends (`embedded::...`, `aws::...`).

use std::time::{Duration, Instant};

use catalog_core::auth::Role;
use catalog_core::domain::{CsvJob, JobId, JobStatus, StoreId};
use catalog_core::ports::BlobKey;
use catalog_core::services::imports::{RunOptions, RunOutcome};
use catalog_core::triggers::{CSV_IMPORT, TriggerContext};
use catalog_tests::{AwsRig, TestApi, random_gtin};
use serde_json::{Value, json};

const STORE: &str = "s1";

/// Creates an import job through the API and uploads `csv` (as a client would).
async fn upload(api: &TestApi, owner: &str, csv: &[u8]) -> JobId {
    api.upload_import(owner, STORE, csv).await
}

/// Runs csv-import on an SQS event, as Lambda would; returns its batch response.
async fn deliver(api: &TestApi, event: Value) -> Value {
    CSV_IMPORT
        .call(api.app.clone(), event, TriggerContext::default())
        .await
        .unwrap()
}

async fn job(api: &TestApi, id: &JobId) -> CsvJob {
    api.app.catalog.jobs.get(id).await.unwrap().unwrap()
}

async fn stock(api: &TestApi, owner: &str, product: &str) -> Value {
    let r = api
        .get(&format!("/v1/stores/{STORE}/inventory/{product}"), owner)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

async fn create(api: &TestApi, owner: &str, body: Value) -> String {
    let r = api.post("/v1/products", owner, body).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["product_id"].as_str().unwrap().to_string()
}

/// Every item of the store, through the API's pages.
async fn all_items(api: &TestApi, owner: &str) -> Vec<Value> {
    let (mut out, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/stores/{STORE}/inventory?limit=100&cursor={c}"),
            None => format!("/v1/stores/{STORE}/inventory?limit=100"),
        };
        let r = api.get(&path, owner).await;
        assert_eq!(r.status, 200, "{r:?}");
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn upload_through_s3_drives_the_import() {
    let (api, rig) = TestApi::aws_with_imports().await;
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let salt_barcode = random_gtin().to_string();
    let salt_kg = create(&api, &owner, json!({"name": "Salt - Iodised", "brand": "Tata", "barcode": salt_barcode, "attributes": {"weight": "1 kg"}})).await;
    let salt_half = create(
        &api,
        &owner,
        json!({"name": "Salt - Iodised", "brand": "Tata", "attributes": {"weight": "500 g"}}),
    )
    .await;
    let wash = create(&api, &owner, json!({"name": "Haldi Chandan Skin Brightening Face Wash", "brand": "Himalaya", "attributes": {"weight": "100 g"}})).await;
    create(&api, &owner, json!({"name": "Haldi Chandan Skin Brightening Face Wash", "brand": "Himalaya", "attributes": {"weight": "50 g"}})).await;
    // The owner already stocks the salt, with a note the import must keep.
    let r = api
        .put(
            &format!("/v1/stores/{STORE}/inventory/{salt_kg}"),
            &owner,
            json!({"quantity": "2", "notes": "top shelf"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    api.app.catalog.publish_match_index().await.unwrap();

    let csv = format!(
        "Item Name,Brand,Stock,MRP,Cost Price,EAN,Pack Size\n\
         Salt - Iodised,Tata,10,28,24.50,{salt_barcode},1 kg\n\
         TATA SALT IODIZED 500 GM,,7,15,,,\n\
         Haldi Chandan Face Wash,Himalaya,3,\"₹99.00\",,,100 g\n\
         Brand New Namkeen,Haldiram,5,20,,,200 g\n\
         ,Nobody,1,1,,,\n\
         Salt Iodised,Tata,99,28,,{salt_barcode},1 kg\n\
         Bad Barcode Row,X,1,1,,8901058000291,\n\
         \"=HYPERLINK(\"\"http://x\"\")\",Evil,-1,1,,,\n"
    );
    let id = upload(&api, &owner, csv.as_bytes()).await;

    // WHEN the notification S3 sent to the queue reaches the import function
    let messages = rig.receive(&rig.import_queue).await;
    assert!(
        messages
            .iter()
            .any(|m| m.body().unwrap_or("").contains(&id.to_string())),
        "{messages:?}"
    );
    let event = AwsRig::lambda_event(&messages);
    let summary = deliver(&api, event.clone()).await;
    assert_eq!(summary["batchItemFailures"], json!([]), "{summary}");

    // THEN the job is complete with exact counters
    let done = job(&api, &id).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let c = done.counters;
    assert_eq!(
        (
            c.total_rows,
            c.processed,
            c.successful,
            c.failed,
            c.duplicates_found
        ),
        (8, 8, 4, 3, 1),
        "{done:?}"
    );
    // and the stock went to the catalog's products: by barcode, by name in the right size.
    let item = stock(&api, &owner, &salt_kg).await;
    assert_eq!(
        (
            item["quantity"].as_str(),
            item["selling_price"].as_str(),
            item["cost_price"].as_str()
        ),
        (Some("10"), Some("28.00"), Some("24.50"))
    );
    assert_eq!(
        item["notes"], "top shelf",
        "an import never drops what the file does not say"
    );
    assert_eq!(stock(&api, &owner, &salt_half).await["quantity"], "7");
    assert_eq!(stock(&api, &owner, &wash).await["quantity"], "3");
    // The barcode still names one product.
    let r = api
        .get(&format!("/v1/products?barcode={salt_barcode}"), &owner)
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["items"][0]["product_id"], salt_kg.as_str());
    // The unknown row became a pending product carrying what the matcher proposed.
    let items = all_items(&api, &owner).await;
    assert_eq!(items.len(), 4);
    let known = [&salt_kg, &salt_half, &wash];
    let new_item = items
        .iter()
        .find(|i| !known.iter().any(|k| i["product_id"] == k.as_str()))
        .unwrap();
    assert_eq!(new_item["quantity"], "5");
    let p = api
        .get(
            &format!("/v1/products/{}", new_item["product_id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert_eq!(
        (
            p.body["name"].as_str(),
            p.body["verification_status"].as_str(),
            p.body["source"].as_str()
        ),
        (Some("Brand New Namkeen"), Some("pending"), Some("import"))
    );
    assert_eq!(p.body["match_review"]["job_id"], id.to_string());
    assert_eq!(p.body["match_review"]["row"], 5);

    // The report says which rows and why, safe to open in a spreadsheet.
    let r = api.get(&format!("/v1/jobs/{id}"), &owner).await;
    assert_eq!(
        (r.body["progress"].as_f64(), r.body["status"].as_str()),
        (Some(1.0), Some("completed"))
    );
    let report = api
        .http
        .get(r.body["report_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[0],
        "row,column,code,message,Item Name,Brand,Stock,MRP,Cost Price,EAN,Pack Size"
    );
    for (row, code) in [
        (6, "missing_name"),
        (7, "duplicate_row"),
        (8, "invalid_barcode"),
        (9, "negative_quantity"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{row},")) && l.contains(code)),
            "row {row} {code} in:\n{report}"
        );
    }
    assert!(
        report.contains("\"'=HYPERLINK("),
        "formula cells are neutralised:\n{report}"
    );
    assert!(report.contains(",'-1,"), "{report}");

    // job.completed went out through EventBridge.
    let completed = rig.receive(&rig.completions_queue).await;
    let event: Value = serde_json::from_str(completed[0].body().unwrap()).unwrap();
    assert_eq!(
        (
            event["detail-type"].as_str(),
            event["detail"]["data"]["job_id"].as_str()
        ),
        (Some("job.completed"), Some(id.to_string().as_str()))
    );
    assert_eq!(event["detail"]["data"]["successful"], 4);
    assert_eq!(event["detail"]["type"], "job.completed");
    // And its rows are metrics: JobRows by Kind and Outcome.
    for (outcome, rows) in [("successful", 4.0), ("failed", 3.0), ("duplicates", 1.0)] {
        let records = api.metric_records(&[("Kind", "import"), ("Outcome", outcome)]);
        assert_eq!(records.len(), 1, "{outcome}: {records:?}");
        assert_eq!(records[0]["JobRows"], rows, "{outcome}");
    }

    // GIVEN the same notification delivered again (as SQS redelivers it) THEN nothing changes.
    let before = items;
    let summary = deliver(&api, AwsRig::lambda_event(&messages)).await;
    assert_eq!(summary["batchItemFailures"], json!([]));
    assert_eq!(job(&api, &id).await, done);
    assert_eq!(all_items(&api, &owner).await, before);
    assert_eq!(
        api.metric_records(&[("Kind", "import"), ("Outcome", "successful")])
            .len(),
        1,
        "a job's rows are counted once"
    );
}

async fn a_paused_import_resumes_and_a_rerun_changes_nothing() {
    let (api, rig) = TestApi::aws_with_imports().await;
    let owner = api.token(Role::StoreOwner, &[STORE]);
    api.app.catalog.publish_match_index().await.unwrap();
    let rows = 1_250;
    let mut csv = String::from("name,brand,qty,size\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "Test Product {i:05},Acme,{},{} g\n",
            i % 40,
            50 + i
        ));
    }
    let id = upload(&api, &owner, csv.as_bytes()).await;
    let messages = rig.receive(&rig.import_queue).await;

    // WHEN the run has a minute left THEN it writes one chunk, checkpoints and hands over.
    let ctx = TriggerContext {
        deadline: Some(Instant::now() + Duration::from_secs(60)),
        lease: None,
    };
    CSV_IMPORT
        .call(api.app.clone(), AwsRig::lambda_event(&messages), ctx)
        .await
        .unwrap();
    let paused = job(&api, &id).await;
    assert_eq!(paused.status, JobStatus::Processing);
    let checkpoint = paused.checkpoint.expect("a checkpoint");
    assert_eq!(
        (checkpoint.next_row, paused.counters.processed),
        (502, 500),
        "{paused:?}"
    );
    assert!(
        paused.lease_until.is_none(),
        "a paused run releases the job"
    );
    assert!(paused.progress() > 0.0 && paused.progress() < 1.0);
    // Chunks that were being written when it stopped may have landed too; they lie after the
    // checkpoint and are written again (to the same items) by the next run.
    let at_pause = all_items(&api, &owner).await.len();
    assert!(
        (500..=rows).contains(&at_pause),
        "{at_pause} items at the pause"
    );

    // The continuation it queued resumes from the checkpoint.
    let resume = rig.receive(&rig.import_queue).await;
    assert!(resume[0].body().unwrap().contains(&id.to_string()));
    deliver(&api, AwsRig::lambda_event(&resume)).await;
    let done = job(&api, &id).await;
    let c = done.counters;
    assert_eq!(
        (
            done.status,
            c.processed,
            c.successful,
            c.failed,
            c.duplicates_found
        ),
        (JobStatus::Completed, 1250, 1250, 0, 0),
        "{done:?}"
    );
    let items = all_items(&api, &owner).await;
    assert_eq!(items.len(), rows);
    let pending = count_pending(&api, &owner).await;
    assert_eq!(pending, rows, "one product per row, none twice");

    // GIVEN a run that holds the job (its lease is live) WHEN the notification is delivered again
    // THEN the message goes back to SQS for later and the job is left to that run.
    let mut held = done.clone();
    held.status = JobStatus::Processing;
    held.completed_at = None;
    held.lease_until =
        Some(catalog_core::domain::Timestamp::now().plus(time::Duration::minutes(2)));
    held.version += 1;
    api.app.catalog.jobs.update(&held).await.unwrap();
    let summary = deliver(&api, AwsRig::lambda_event(&messages)).await;
    assert_eq!(
        summary["batchItemFailures"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    assert_eq!(job(&api, &id).await, held);

    // GIVEN a run that died mid-file (its lease lapsed, no checkpoint) WHEN the notification is
    // redelivered THEN the file is imported again to the same end state: same products, same stock.
    let mut crashed = held.clone();
    crashed.counters = Default::default();
    crashed.lease_until =
        Some(catalog_core::domain::Timestamp::now().plus(time::Duration::seconds(-1)));
    crashed.version += 1;
    api.app.catalog.jobs.update(&crashed).await.unwrap();
    let store = StoreId::parse(STORE).unwrap();
    let (outcome, stats) = api
        .app
        .catalog
        .run_import(&store, &id, &RunOptions::default())
        .await
        .unwrap();
    assert!(matches!(outcome, RunOutcome::Finished(_)), "{outcome:?}");
    assert_eq!(
        stats.products_created, 0,
        "the products exist from the first run"
    );
    let again = job(&api, &id).await;
    assert_eq!(again.counters, done.counters);
    assert_eq!(count_pending(&api, &owner).await, rows);
    let mut quantities: Vec<(String, String)> = all_items(&api, &owner)
        .await
        .iter()
        .map(|i| {
            (
                i["product_id"].as_str().unwrap().into(),
                i["quantity"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut first: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["product_id"].as_str().unwrap().into(),
                i["quantity"].as_str().unwrap().into(),
            )
        })
        .collect();
    quantities.sort();
    first.sort();
    assert_eq!(quantities, first);
    // Import writes cost about one write unit per row (BatchWriteItem of items under 1 KB).
    assert!(
        stats.write_units > 0.0 && stats.write_units <= 1.1 * rows as f64,
        "{stats:?}"
    );
}

async fn a_job_whose_last_delivery_fails_is_failed_not_left_waiting() {
    // No matching index was ever published: every run of the import fails (503 unavailable).
    let (api, rig) = TestApi::aws_with_imports().await;
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let id = upload(&api, &owner, b"name,qty\nTata Salt,3\n").await;
    let messages = rig.receive(&rig.import_queue).await;

    // WHEN an early delivery fails THEN SQS is asked to redeliver and the job waits as it was.
    let delivery = |n: u32| {
        let mut event = AwsRig::lambda_event(&messages);
        for r in event["Records"].as_array_mut().unwrap() {
            r["attributes"]["ApproximateReceiveCount"] = json!(n.to_string());
        }
        event
    };
    let summary = deliver(&api, delivery(2)).await;
    assert_eq!(
        summary["batchItemFailures"].as_array().map(Vec::len),
        Some(1)
    );
    let waiting = job(&api, &id).await;
    assert_eq!(
        (waiting.status, waiting.lease_until),
        (JobStatus::AwaitingUpload, None)
    );

    // WHEN the last delivery fails too THEN the job is failed with a reason the owner can act on.
    deliver(&api, delivery(catalog_core::triggers::IMPORT_MAX_RECEIVES)).await;
    let failed = job(&api, &id).await;
    assert_eq!(
        (failed.status, failed.failure_code.as_deref()),
        (JobStatus::Failed, Some("import_unavailable")),
        "{failed:?}"
    );
    assert!(
        failed
            .failure_reason
            .unwrap()
            .contains("upload the file again")
    );
    assert!(failed.lease_until.is_none() && failed.completed_at.is_some());
}

async fn count_pending(api: &TestApi, owner: &str) -> usize {
    let (mut n, mut cursor) = (0, None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/products?status=pending&limit=100&cursor={c}"),
            None => "/v1/products?status=pending&limit=100".to_string(),
        };
        let r = api.get(&path, owner).await;
        n += r.body["items"].as_array().unwrap().len();
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return n,
        }
    }
}

// ---------- export, then import: the same inventory ----------

/// Every item of `store` (through the API), product id -> the item's JSON without its version,
/// times and store.
async fn inventory_of(api: &TestApi, store: &str) -> std::collections::BTreeMap<String, Value> {
    let owner = api.token(Role::StoreOwner, &[store]);
    let mut out = std::collections::BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/stores/{store}/inventory?limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = api.get(&path, &owner).await;
        assert_eq!(r.status, 200, "{r:?}");
        for item in r.body["items"].as_array().unwrap() {
            let mut item = item.clone();
            let obj = item.as_object_mut().unwrap();
            for k in ["version", "last_updated", "stocked_since", "store_id"] {
                obj.remove(k);
            }
            out.insert(item["product_id"].as_str().unwrap().to_string(), item);
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// `items`: 10,000 on the embedded backend; fewer on DynamoDB Local (where seeding them one
/// barcode transaction at a time is most of the test's time).
async fn an_export_imported_into_an_empty_store_reproduces_the_inventory(
    api: &TestApi,
    items: usize,
) {
    use catalog_core::domain::{
        InventoryDetails, InventoryItem, Money, Movement, MovementFacts, MovementKind,
        MovementOrigin, Product, ProductContent, ProductId, ProductSource, ProductSummary,
        Quantity, StockChange, Timestamp,
    };
    use catalog_core::ports::{Expect, StockWrite};
    let (from, to) = ("export-from", "export-to");
    let from_store = StoreId::parse(from).unwrap();
    let now = Timestamp::now();
    // A store of 10,000 items: packaged goods with barcodes, loose goods without, names a
    // spreadsheet would take for formulas, quotes and commas, Devanagari, every field set on
    // some items and absent on others.
    let names = [
        "Tata Salt",
        "=Cola 2L",
        "Haldi \"Rajapuri\", 200g",
        "हल्दी पाउडर",
        "+91 Masala",
        "@home Dal",
    ];
    let mut products = Vec::with_capacity(items);
    let mut writes = Vec::with_capacity(items);
    let barcodes = catalog_tests::gtin_run(items);
    for i in 0..items {
        let content = ProductContent {
            name: format!("{} {i}", names[i % names.len()]),
            brand: (i % 3 != 0).then(|| format!("Brand {}", i % 17)),
            category: (i % 4 != 0).then(|| format!("Foodgrains > Dal {}", i % 5)),
            barcode: (i % 10 < 7).then(|| barcodes[i].clone()),
            ..Default::default()
        };
        let product = Product::create(ProductId::new(), content, ProductSource::Api, "seed", now);
        let details = InventoryDetails {
            quantity: Quantity::from_minor((i as i64 % 500) * 250).unwrap(),
            selling_price: (i % 2 == 0).then(|| Money::from_minor(1000 + i as i64).unwrap()),
            cost_price: (i % 5 == 0).then(|| Money::from_minor(900 + i as i64).unwrap()),
            reorder_level: (i % 3 == 0).then(|| Quantity::from_minor(5000).unwrap()),
            supplier: (i % 7 == 0).then(|| format!("Sharma Traders, Lane {i}")),
            location: (i % 11 == 0).then(|| "-Rack 2".to_string()),
            notes: (i % 13 == 0).then(|| format!("line one\nline \"two\" {i}")),
            custom_image_urls: vec![],
            photo: None,
        };
        let item = InventoryItem::new(from_store.clone(), product.product_id, details, 1, now, now)
            .with_product(Some(ProductSummary::of(&product)));
        let facts = MovementFacts {
            position_version: 1,
            change: StockChange::Set(item.details.quantity),
            before: None,
            after: item.details.quantity,
            reorder_level: item.details.reorder_level,
        };
        let movement = Movement::record(
            &from_store,
            &product.product_id,
            now,
            facts,
            &MovementOrigin::new(MovementKind::Put, "seed"),
            now,
        );
        writes.push(StockWrite {
            item,
            expect: Expect::Absent,
            movement: Some(movement),
        });
        products.push(product);
    }
    for chunk in products.chunks(500) {
        let done = api
            .app
            .catalog
            .products
            .insert_new(chunk, &catalog_tests::tester())
            .await
            .unwrap();
        assert!(done.results.iter().all(|r| matches!(r, Ok(true))));
    }
    for chunk in writes.chunks(500) {
        let done = api.app.catalog.inventory.put_many(chunk).await.unwrap();
        assert!(done.conflicts.is_empty());
    }

    // WHEN the store is exported
    let owner = api.token(Role::StoreOwner, &[from, to]);
    let r = api
        .get(&format!("/v1/stores/{from}/inventory/export"), &owner)
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str(), r.body["kind"].as_str()),
        (200, Some("completed"), Some("export")),
        "{r:?}"
    );
    assert_eq!(r.body["total_rows"], items as u64);
    let url = r.body["download_url"].as_str().unwrap();
    let file = reqwest::get(url).await.unwrap();
    assert!(file.status().is_success());
    let bytes = file.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "a byte-order mark for Excel"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.contains("'=Cola 2L 1,"), "formulas are neutralised");
    assert!(!text.contains(",=Cola"));
    // The same inventory gives the same file.
    let again = api
        .get(&format!("/v1/stores/{from}/inventory/export"), &owner)
        .await;
    let again = reqwest::get(again.body["download_url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again, bytes);
    // The job is the store's, with the file's link.
    let job = api
        .get(
            &format!("/v1/jobs/{}", r.body["job_id"].as_str().unwrap()),
            &owner,
        )
        .await;
    assert!(job.body["download_url"].is_string());

    // AND the file is imported into an empty store
    api.app.catalog.publish_match_index().await.unwrap();
    let r = api
        .post(
            &format!("/v1/stores/{to}/imports"),
            &owner,
            json!({"content_length": bytes.len(), "content_type": "text/csv"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = JobId::parse(r.body["job_id"].as_str().unwrap()).unwrap();
    let key = BlobKey::parse(r.body["upload_key"].as_str().unwrap()).unwrap();
    api.app
        .catalog
        .uploads
        .put(&key, bytes.clone(), "text/csv")
        .await
        .unwrap();
    let (outcome, _) = api
        .app
        .catalog
        .run_import(&StoreId::parse(to).unwrap(), &id, &RunOptions::default())
        .await
        .unwrap();
    let job = match outcome {
        RunOutcome::Finished(job) => job,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            job.counters.successful,
            job.counters.failed,
            job.counters.duplicates_found
        ),
        (items as u64, 0, 0),
        "{job:?}"
    );

    // THEN the new store has the same items, product for product
    let (a, b) = (inventory_of(api, from).await, inventory_of(api, to).await);
    assert_eq!(a.len(), items);
    let differ: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .take(3)
        .collect();
    assert!(
        differ.is_empty(),
        "{differ:?} vs {:?}",
        differ.iter().map(|(k, _)| b.get(*k)).collect::<Vec<_>>()
    );
    assert_eq!(a.len(), b.len());
}

// ---------- the malformed-file corpus, on both backends ----------

/// Imports `bytes` as job of a fresh upload (put straight into the uploads store, as the
/// presigned PUT would) and returns the final job.
async fn import_bytes(api: &TestApi, bytes: &[u8]) -> CsvJob {
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let r = api
        .post(
            &format!("/v1/stores/{STORE}/imports"),
            &owner,
            json!({"content_length": bytes.len().max(1)}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = JobId::parse(r.body["job_id"].as_str().unwrap()).unwrap();
    let key = BlobKey::parse(r.body["upload_key"].as_str().unwrap()).unwrap();
    api.app
        .catalog
        .uploads
        .put(&key, bytes.to_vec().into(), "text/csv")
        .await
        .unwrap();
    let store = StoreId::parse(STORE).unwrap();
    let (outcome, _) = api
        .app
        .catalog
        .run_import(&store, &id, &RunOptions::default())
        .await
        .unwrap();
    match outcome {
        RunOutcome::Finished(job) => job,
        other => panic!("{other:?}"),
    }
}

fn counts(j: &CsvJob) -> (u64, u64, u64, u64) {
    (
        j.counters.processed,
        j.counters.successful,
        j.counters.failed,
        j.counters.duplicates_found,
    )
}

async fn names_in_stock(api: &TestApi) -> Vec<String> {
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let mut names = Vec::new();
    for item in all_items(api, &owner).await {
        let p = api
            .get(
                &format!("/v1/products/{}", item["product_id"].as_str().unwrap()),
                &owner,
            )
            .await;
        names.push(p.body["name"].as_str().unwrap().to_string());
    }
    names.sort();
    names
}

/// OFF exports and many shop tools call the pack size "quantity": with a `qty` column of
/// counts beside it, every row imports with its count, and its size picks the product.
async fn a_quantity_column_of_pack_sizes_is_read_as_the_size(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let kilo = create(
        api,
        &owner,
        json!({"name": "Tata Salt 1 kg", "brand": "Tata"}),
    )
    .await;
    let half = create(
        api,
        &owner,
        json!({"name": "Tata Salt 500 g", "brand": "Tata"}),
    )
    .await;
    api.app.catalog.publish_match_index().await.unwrap();
    let job = import_bytes(
        api,
        b"name,brand,quantity,barcode,qty\nTata Salt,Tata,1 kg,,12\nTata Salt,Tata,500 g,,4 pcs\n",
    )
    .await;
    assert_eq!(counts(&job), (2, 2, 0, 0), "{job:?}");
    assert_eq!(stock(api, &owner, &kilo).await["quantity"], "12");
    assert_eq!(stock(api, &owner, &half).await["quantity"], "4");
    // The job says which header it read as what, and why.
    let r = api.get(&format!("/v1/jobs/{}", job.job_id), &owner).await;
    let columns = r.body["columns"].as_array().unwrap();
    for (column, header) in [("name", "name"), ("quantity", "qty"), ("size", "quantity")] {
        assert!(
            columns.contains(&json!({"column": column, "header": header})),
            "{column}: {columns:?}"
        );
    }
    let notes = r.body["column_notes"].as_array().unwrap();
    assert!(
        notes[0].as_str().unwrap().contains("'qty' holds counts"),
        "{notes:?}"
    );
}

async fn malformed_files_fail_clearly_and_lose_no_good_row(api: &TestApi) {
    api.app.catalog.publish_match_index().await.unwrap();
    // Whole-file failures: a clear code and reason, nothing imported.
    let mut binary = vec![0u8; 4096];
    for (i, b) in binary.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    for (bytes, code) in [
        (&b""[..], "empty_file"),
        (b"name,qty\n", "no_rows"),
        (b"\n\n   \n", "empty_file"),
        (&binary[..], "not_text"),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\x00\x00\x00\x00\x00",
            "not_text",
        ),
        (b"qty,price\n1,2\n", "no_name_column"),
    ] {
        let job = import_bytes(api, bytes).await;
        assert_eq!(
            (job.status, job.failure_code.as_deref()),
            (JobStatus::Failed, Some(code)),
            "{job:?}"
        );
        assert!(job.failure_reason.as_deref().is_some_and(|r| !r.is_empty()));
    }
    assert!(names_in_stock(api).await.is_empty());

    // Files with bad rows: every good row is imported, every bad one reported.
    let mut cp1252 = b"name;qty\n".to_vec();
    cp1252.extend_from_slice(b"Caf\xe9 Coffee Powder;3\n");
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "name\tqty\r\nतूर दाल\t4\r\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let huge = format!("name,qty\n{},1\nAfter Huge Row,2\n", "x".repeat(5_000));
    // (file, its (processed, successful, failed, duplicates) counters, names imported).
    type Case = (Vec<u8>, (u64, u64, u64, u64), Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (cp1252, (1, 1, 0, 0), vec!["Café Coffee Powder"]),
        (utf16, (1, 1, 0, 0), vec!["तूर दाल"]),
        (
            b"name,qty\nRagged Row,1,extra\nShort Row\nGood Row,2\n".to_vec(),
            (3, 2, 1, 0),
            vec!["Good Row", "Short Row"],
        ),
        (huge.into_bytes(), (2, 1, 1, 0), vec!["After Huge Row"]),
        (
            b"name,qty\n\"=1+2\",3\n@SUM(A1),x\n\"Multi\nLine Name\",4\n".to_vec(),
            (3, 2, 1, 0),
            vec!["=1+2", "Multi Line Name"],
        ),
        (
            b"name,qty\nSame Thing,1\nsame  thing,5\n".to_vec(),
            (2, 1, 0, 1),
            vec!["Same Thing"],
        ),
    ];
    for (bytes, expected, names) in cases {
        let before = names_in_stock(api).await;
        let job = import_bytes(api, &bytes).await;
        assert_eq!(
            (job.status, counts(&job)),
            (JobStatus::Completed, expected),
            "{job:?}"
        );
        assert_eq!(job.report_key.is_some(), expected.2 + expected.3 > 0);
        let mut now = names_in_stock(api).await;
        now.retain(|n| !before.contains(n));
        let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(now, want);
    }
    let r = api
        .post(
            &format!("/v1/stores/{STORE}/imports"),
            &api.token(Role::StoreOwner, &[STORE]),
            json!({"content_length": 200 * 1024 * 1024}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("file_too_large")),
        "{r:?}"
    );
    let r = api
        .post(
            &format!("/v1/stores/{STORE}/imports"),
            &api.token(Role::StoreOwner, &["other"]),
            json!({"content_length": 10}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
}

async fn imports_are_listed_for_their_store_only(api: &TestApi) {
    api.app.catalog.publish_match_index().await.unwrap();
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let job = import_bytes(api, b"name,qty\nTata Salt,1\n").await;
    let r = api
        .get(&format!("/v1/stores/{STORE}/imports"), &owner)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"][0]["job_id"], job.job_id.to_string());
    assert_eq!(r.body["items"][0]["progress"], 1.0);
    let other = api.token(Role::StoreOwner, &["other"]);
    let r = api
        .get(&format!("/v1/stores/{STORE}/imports"), &other)
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    let r = api.get(&format!("/v1/jobs/{}", job.job_id), &other).await;
    assert_eq!((r.status, r.code()), (404, "job_not_found"));
}

mod aws {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_quantity_column_of_pack_sizes_is_read_as_the_size() {
        super::a_quantity_column_of_pack_sizes_is_read_as_the_size(
            &catalog_tests::TestApi::aws().await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn upload_through_s3_drives_the_import() {
        super::upload_through_s3_drives_the_import().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_paused_import_resumes_and_a_rerun_changes_nothing() {
        super::a_paused_import_resumes_and_a_rerun_changes_nothing().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_job_whose_last_delivery_fails_is_failed_not_left_waiting() {
        super::a_job_whose_last_delivery_fails_is_failed_not_left_waiting().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn malformed_files_fail_clearly_and_lose_no_good_row() {
        super::malformed_files_fail_clearly_and_lose_no_good_row(
            &catalog_tests::TestApi::aws().await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn imports_are_listed_for_their_store_only() {
        super::imports_are_listed_for_their_store_only(&catalog_tests::TestApi::aws().await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_export_imported_into_an_empty_store_reproduces_the_inventory() {
        super::an_export_imported_into_an_empty_store_reproduces_the_inventory(
            &catalog_tests::TestApi::aws().await,
            2_000,
        )
        .await
    }
}

mod embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_export_imported_into_an_empty_store_reproduces_the_inventory() {
        super::an_export_imported_into_an_empty_store_reproduces_the_inventory(
            &catalog_tests::TestApi::embedded().await,
            10_000,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_quantity_column_of_pack_sizes_is_read_as_the_size() {
        super::a_quantity_column_of_pack_sizes_is_read_as_the_size(
            &catalog_tests::TestApi::embedded().await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn malformed_files_fail_clearly_and_lose_no_good_row() {
        super::malformed_files_fail_clearly_and_lose_no_good_row(
            &catalog_tests::TestApi::embedded().await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn imports_are_listed_for_their_store_only() {
        super::imports_are_listed_for_their_store_only(&catalog_tests::TestApi::embedded().await)
            .await
    }
}
