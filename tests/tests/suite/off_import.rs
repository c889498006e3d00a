//! Loading Open Food Facts exports (`catalog off-import`'s pipeline) on both backends: the demo
//! catalog's file (OFF data, `functions/catalog/demo`) and files written here in OFF's JSONL
//! and CSV layouts, with the records a real export holds that must be skipped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use catalog_core::auth::Role;
use catalog_core::domain::Gtin;
use catalog_core::domain::{CsvJob, JobKind, JobStatus, Timestamp};
use catalog_core::off::reader;
use catalog_core::ports::BlobKey;
use catalog_core::services::off_import::upload::OffUpload;
use catalog_core::services::off_import::{OFF_CHUNK, OffImportOptions, OffImportStats};
use catalog_core::triggers::{OFF_IMPORT, TriggerContext, s3_object_created};
use catalog_tests::{RUN_AGAIN, TestApi};
use serde_json::json;
use std::time::Instant;

/// The demo catalog: 864 OFF products made for India.
fn demo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/catalog/demo/off-india.jsonl.gz")
}

/// Loads `file` as the CLI does: its records a chunk at a time.
async fn load(api: &TestApi, file: &Path, opts: &OffImportOptions) -> OffImportStats {
    let records: Vec<_> = reader::open(file, Arc::new(AtomicU64::new(0)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut total = OffImportStats::default();
    for chunk in records.chunks(OFF_CHUNK) {
        let skipped = chunk.iter().filter(|r| r.is_err()).count() as u64;
        let good: Vec<_> = chunk.iter().filter_map(|r| r.clone().ok()).collect();
        let stats = api
            .app
            .catalog
            .load_off_chunk(&good, skipped, opts)
            .await
            .unwrap();
        total.add(&stats);
    }
    total
}

/// A barcode of the demo file.
const MINT_CHUTNEY: &str = "8901552020206";

async fn an_export_loads_once_and_a_rerun_changes_nothing(api: &TestApi) {
    // A scan got there first: its placeholder is filled, never doubled.
    let scanner = api.token(Role::Scanner, &["s1"]);
    let r = api
        .post(
            "/v1/scan",
            &scanner,
            json!({"store_id": "s1", "barcode": MINT_CHUTNEY, "scan_id": "first"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let placeholder = r.body["product"]["product_id"].clone();

    let all = OffImportOptions { country: None };
    let first = load(api, &demo(), &all).await;
    assert_eq!(
        (
            first.records,
            first.created,
            first.enriched,
            first.unchanged,
            first.invalid
        ),
        (864, 863, 1, 0, 0),
        "{first:?}"
    );
    let admin = api.token(Role::Admin, &[]);
    let p = api
        .get(
            &format!("/v1/products/{}", placeholder.as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(p.body["name"], "Mint chutney", "{p:?}");
    assert_eq!(p.body["source"], "scan");
    assert_eq!(p.body["enrichment"]["status"], "found");
    let holder = api
        .app
        .catalog
        .products
        .find_by_barcode(&Gtin::parse(MINT_CHUTNEY).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json!(holder.product_id), placeholder);

    // A product the export made: pending, attributed to OFF.
    let made = api
        .app
        .catalog
        .products
        .find_by_barcode(&Gtin::parse("8901001555082").unwrap())
        .await
        .unwrap()
        .unwrap();
    let made = serde_json::to_value(&made).unwrap();
    assert_eq!(made["name"], "Mango Chutney Sweet");
    assert_eq!(made["source"], "openfoodfacts");
    assert_eq!(made["verification_status"], "pending");
    assert_eq!(made["enrichment"]["attribution"]["licence"], "ODbL-1.0");

    // Again: nothing written.
    let second = load(api, &demo(), &all).await;
    assert_eq!(
        (second.created, second.enriched, second.unchanged),
        (0, 0, 864),
        "{second:?}"
    );
    let history = api
        .get(
            &format!(
                "/v1/products/{}/history",
                made["product_id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(
        history.body["items"].as_array().unwrap().len(),
        1,
        "{history:?}"
    );
}

async fn what_an_export_must_not_load_is_skipped(api: &TestApi) {
    let dir = tempfile::tempdir().unwrap();
    let india = json!(["en:india"]);
    let lines = [
        json!({"code": "8901063093287", "product_name": "Good Day Cashew", "brands": "Britannia", "countries_tags": india, "categories_tags": ["en:biscuits"], "nutriments": {"fat_100g": 20}}).to_string(),
        // Sold elsewhere only.
        json!({"code": "3017620422003", "product_name": "Nutella", "countries_tags": ["en:france"]}).to_string(),
        // A barcode that is not a GTIN (check digit), none at all, no name.
        json!({"code": "8901063093288", "product_name": "Bad digit", "countries_tags": india}).to_string(),
        json!({"product_name": "No code", "countries_tags": india}).to_string(),
        json!({"code": "8901030154409", "product_name": "   ", "countries_tags": india}).to_string(),
        // Not a record; then the first product again.
        "{\"code\": \"89010".to_string(),
        json!({"code": "8901063093287", "product_name": "Good Day (again)", "countries_tags": india}).to_string(),
    ];
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let stats = load(api, &file, &OffImportOptions::default()).await;
    assert_eq!(
        (
            stats.records,
            stats.created,
            stats.other_country,
            stats.invalid,
            stats.repeated
        ),
        (7, 1, 1, 4, 1),
        "{stats:?}"
    );
    let p = api
        .app
        .catalog
        .products
        .find_by_barcode(&Gtin::parse("8901063093287").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.name, "Good Day Cashew");
    assert_eq!(
        p.category.as_deref(),
        Some("Snacks & Branded Foods > Biscuits & Cookies")
    );

    // The CSV export (tab-separated, gzipped), the same rules.
    let csv = "code\tproduct_name\tbrands\tquantity\tcountries_tags\n\
               8901030154409\tDarjeeling tea\tBrooke Bond\t250 g\ten:india,en:united-kingdom\n\
               8906036672056\tMilk Peda\t\t\ten:united-states\n";
    let gz = dir.path().join("export.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, csv.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let stats = load(api, &gz, &OffImportOptions::default()).await;
    assert_eq!(
        (stats.records, stats.created, stats.other_country),
        (2, 1, 1),
        "{stats:?}"
    );
    let tea = api
        .app
        .catalog
        .products
        .find_by_barcode(&Gtin::parse("8901030154409").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tea.attributes["quantity"], "250 g");
}

/// An SQS batch of one message with `body`, as the function's queue delivers it.
fn queued(body: &serde_json::Value) -> serde_json::Value {
    json!({ "Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": body.to_string(),
        "attributes": { "ApproximateReceiveCount": "1" }, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:off-import",
        "awsRegion": "us-east-1"
    }]})
}

/// Puts `bytes` at `key` in the uploads bucket; the S3 notification it makes.
async fn upload_export(api: &TestApi, key: &str, bytes: Vec<u8>) -> serde_json::Value {
    let size = bytes.len() as u64;
    api.app
        .catalog
        .uploads
        .put(
            &BlobKey::parse(key).unwrap(),
            bytes.into(),
            "application/gzip",
        )
        .await
        .unwrap();
    s3_object_created("uploads", key, size)
}

fn gzipped(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// The upload the notification `event` (from [`upload_export`]) names.
fn upload_of(event: &serde_json::Value) -> OffUpload {
    let object = &event["Records"][0]["s3"]["object"];
    OffUpload {
        key: object["key"].as_str().unwrap().to_string(),
        etag: object["eTag"].as_str().map(str::to_string),
        size: object["size"].as_u64().unwrap(),
    }
}

async fn job_of(api: &TestApi, upload: &OffUpload) -> CsvJob {
    api.app
        .catalog
        .off_upload_job(upload)
        .await
        .unwrap()
        .expect("the upload's job")
}

async fn run(
    api: &TestApi,
    event: serde_json::Value,
    deadline: Option<Instant>,
) -> serde_json::Value {
    OFF_IMPORT
        .call(
            api.app.clone(),
            event,
            TriggerContext {
                deadline,
                lease: None,
            },
        )
        .await
        .unwrap()
}

async fn an_export_uploaded_under_off_loads_over_runs_once(api: &TestApi) {
    // 2,500 records: India's every other one (the folder says India), the rest Nepal's.
    let barcodes = catalog_tests::gtin_run(2_500);
    let export: String = barcodes
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let country = if i % 2 == 0 { "en:india" } else { "en:nepal" };
            let record = json!({"code": g.as_str(), "product_name": format!("Export product {i}"), "brands": "Acme", "countries_tags": [country], "nutriments": {"energy_100g": i}});
            format!("{record}\n")
        })
        .collect();
    let key = format!("off/india/{}.jsonl.gz", catalog_tests::unique("export"));
    let created = upload_export(api, &key, gzipped(&export)).await;
    let upload = upload_of(&created);

    // WHEN the run is at its deadline THEN it loads a chunk, keeps its place in the job,
    // releases it and hands over.
    let first = run(api, created.clone(), Some(Instant::now())).await;
    assert_eq!(first["runs"][0]["outcome"], "handed over", "{first}");
    let job = job_of(api, &upload).await;
    assert_eq!(
        (job.store_id.as_str(), job.kind, job.status),
        ("_catalog", JobKind::OffImport, JobStatus::Processing)
    );
    let stats = job.off_stats.clone().unwrap();
    assert_eq!(
        (stats.records, stats.created, job.counters.processed),
        (1000, 500, 1000)
    );
    assert!(
        job.lease_until.is_none(),
        "a run that hands over releases the job"
    );
    assert!(job.progress() > 0.0 && job.progress() < 1.0, "{job:?}");
    let handed = api.events.of(RUN_AGAIN);
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0]["resume_off_import"]["key"], key);

    // A message for a load another run holds is let go (that run carries it on).
    let mut held = job.clone();
    held.lease_until = Some(Timestamp::now().plus(time::Duration::hours(1)));
    held.version += 1;
    api.app.catalog.jobs.update(&held).await.unwrap();
    let busy = run(api, created.clone(), None).await;
    assert_eq!(
        busy["runs"][0]["outcome"], "another run holds the load",
        "{busy}"
    );
    assert_eq!(job_of(api, &upload).await, held);
    held.lease_until = None;
    held.version += 1;
    api.app.catalog.jobs.update(&held).await.unwrap();

    // A load that gave up (its last delivery failed) is resumed by its message redriven.
    api.app
        .catalog
        .abandon_off_upload(&upload, "test: storage down")
        .await
        .unwrap();
    let gave_up = job_of(api, &upload).await;
    assert_eq!(
        (gave_up.status, gave_up.failure_code.as_deref()),
        (JobStatus::Failed, Some("unavailable"))
    );
    let second = run(api, queued(&handed[0]), Some(Instant::now())).await;
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");
    let job = job_of(api, &upload).await;
    assert_eq!(
        (job.status, job.off_stats.unwrap().records),
        (JobStatus::Processing, 2000)
    );
    let handed = api.events.of(RUN_AGAIN);
    assert_eq!(handed.len(), 2);
    run(api, queued(&handed[1]), None).await;
    let done = job_of(api, &upload).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let stats = done.off_stats.clone().unwrap();
    assert_eq!(
        (
            stats.records,
            stats.created,
            stats.other_country,
            done.counters.successful
        ),
        (2500, 1250, 1250, 1250),
        "{done:?}"
    );
    assert_eq!(done.progress(), 1.0);
    let products = api
        .app
        .catalog
        .products
        .find_by_barcodes(&barcodes[..100])
        .await
        .unwrap();
    assert_eq!(products.len(), 50, "India's only");
    let announced = api.events.of("job.completed");
    assert!(
        announced
            .iter()
            .any(|e| e["job_id"] == done.job_id.to_string() && e["store_id"] == "_catalog"),
        "{announced:?}"
    );
    // In AWS its rows are a metric, counted once: when it ended for good, not when it gave up.
    if api.app.backend == "aws" {
        let rows = api.metric_records(&[("Kind", "off_import"), ("Outcome", "successful")]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["JobRows"], 1250.0);
    }
    // Admins see it as a job.
    let r = api
        .get(&format!("/v1/jobs/{}", done.job_id), &api.admin())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (
            r.body["kind"].as_str(),
            r.body["off_stats"]["created"].as_u64()
        ),
        (Some("off_import"), Some(1250))
    );

    // No store may take the catalog's id.
    let phone = "+919900000001";
    let body = json!({"store_id": "_catalog", "name": "Not the catalog", "region": "IN-MH", "owner": {"phone": phone, "display_name": "Someone"}});
    let r = api.post("/v1/stores", &api.admin(), body).await;
    assert_eq!((r.status, r.code()), (409, "store_exists"), "{r:?}");

    // GIVEN the notification again (SQS delivers at least once) or a stale hand-over THEN
    // nothing is loaded again.
    let again = run(api, created.clone(), None).await;
    assert_eq!(
        again["runs"][0]["outcome"], "this upload's load has ended",
        "{again}"
    );
    run(api, queued(&handed[1]), None).await;
    assert_eq!(job_of(api, &upload).await, done);

    // GIVEN the key uploaded again (another file) THEN its load is a job of its own, and
    // writes only what is new.
    let more = export.clone() + &json!({"code": "8901063093287", "product_name": "Good Day", "countries_tags": ["en:india"]}).to_string();
    let replaced = upload_export(api, &key, gzipped(&more)).await;
    let reloaded = run(api, replaced.clone(), None).await;
    assert_eq!(reloaded["runs"][0]["outcome"], "completed", "{reloaded}");
    let st = job_of(api, &upload_of(&replaced)).await.off_stats.unwrap();
    assert_eq!(
        (st.records, st.created, st.unchanged),
        (2501, 1, 1250),
        "{st:?}"
    );
}

/// Runs the load `event` notifies of, which must fail; its job.
async fn failed_load(api: &TestApi, event: serde_json::Value) -> CsvJob {
    let out = run(api, event.clone(), None).await;
    assert_eq!(out["runs"][0]["outcome"], "failed", "{out}");
    job_of(api, &upload_of(&event)).await
}

async fn an_upload_that_is_not_an_export_fails_or_is_let_go(api: &TestApi) {
    // Not gzip though named so: the load fails, saying why, and is not tried again.
    let key = format!("off/{}.jsonl.gz", catalog_tests::unique("bad"));
    let event = upload_export(api, &key, b"{\"code\": \"1\"}\n".to_vec()).await;
    let job = failed_load(api, event.clone()).await;
    assert_eq!(
        job.failure_code.as_deref(),
        Some("not_an_export"),
        "{job:?}"
    );
    let why = job.failure_reason.as_deref().unwrap_or("");
    assert!(why.contains("reading the export"), "{job:?}");
    let again = run(api, event, None).await;
    assert_eq!(again["runs"][0]["outcome"], "this upload's load has ended");

    // Empty: failed too.
    let key = format!("off/{}.jsonl", catalog_tests::unique("empty"));
    let job = failed_load(api, upload_export(api, &key, b"\n\n".to_vec()).await).await;
    assert_eq!(job.failure_code.as_deref(), Some("no_records"));

    // A version other than the one read (S3 names it; a local store does not): the job of
    // the version named fails, as the one read is another's.
    if api.app.backend == "aws" {
        let key = format!("off/{}.jsonl", catalog_tests::unique("versions"));
        let mut event = upload_export(api, &key, b"{}\n".to_vec()).await;
        event["Records"][0]["s3"]["object"]["eTag"] = json!("0123456789abcdef0123456789abcdef");
        let job = failed_load(api, event).await;
        assert_eq!(
            job.failure_code.as_deref(),
            Some("upload_replaced"),
            "{job:?}"
        );
    }

    // Another kind of file, or one too deep: let go.
    for key in ["off/notes.txt", "off/a/b/x.jsonl"] {
        let out = run(api, upload_export(api, key, b"x".to_vec()).await, None).await;
        assert_eq!(
            out["runs"][0]["outcome"], "not an export under off/",
            "{out}"
        );
    }
}

api_cases!(
    an_export_loads_once_and_a_rerun_changes_nothing,
    what_an_export_must_not_load_is_skipped,
    an_export_uploaded_under_off_loads_over_runs_once,
    an_upload_that_is_not_an_export_fails_or_is_let_go,
);
