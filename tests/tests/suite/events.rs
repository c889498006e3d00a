//! Every function's sample event (`events/<function>.json`, what `cargo lambda invoke
//! --data-file` sends) goes through that function's handler, on an embedded app seeded with
//! the product, inventory item and job the events name. The events' tokens are signed with the
//! local development secret and expire in 2100.

use std::sync::Arc;

use catalog_core::adapters::sqlite::SqliteStore;
use catalog_core::api::routes;
use catalog_core::app::App;
use catalog_core::auth::Principal;
use catalog_core::domain::{
    ApiKey, Device, DeviceId, EventType, KeyId, KeyScope, Phone, RegionCode, User, UserId, Webhook,
    WebhookId,
};
use catalog_core::domain::{
    CsvJob, Gtin, InventoryDetails, JobId, MovementKind, MovementOrigin, Product, ProductContent,
    ProductId, ProductSource, ProductSummary, Quantity, StoreId, Timestamp,
};
use catalog_core::lambda::{FunctionService, Starting};
use catalog_core::ports::{AccountStore, Expect, KeyStore, SetItem, WebhookStore};
use catalog_core::services::accounts::{Invitee, NewStore};
use catalog_tests::TEST_SECRET;
use http_body_util::BodyExt;
use tower::ServiceExt;

const PRODUCT: &str = "0190f1a2-7c3e-7d4a-9b1c-2f3e4d5c6b7a";
const MERGE_TARGET: &str = "0190f1a2-7c3e-7d4a-9b1c-2f3e4d5c6b7b";
const BARCODE: &str = "8901058000290";
const JOB: &str = "0190f1a2-8000-7000-8000-000000000001";
/// The device the store-devices-revoke event revokes.
const DEVICE: &str = "0190f1a2-a000-7000-8000-000000000001";
/// The key the store-keys-revoke event revokes.
const KEY: &str = "0190f1a2-b000-7000-8000-000000000001";
/// The webhook the store-webhooks-delete and store-webhook-deliveries events name (the
/// webhook-deliver event's job.completed is delivered to it, and refused: nothing listens).
const WEBHOOK: &str = "0190f1a2-c000-7000-8000-000000000001";
/// The signed-in user the auth-sign-out-everywhere event's token names.
const USER: &str = "0190f1a2-9000-7000-8000-000000000001";

async fn seeded_app(dir: &std::path::Path) -> Arc<App> {
    let (app, _) = App::embedded(dir, "http://127.0.0.1:0", TEST_SECRET).unwrap();
    let c = &app.catalog;
    let content = ProductContent {
        name: "Tata Salt 1kg".into(),
        barcode: Some(Gtin::parse(BARCODE).unwrap()),
        ..Default::default()
    };
    let product = Product::create(
        ProductId::parse(PRODUCT).unwrap(),
        content,
        ProductSource::Api,
        "seed",
        Timestamp::now(),
    );
    c.products
        .insert(&product, &catalog_tests::created_by_test(&product))
        .await
        .unwrap();
    // The product the products-merge event merges into.
    let target = Product::create(
        ProductId::parse(MERGE_TARGET).unwrap(),
        ProductContent {
            name: "Tata Salt Lite 1 kg".into(),
            ..Default::default()
        },
        ProductSource::Api,
        "seed",
        Timestamp::now(),
    );
    c.products
        .insert(&target, &catalog_tests::created_by_test(&target))
        .await
        .unwrap();
    let store = StoreId::parse("store-1").unwrap();
    let details = InventoryDetails {
        quantity: Quantity::parse("10").unwrap(),
        ..Default::default()
    };
    c.inventory
        .put(
            &store,
            &product.product_id,
            &SetItem {
                details,
                expect: Expect::Absent,
                origin: MovementOrigin::new(MovementKind::Put, "seed"),
                product: Some(ProductSummary::of(&product)),
                at: Timestamp::now(),
            },
        )
        .await
        .unwrap();
    // store-1 as a record, for the store routes; and the user a signed-in token names.
    app.accounts
        .create_store(
            &Principal::operator("seed"),
            NewStore {
                store_id: store.clone(),
                name: "Store One".into(),
                region: RegionCode::parse("IN-MH").unwrap(),
                owner: Invitee {
                    phone: Phone::parse("+919800000001").unwrap(),
                    display_name: "Owner One".into(),
                },
            },
        )
        .await
        .unwrap();
    let accounts = SqliteStore::open(&dir.join("catalog.sqlite3")).unwrap();
    accounts
        .insert_user(&User {
            user_id: UserId::parse(USER).unwrap(),
            phone: Phone::parse("+919800000002").unwrap(),
            display_name: "Signed In".into(),
            global_role: None,
            disabled: false,
            sessions_valid_after: None,
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    // The device the store-devices-revoke event names.
    accounts
        .insert_device(&Device {
            device_id: DeviceId::parse(DEVICE).unwrap(),
            store_id: store.clone(),
            name: "Shelf phone".into(),
            added_by: "seed".into(),
            created_at: Timestamp::now(),
            pairing_mac: None,
            pairing_expires_at: Timestamp::now(),
            paired_at: Some(Timestamp::now()),
            session_id: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    // The key the store-keys-revoke event names.
    accounts
        .insert_key(&ApiKey {
            key_id: KeyId::parse(KEY).unwrap(),
            store_id: store.clone(),
            name: "Counter POS".into(),
            scopes: [KeyScope::InventoryRead].into(),
            requests_per_minute: 600,
            secret_mac: "not a key's".into(),
            created_by: "seed".into(),
            created_at: Timestamp::now(),
            last_used_at: None,
            revoked_at: None,
            bucket_full_at_ms: None,
        })
        .await
        .unwrap();
    accounts
        .insert_webhook(&Webhook {
            webhook_id: WebhookId::parse(WEBHOOK).unwrap(),
            store_id: store.clone(),
            url: "http://127.0.0.1:9/hook".into(),
            events: [EventType::JobCompleted].into(),
            description: "Counter POS".into(),
            created_by: "seed".into(),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    let job = CsvJob::new(JobId::parse(JOB).unwrap(), store, "seed", Timestamp::now());
    c.jobs.insert(&job).await.unwrap();
    // The upload the csv-import event announces.
    let csv = format!("name,qty,barcode\nTata Salt 1kg,12,{BARCODE}\nAmul Butter 100 g,4,\n");
    c.uploads
        .put(
            &catalog_core::ports::BlobKey::parse(&job.upload_key).unwrap(),
            csv.into(),
            "text/csv",
        )
        .await
        .unwrap();
    app
}

/// What each sample event should get back.
fn expected_status(function: &str) -> u16 {
    match function {
        "products-create"
        | "stores-create"
        | "store-devices-add"
        | "store-keys-create"
        | "store-webhooks-create" => 201,
        "inventory-delete"
        | "auth-sign-out"
        | "auth-sign-out-everywhere"
        | "store-devices-revoke"
        | "store-keys-revoke"
        | "store-webhooks-delete" => 204,
        "auth-code" | "products-lookup" => 202,
        // A made-up code for the number: what a sign-in sends, answered `code_invalid`.
        "auth-token" => 401,
        "imports-create" | "products-image-upload" | "inventory-image-upload" => 201,
        _ => 200,
    }
}

#[tokio::test]
async fn every_function_has_an_event_its_handler_accepts() {
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    for route in routes::ALL {
        let path = events.join(format!("{}.json", route.function));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (method, template) = route.method_path();
        assert_eq!(
            raw["routeKey"],
            format!("{method} {template}"),
            "{}",
            path.display()
        );
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));

        let dir = tempfile::tempdir().unwrap();
        let app = seeded_app(dir.path()).await;
        // What the function's `main` runs: its own route, warmed, with the edge's layers,
        // made when the app is ready.
        route.warm_up(&app).await;
        let service = FunctionService::new(route, Starting::ready(app), Default::default());
        let response = service.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        // API Gateway's own request id, so the access log and the function's log share it.
        assert_eq!(
            response.headers()["x-request-id"],
            raw["requestContext"]["requestId"].as_str().unwrap(),
            "{}",
            route.function
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).to_string();
        assert_eq!(
            status,
            expected_status(route.function),
            "{}: {body}",
            route.function
        );
    }
}

#[tokio::test]
async fn every_trigger_has_an_event_its_handler_accepts() {
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    for trigger in catalog_core::triggers::ALL {
        let path = events.join(format!("{}.json", trigger.function));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = seeded_app(dir.path()).await;
        let summary = trigger
            .call(app.clone(), event, Default::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", trigger.function));
        assert!(summary.is_object(), "{}: {summary}", trigger.function);
        if trigger.function == "csv-import" {
            // The event names the seeded job's upload: it is imported, and nothing failed.
            assert_eq!(
                summary["batchItemFailures"],
                serde_json::json!([]),
                "{summary}"
            );
            let job = app
                .catalog
                .jobs
                .get(&JobId::parse(JOB).unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (job.status.as_str(), job.counters.successful),
                ("completed", 2),
                "{job:?}"
            );
        }
    }
}

#[test]
fn there_is_no_event_without_a_function() {
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    for entry in std::fs::read_dir(events).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let function = name.trim_end_matches(".json");
        assert!(
            routes::by_function(function).is_some()
                || catalog_core::triggers::by_function(function).is_some(),
            "events/{name} names no function"
        );
    }
}
