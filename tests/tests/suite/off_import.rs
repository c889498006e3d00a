//! Loading Open Food Facts exports (`catalog off-import`'s pipeline) on both backends: the demo
//! catalog's file (OFF data, `functions/catalog/demo`) and files written here in OFF's JSONL
//! and CSV layouts, with the records a real export holds that must be skipped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use catalog_core::auth::Role;
use catalog_core::domain::Gtin;
use catalog_core::off::reader;
use catalog_core::services::off_import::{OFF_CHUNK, OffImportOptions, OffImportStats};
use catalog_tests::TestApi;
use serde_json::json;

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
        let good = chunk.iter().filter_map(|r| r.clone().ok()).collect();
        let stats = api
            .app
            .catalog
            .load_off_chunk(good, skipped, opts)
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

api_cases!(
    an_export_loads_once_and_a_rerun_changes_nothing,
    what_an_export_must_not_load_is_skipped,
);
