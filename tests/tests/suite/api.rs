//! The HTTP API end to end: the local server's router (the same handlers the Lambda functions
//! run) over each backend. `embedded::...` runs on SQLite; `aws::...` on DynamoDB Local and
//! ministack.

use catalog_core::auth::{Role, TokenKeys};
use catalog_core::domain::{CsvJob, JobId, StoreId, Timestamp};
use catalog_tests::{TEST_SECRET, TestApi, random_gtin};
use serde_json::json;

async fn health_is_public(api: &TestApi) {
    let r = api.send("GET", "/v1/health", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
}

async fn bad_tokens_are_401(api: &TestApi) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let keys = TokenKeys::new(TEST_SECRET.as_bytes()).unwrap();
    let expired = keys.mint_at("u", Role::Admin, &[], now - 7200, now - 3600);
    let foreign = TokenKeys::new(b"some-other-secret-some-other-secret")
        .unwrap()
        .mint("u", Role::Admin, &[], time::Duration::days(1));
    let good = api.admin();
    let payload = good.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "token_missing"),
        (Some("Basic abc".into()), "token_not_bearer"),
        (Some(format!("Bearer {expired}")), "token_expired"),
        (Some(format!("Bearer {foreign}")), "token_bad_signature"),
        (Some(format!("Bearer {unsigned}")), "token_malformed"),
        (Some("Bearer not.a.jwt".into()), "token_malformed"),
    ];
    for (auth, code) in cases {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let r = api.send("GET", "/v1/products", None, None, &headers).await;
        assert_eq!((r.status, r.code()), (401, code), "{r:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
}

async fn products_are_created_read_and_reviewed(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let scanner = api.token(Role::Scanner, &["s1"]);
    let admin = api.admin();
    let barcode = random_gtin().to_string();
    let body = json!({
        "name": "Haldiram Aloo Bhujia", "brand": "Haldiram's", "category": "Snacks > Namkeen",
        "barcode": barcode, "regional_names": {"in-mh": ["आलू भुजिया"]}, "attributes": {"weight": "200 g"}
    });
    let r = api.post("/v1/products", &owner, body.clone()).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["verification_status"], "pending");
    assert_eq!(r.body["regional_names"]["IN-MH"][0], "आलू भुजिया");
    let id = r.body["product_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/products/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));

    let r = api.get(&format!("/v1/products/{id}"), &scanner).await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (200, Some("Haldiram Aloo Bhujia"))
    );
    let r = api
        .get(&format!("/v1/products?barcode={barcode}"), &scanner)
        .await;
    assert_eq!(r.body["items"][0]["product_id"], id.as_str());
    let r = api
        .get(&format!("/v1/products?barcode={}", random_gtin()), &scanner)
        .await;
    assert_eq!(
        (r.status, r.body["items"].as_array().unwrap().len()),
        (200, 0)
    );

    let r = api
        .post(
            "/v1/products",
            &owner,
            json!({"name": "Copy", "barcode": barcode}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "barcode_taken"));
    assert_eq!(r.body["existing_product_id"], id.as_str());
    assert_eq!(
        api.post("/v1/products", &scanner, json!({"name": "X"}))
            .await
            .code(),
        "forbidden_role"
    );

    // Review: admin only, with If-Match.
    let path = format!("/v1/products/{id}");
    let approve = json!({"verification_status": "approved"});
    assert_eq!(
        api.send(
            "PATCH",
            &path,
            Some(&owner),
            Some(approve.clone()),
            &[("if-match", "\"1\"")]
        )
        .await
        .status,
        403
    );
    assert_eq!(
        api.send("PATCH", &path, Some(&admin), Some(approve.clone()), &[])
            .await
            .status,
        428
    );
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(approve.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["verification_status"].as_str()),
        (200, Some("approved")),
        "{r:?}"
    );
    assert_eq!(r.header("etag"), Some("\"2\""));
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"brand": null})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["current_version"].as_u64()),
        (412, "version_mismatch", Some(2))
    );
    let merge = json!({"brand": null});
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(merge),
            &[
                ("if-match", "2"),
                ("content-type", "application/merge-patch+json"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.body["brand"].clone()),
        (200, serde_json::Value::Null),
        "{r:?}"
    );

    let r = api
        .get("/v1/products?status=approved&limit=100", &owner)
        .await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["product_id"] == id.as_str())
    );
    let r = api.get("/v1/products?q=aloo%20BHUJIA", &owner).await;
    assert_eq!(r.body["items"][0]["product_id"], id.as_str(), "{r:?}");
}

async fn a_retried_create_makes_one_product(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let body = json!({"name": "Parle-G Biscuits"});
    let first = api
        .send(
            "POST",
            "/v1/products",
            Some(&owner),
            Some(body.clone()),
            &[("idempotency-key", "create-1")],
        )
        .await;
    let again = api
        .send(
            "POST",
            "/v1/products",
            Some(&owner),
            Some(body),
            &[("idempotency-key", "create-1")],
        )
        .await;
    assert_eq!((first.status, again.status), (201, 200));
    assert_eq!(first.body["product_id"], again.body["product_id"]);
    let other = api
        .send(
            "POST",
            "/v1/products",
            Some(&owner),
            Some(json!({"name": "Other"})),
            &[("idempotency-key", "create-1")],
        )
        .await;
    assert_eq!(
        (other.status, other.code()),
        (422, "idempotency_key_reused")
    );
}

async fn bad_input_gets_a_precise_problem(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let t = Some(owner.as_str());
    let r = api
        .send(
            "POST",
            "/v1/products",
            t,
            None,
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let big = json!({"name": "x".repeat(70_000)});
    assert_eq!(
        api.post("/v1/products", &owner, big).await.code(),
        "body_too_large"
    );
    let r = api
        .send(
            "POST",
            "/v1/products",
            t,
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    let r = api
        .send("POST", "/v1/products", t, Some(json!("just a string")), &[])
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let mut req = api
        .http
        .post(format!("{}/v1/products", api.base))
        .header("authorization", format!("Bearer {owner}"));
    req = req
        .header("content-type", "application/json")
        .body("{\"name\": \"a\",");
    assert_eq!(req.send().await.unwrap().status().as_u16(), 400);

    let r = api
        .post(
            "/v1/products",
            &owner,
            json!({"name": "ok", "colour": "red"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("colour"))
    );
    let r = api
        .post(
            "/v1/products",
            &owner,
            json!({"name": " ", "barcode": "8901058000291", "attributes": {"Bad Key": "x"}}),
        )
        .await;
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "barcode", "attributes.Bad Key"], "{r:?}");
    assert_eq!(r.body["errors"][1]["code"], "barcode_check_digit");
    let r = api.post("/v1/products", &owner, json!({"name": 7})).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("name"))
    );

    for (path, field) in [
        ("/v1/products?colour=red", "query.colour"),
        ("/v1/products?limit=0", "query.limit"),
        ("/v1/products?limit=abc", "query.limit"),
        ("/v1/products?status=great", "query.status"),
        ("/v1/products?barcode=123", "query.barcode"),
        ("/v1/products?barcode=8901058000290&q=x", "query.barcode"),
        ("/v1/products/not-a-uuid", "path.product_id"),
        ("/v1/stores/bad%20store/inventory", "path.store_id"),
        ("/v1/stores/s1/inventory?low_stock=maybe", "query.low_stock"),
    ] {
        let r = api.get(path, &owner).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{path}: {r:?}"
        );
    }
    let r = api.get("/v1/products?cursor=forged", &owner).await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));
    let r = api
        .send("DELETE", "/v1/products", Some(&owner), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
}

async fn a_store_token_cannot_reach_another_store(api: &TestApi) {
    let a = api.token(Role::StoreOwner, &["store-a"]);
    let admin = api.admin();
    let pid = api
        .create_product("Amul Butter 100g", Some(&random_gtin().to_string()))
        .await;
    for i in 0..3 {
        let other = api.create_product(&format!("B item {i}"), None).await;
        let r = api
            .put(
                &format!("/v1/stores/store-b/inventory/{other}"),
                &admin,
                json!({"quantity": "5"}),
            )
            .await;
        assert_eq!(r.status, 201);
        let r = api
            .put(
                &format!("/v1/stores/store-a/inventory/{other}"),
                &admin,
                json!({"quantity": "1"}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    assert_eq!(
        api.put(
            &format!("/v1/stores/store-b/inventory/{pid}"),
            &admin,
            json!({"quantity": "5"})
        )
        .await
        .status,
        201
    );

    let item_b = format!("/v1/stores/store-b/inventory/{pid}");
    let cases = [
        api.get("/v1/stores/store-b/inventory", &a).await,
        api.get(&item_b, &a).await,
        api.put(&item_b, &a, json!({"quantity": "0"})).await,
        api.send("DELETE", &item_b, Some(&a), None, &[]).await,
        api.post(
            &format!("{item_b}/adjustments"),
            &a,
            json!({"delta": "-5", "reason": "sale"}),
        )
        .await,
        api.post(
            "/v1/scan",
            &api.token(Role::Scanner, &["store-a"]),
            json!({"store_id": "store-b", "barcode": random_gtin().to_string()}),
        )
        .await,
    ];
    for r in cases {
        assert_eq!((r.status, r.code()), (403, "forbidden_store"), "{r:?}");
    }
    // Store B is untouched.
    assert_eq!(api.get(&item_b, &admin).await.body["quantity"], "5");

    // Paging: a cursor from store A's listing does not open store B's.
    let r = api.get("/v1/stores/store-a/inventory?limit=1", &a).await;
    let cursor = r.body["next_cursor"]
        .as_str()
        .expect("more than one item")
        .to_string();
    let r = api
        .get(
            &format!("/v1/stores/store-b/inventory?limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));
    let r = api
        .get(
            &format!("/v1/stores/store-a/inventory?limit=1&low_stock=true&cursor={cursor}"),
            &a,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_cursor"),
        "a cursor is bound to its filters too"
    );
    let mut seen = 0;
    let mut next = Some(cursor);
    seen += 1;
    while let Some(c) = next {
        let r = api
            .get(
                &format!("/v1/stores/store-a/inventory?limit=1&cursor={c}"),
                &a,
            )
            .await;
        assert_eq!(r.status, 200);
        for item in r.body["items"].as_array().unwrap() {
            assert_eq!(item["store_id"], "store-a");
            seen += 1;
        }
        next = r.body["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 3);
}

async fn inventory_is_set_adjusted_and_removed(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let pid = api.create_product("Tata Salt 1kg", None).await;
    let path = format!("/v1/stores/s1/inventory/{pid}");
    let r = api.put(&path, &owner, json!({"quantity": 10, "selling_price": 28, "cost_price": "24.50", "reorder_level": "4", "location": "Rack 2"})).await;
    assert_eq!((r.status, r.header("etag")), (201, Some("\"1\"")), "{r:?}");
    assert_eq!(
        (
            r.body["selling_price"].as_str(),
            r.body["cost_price"].as_str()
        ),
        (Some("28.00"), Some("24.50"))
    );
    let r = api
        .send(
            "PUT",
            &path,
            Some(&owner),
            Some(json!({"quantity": "3", "reorder_level": "4"})),
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "already_exists"));
    let r = api
        .send(
            "PUT",
            &path,
            Some(&owner),
            Some(json!({"quantity": "3", "reorder_level": "4"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["low_stock"].as_bool(),
            r.body["location"].clone()
        ),
        (200, Some(true), serde_json::Value::Null)
    );
    let r = api
        .send(
            "PUT",
            &path,
            Some(&owner),
            Some(json!({"quantity": "3"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["current_version"].as_u64()),
        (412, Some(2))
    );
    let r = api
        .get("/v1/stores/s1/inventory?low_stock=true", &owner)
        .await;
    assert_eq!(r.body["items"][0]["product_id"], pid.as_str());

    let adjust = format!("{path}/adjustments");
    let r = api
        .post(&adjust, &owner, json!({"delta": "-5", "reason": "sale"}))
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["available"].as_str()),
        (409, "insufficient_stock", Some("3"))
    );
    let r = api
        .post(&adjust, &owner, json!({"delta": "0", "reason": "sale"}))
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .post(&adjust, &owner, json!({"delta": "-1", "reason": "stolen"}))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "reason");
    let keyed = || {
        api.send(
            "POST",
            &adjust,
            Some(&owner),
            Some(json!({"delta": "2.5", "reason": "restock"})),
            &[("idempotency-key", "restock-7")],
        )
    };
    let first = keyed().await;
    let again = keyed().await;
    assert_eq!(
        (
            first.status,
            first.body["replayed"].as_bool(),
            first.body["item"]["quantity"].as_str()
        ),
        (200, Some(false), Some("5.5"))
    );
    assert_eq!(
        (
            again.status,
            again.body["replayed"].as_bool(),
            again.body["item"]["quantity"].as_str()
        ),
        (200, Some(true), Some("5.5"))
    );

    let unknown = format!(
        "/v1/stores/s1/inventory/{}",
        catalog_core::domain::ProductId::new()
    );
    assert_eq!(
        api.put(&unknown, &owner, json!({"quantity": "1"}))
            .await
            .code(),
        "product_not_found"
    );
    assert_eq!(
        api.get(&unknown, &owner).await.code(),
        "inventory_item_not_found"
    );
    assert_eq!(
        api.send(
            "DELETE",
            &path,
            Some(&owner),
            None,
            &[("if-match", "\"9\"")]
        )
        .await
        .status,
        412
    );
    assert_eq!(
        api.send("DELETE", &path, Some(&owner), None, &[])
            .await
            .status,
        204
    );
    assert_eq!(api.get(&path, &owner).await.status, 404);
}

async fn fifty_concurrent_adjustments_over_http(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let pid = api.create_product("Maggi Noodles", None).await;
    let path = format!("/v1/stores/s1/inventory/{pid}");
    assert_eq!(
        api.put(&path, &owner, json!({"quantity": "100"}))
            .await
            .status,
        201
    );
    let adjust = format!("{path}/adjustments");
    let calls =
        (0..50).map(|_| api.post(&adjust, &owner, json!({"delta": "1", "reason": "restock"})));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = api.get(&path, &owner).await;
    assert_eq!(
        (r.body["quantity"].as_str(), r.body["version"].as_u64()),
        (Some("150"), Some(51))
    );
}

async fn scans_count_once_and_create_pending_products(api: &TestApi) {
    let scanner = api.token(Role::Scanner, &["s1"]);
    let barcode = random_gtin().to_string();
    let scan = |id: &str| json!({"store_id": "s1", "barcode": barcode, "scan_id": id});
    let r = api.post("/v1/scan", &scanner, scan("scan-1")).await;
    assert_eq!(
        (r.status, r.body["product_created"].as_bool()),
        (201, Some(true)),
        "{r:?}"
    );
    assert_eq!(r.body["product"]["verification_status"], "pending");
    assert_eq!(r.body["item"]["quantity"], "1");
    let r = api.post("/v1/scan", &scanner, scan("scan-1")).await;
    assert_eq!(
        (
            r.status,
            r.body["replayed"].as_bool(),
            r.body["item"]["quantity"].as_str()
        ),
        (200, Some(true), Some("1"))
    );
    let r = api
        .post(
            "/v1/scan",
            &scanner,
            json!({"store_id": "s1", "barcode": barcode, "quantity": 3, "scan_id": "scan-2"}),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["product_created"].as_bool(),
            r.body["item"]["quantity"].as_str()
        ),
        (200, Some(false), Some("4"))
    );
    // The same product in another store counts separately.
    let other = api.token(Role::Scanner, &["s2"]);
    let r = api
        .post(
            "/v1/scan",
            &other,
            json!({"store_id": "s2", "barcode": barcode, "scan_id": "scan-1"}),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["replayed"].as_bool(),
            r.body["item"]["quantity"].as_str()
        ),
        (200, Some(false), Some("1"))
    );
    // Scanners read their stores' inventories (the shelf count), and change them only by
    // scanning.
    assert_eq!(
        api.get("/v1/stores/s1/inventory", &scanner).await.status,
        200
    );
    assert_eq!(
        api.get("/v1/stores/s2/inventory", &scanner).await.code(),
        "forbidden_store"
    );
    assert_eq!(
        api.put(
            &format!(
                "/v1/stores/s1/inventory/{}",
                r.body["item"]["product_id"].as_str().unwrap()
            ),
            &scanner,
            json!({"quantity": "5"})
        )
        .await
        .code(),
        "forbidden_role"
    );
    let r = api
        .post(
            "/v1/scan",
            &scanner,
            json!({"store_id": "s1", "barcode": "8901058000291"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("barcode_check_digit"))
    );
    let r = api
        .post(
            "/v1/scan",
            &scanner,
            json!({"store_id": "s1", "barcode": barcode, "quantity": "0"}),
        )
        .await;
    assert_eq!(r.status, 422);
}

async fn jobs_are_visible_to_their_store_only(api: &TestApi) {
    let job = CsvJob::new(
        JobId::new(),
        StoreId::parse("s1").unwrap(),
        "owner",
        Timestamp::now(),
    );
    api.app.catalog.jobs.insert(&job).await.unwrap();
    let path = format!("/v1/jobs/{}", job.job_id);
    let r = api.get(&path, &api.token(Role::StoreOwner, &["s1"])).await;
    assert_eq!(
        (
            r.status,
            r.body["status"].as_str(),
            r.body["total_rows"].as_u64()
        ),
        (200, Some("awaiting_upload"), Some(0))
    );
    assert_eq!(api.get(&path, &api.admin()).await.status, 200);
    let r = api.get(&path, &api.token(Role::StoreOwner, &["s2"])).await;
    assert_eq!((r.status, r.code()), (404, "job_not_found"));
    assert_eq!(
        api.get(&path, &api.token(Role::Scanner, &["s1"]))
            .await
            .code(),
        "forbidden_role"
    );
    assert_eq!(
        api.get(&format!("/v1/jobs/{}", JobId::new()), &api.admin())
            .await
            .status,
        404
    );
}

async fn no_input_makes_a_5xx(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let bodies = [
        deep.as_str(),
        "{\"name\": \"\\u0000\"}",
        "{\"name\": \"a\", \"regional_names\": {\"IN-MH\": [\"x\", 5]}}",
        "{\"quantity\": 1e400}",
        "{\"quantity\": \"1e400\"}",
        "{\"quantity\": -0.0}",
        "{\"quantity\": \"99999999999999999999999999999\"}",
        "{\"selling_price\": NaN}",
        "\u{feff}{}",
        "null",
        "[]",
    ];
    let pid = api.create_product("Fuzz target", None).await;
    for path in [
        "/v1/products".to_string(),
        format!("/v1/stores/s1/inventory/{pid}"),
        "/v1/scan".to_string(),
    ] {
        for b in bodies {
            for method in ["POST", "PUT"] {
                let r = api
                    .http
                    .request(method.parse().unwrap(), format!("{}{}", api.base, path))
                    .header("authorization", format!("Bearer {owner}"))
                    .header("content-type", "application/json")
                    .body(b.to_string())
                    .send()
                    .await
                    .unwrap();
                assert!(
                    r.status().as_u16() < 500,
                    "{method} {path} {b:.40}: {}",
                    r.status()
                );
            }
        }
    }
    for path in [
        "/v1/products/%00",
        "/v1/stores/%2F/inventory",
        "/v1/jobs/..%2F..",
        "/v1/products?q=%FF",
        "/v1/products?limit=99999999999",
    ] {
        let r = api.get(path, &owner).await;
        assert!(r.status < 500, "{path}: {r:?}");
    }
}

async fn rows_are_matched_to_the_catalog(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let scanner = api.token(Role::Scanner, &["s1"]);
    let kilo_barcode = random_gtin().to_string();
    let mut ids = Vec::new();
    for (weight, barcode) in [("1 kg", Some(kilo_barcode.as_str())), ("500 g", None)] {
        let mut body =
            json!({"name": "Salt - Iodised", "brand": "Tata", "attributes": {"weight": weight}});
        if let Some(b) = barcode {
            body["barcode"] = json!(b);
        }
        let r = api.post("/v1/products", &owner, body).await;
        assert_eq!(r.status, 201, "{r:?}");
        ids.push(r.body["product_id"].as_str().unwrap().to_string());
    }
    api.post(
        "/v1/products",
        &owner,
        json!({"name": "Turmeric Powder", "brand": "Everest", "attributes": {"weight": "100 g"}}),
    )
    .await;
    let r = api
        .post(
            "/v1/products",
            &owner,
            json!({"name": "Glass Water Bottle - Green", "brand": "BB Home", "attributes": {"volume": "1 L"}}),
        )
        .await;
    let bottle = r.body["product_id"].as_str().unwrap().to_string();
    // What the index-build function does on its schedule (the AWS backend then loads the
    // snapshot it wrote to S3).
    let published = api.app.catalog.publish_match_index().await.unwrap();
    assert_eq!(published.products, 4);
    assert_eq!(published.key.is_some(), api.app.backend == "aws");

    // GIVEN a messy row with its size WHEN it is matched THEN it links to that size.
    let r = api
        .get(
            "/v1/products/match?name=TATA%20SALT%20IODIZED%201KG",
            &scanner,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["decision"], "match", "{r:?}");
    assert_eq!(
        r.body["candidates"][0]["product"]["product_id"],
        ids[0].as_str()
    );
    assert_eq!(r.body["candidates"][0]["size"], "agree");
    assert_eq!(r.body["sizes"][0], "1000g");
    // The other size is a candidate too, never the match.
    let r = api
        .get(
            "/v1/products/match?name=tata%20salt%20iodised&quantity=500%20gm&limit=1",
            &scanner,
        )
        .await;
    assert_eq!(
        (
            r.body["decision"].as_str(),
            r.body["candidates"].as_array().map(Vec::len)
        ),
        (Some("match"), Some(1))
    );
    assert_eq!(
        r.body["candidates"][0]["product"]["product_id"],
        ids[1].as_str()
    );
    // Without a size the row could be either pack: a person decides.
    let r = api
        .get("/v1/products/match?name=tata%20salt&brand=tata", &scanner)
        .await;
    assert_eq!(r.body["decision"], "review", "{r:?}");
    // An exact barcode settles the size the name leaves open; something unknown is new.
    let r = api
        .get(
            &format!("/v1/products/match?name=tata%20salt&barcode={kilo_barcode}"),
            &owner,
        )
        .await;
    assert_eq!(
        (
            r.body["decision"].as_str(),
            r.body["query_barcode"].as_str()
        ),
        (Some("match"), Some("exact")),
        "{r:?}"
    );
    assert_eq!(
        r.body["candidates"][0]["product"]["product_id"],
        ids[0].as_str()
    );
    let r = api
        .get(
            "/v1/products/match?name=Parachute%20Coconut%20Oil%20500%20ml",
            &owner,
        )
        .await;
    assert_eq!(r.body["decision"], "new", "{r:?}");
    // In AWS each decision is a metric (MatchDecisions by Decision).
    if api.app.backend == "aws" {
        for (decision, times) in [("match", 3), ("review", 1), ("new", 1)] {
            let records = api.metric_records(&[("Decision", decision)]);
            assert_eq!(records.len(), times, "{decision}: {records:?}");
            assert_eq!(records[0]["MatchDecisions"], 1.0);
        }
    }

    // A colour the row states against the product's: a person decides, told why. One the row
    // leaves out is shown but links.
    let r = api
        .get(
            "/v1/products/match?name=bb%20home%20glass%20water%20bottle%20red%201l",
            &owner,
        )
        .await;
    let best = &r.body["candidates"][0];
    assert_eq!(
        (
            r.body["decision"].as_str(),
            best["product"]["product_id"].as_str()
        ),
        (Some("review"), Some(bottle.as_str())),
        "{r:?}"
    );
    assert_eq!(
        best["conflict"],
        json!({"kind": "colour", "row": "red", "product": "green"})
    );
    let r = api
        .get(
            "/v1/products/match?name=bb%20home%20glass%20water%20bottle%201l",
            &owner,
        )
        .await;
    assert_eq!(r.body["decision"], "match", "{r:?}");
    assert_eq!(
        (
            &r.body["candidates"][0]["conflict"],
            &r.body["candidates"][0]["unstated"]
        ),
        (&json!(null), &json!({"kind": "colour", "product": "green"}))
    );

    // Bad input is a precise 422; no token is a 401.
    for (query, field, code) in [
        ("", "query.name", "required"),
        ("?brand=tata", "query.name", "required"),
        ("?barcode=89010x", "query.barcode", "invalid_barcode"),
        ("?name=salt&limit=11", "query.limit", "out_of_range"),
        ("?name=salt&limit=zero", "query.limit", "invalid_number"),
        ("?name=salt&store=s1", "query.store", "unknown_parameter"),
    ] {
        let r = api.get(&format!("/v1/products/match{query}"), &owner).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "{query}: {r:?}"
        );
        assert_eq!(
            (
                r.body["errors"][0]["field"].as_str(),
                r.body["errors"][0]["code"].as_str()
            ),
            (Some(field), Some(code)),
            "{query}"
        );
    }
    let long = "x".repeat(201);
    let r = api
        .get(&format!("/v1/products/match?name={long}"), &owner)
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("too_long"))
    );
    let r = api
        .send("GET", "/v1/products/match?name=salt", None, None, &[])
        .await;
    assert_eq!((r.status, r.code()), (401, "token_missing"));
}

/// Sums a ledger page (newest first) from its last count: what the quantity must be.
fn replayed(ledger: &[serde_json::Value]) -> rust_decimal::Decimal {
    use std::str::FromStr;
    let d = |v: &serde_json::Value| rust_decimal::Decimal::from_str(v.as_str().unwrap()).unwrap();
    let mut total = rust_decimal::Decimal::ZERO;
    for m in ledger {
        if m.get("count").is_some() {
            return total + d(&m["count"]);
        }
        total += d(&m["delta"]);
    }
    total
}

async fn inventory_lists_show_products_and_search_them(api: &TestApi) {
    let admin = api.admin();
    let store = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let owner_here = api.token(Role::StoreOwner, &[&store]);
    let salt_barcode = random_gtin().to_string();
    let salt = api.create_product("Tata Salt", Some(&salt_barcode)).await;
    let tea = api.create_product("Tata Tea Premium", None).await;
    let dal = api.create_product("Toor Dal", None).await;
    for (pid, q) in [(&salt, "12"), (&tea, "0"), (&dal, "5")] {
        let r = api
            .put(
                &format!("/v1/stores/{store}/inventory/{pid}"),
                &owner_here,
                json!({"quantity": q}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let list = |query: &str| {
        let path = format!("/v1/stores/{store}/inventory?{query}");
        let token = owner_here.clone();
        async move { api.get(&path, &token).await }
    };
    let r = list("sort=name").await;
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Tata Salt", "Tata Tea Premium", "Toor Dal"],
        "{r:?}"
    );
    let first = &r.body["items"][0]["product"];
    assert_eq!(
        (
            first["barcode"].as_str(),
            first["verification_status"].as_str()
        ),
        (Some(salt_barcode.as_str()), Some("pending"))
    );
    // The summary is the product as it is now: an admin's rename shows at once.
    let r = api.get(&format!("/v1/products/{salt}"), &admin).await;
    let etag = r.header("etag").unwrap().to_string();
    let r = api
        .send(
            "PATCH",
            &format!("/v1/products/{salt}"),
            Some(&admin),
            Some(json!({"name": "Tata Salt Lite"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = api
        .get(&format!("/v1/stores/{store}/inventory/{salt}"), &owner_here)
        .await;
    assert_eq!(r.body["product"]["name"], "Tata Salt Lite");
    let r = list("q=tata&sort=-quantity").await;
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [salt.as_str(), tea.as_str()]);
    let r = list("out_of_stock=true").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["product_id"], tea.as_str());
    let r = list(&format!("q={salt_barcode}")).await;
    assert_eq!(r.body["items"][0]["product_id"], salt.as_str());
    let r = list("sort=price").await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("invalid_sort"))
    );
    // A cursor belongs to its listing: another order refuses it.
    let r = list("sort=name&limit=1").await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = list(&format!("sort=quantity&limit=1&cursor={cursor}")).await;
    assert_eq!(r.code(), "invalid_cursor");
}

async fn admins_approve_and_reject_with_history(api: &TestApi) {
    let admin = api.admin();
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let pid = api.create_product("Everest Garam Masala 100 g", None).await;
    let path = format!("/v1/products/{pid}");
    // Only admins review.
    let r = api
        .post(&format!("{path}/approve"), &owner, json!({}))
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    let r = api.get(&format!("{path}/history"), &owner).await;
    assert_eq!(r.code(), "forbidden_role");
    // A rejection needs its reason.
    let r = api.post(&format!("{path}/reject"), &admin, json!({})).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("required"))
    );
    let r = api
        .post(&format!("{path}/reject"), &admin, json!({"reason": "  "}))
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .send(
            "POST",
            &format!("{path}/approve"),
            Some(&admin),
            None,
            &[("x-request-id", "approve-1")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["verification_status"].as_str()),
        (200, Some("approved")),
        "{r:?}"
    );
    assert_eq!(r.header("etag"), Some("\"2\""));
    // Deciding again what it is changes nothing.
    let again = api
        .post(&format!("{path}/approve"), &admin, json!({}))
        .await;
    assert_eq!(
        (again.status, again.body["version"].as_u64()),
        (200, Some(2))
    );
    let r = api
        .post(
            &format!("{path}/reject"),
            &admin,
            json!({"reason": "a duplicate of the 200 g pack"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["verification_status"].as_str()),
        (200, Some("rejected"))
    );
    let r = api.get(&format!("{path}/history"), &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let entries = r.body["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["rejected", "approved", "created"]);
    assert_eq!(entries[0]["reason"], "a duplicate of the 200 g pack");
    assert_eq!(
        entries[0]["changes"]["verification_status"]["before"],
        "approved"
    );
    assert_eq!(entries[1]["actor"]["request_id"], "approve-1");
    assert_eq!(entries[1]["actor"]["role"], "admin");
    assert_eq!(entries[2]["actor"]["role"], "admin");
    // A merged product is final.
    let target = api.create_product("Everest Garam Masala 200 g", None).await;
    let r = api.get(&path, &admin).await;
    let etag = r.header("etag").unwrap().to_string();
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"verification_status": "merged", "merged_into": target})),
            &[("if-match", &etag)],
        )
        .await;
    // Merging moves stock: never a patch.
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("use_merge")),
        "{r:?}"
    );
    let r = api
        .post(&format!("{path}/merge"), &admin, json!({"into": target}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = api
        .post(&format!("{path}/approve"), &admin, json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "product_merged"));
    let r = api.get(&format!("{path}/history?limit=1"), &admin).await;
    assert_eq!(r.body["items"][0]["action"], "merged");
    assert!(r.body["next_cursor"].is_string());
}

async fn a_merge_moves_stock_across_stores_and_finishes_when_asked_again(api: &TestApi) {
    use catalog_core::auth::Principal;
    let admin = api.admin();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let stores: Vec<String> = (1..=3).map(|i| format!("m{tag}{i}")).collect();
    let store_refs: Vec<&str> = stores.iter().map(String::as_str).collect();
    let owner = api.token(Role::StoreOwner, &store_refs);
    let dup_barcode = random_gtin().to_string();
    let dup = api
        .create_product("Amul Butter 100g", Some(&dup_barcode))
        .await;
    let keep = api.create_product("Amul Butter 100 g", None).await;
    for st in &stores {
        let r = api
            .put(
                &format!("/v1/stores/{st}/inventory/{dup}"),
                &owner,
                json!({"quantity": "5", "location": "Fridge"}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let r = api
        .put(
            &format!("/v1/stores/{}/inventory/{keep}", stores[1]),
            &owner,
            json!({"quantity": "2"}),
        )
        .await;
    assert_eq!(r.status, 201);
    // What a new admin would try first.
    let merge = |id: &str, into: &str| {
        let (path, body, admin) = (
            format!("/v1/products/{id}/merge"),
            json!({"into": into}),
            admin.clone(),
        );
        async move { api.post(&path, &admin, body).await }
    };
    assert_eq!(merge(&dup, &dup).await.code(), "merge_into_itself");
    let r = api
        .post(
            &format!("/v1/products/{dup}/merge"),
            &owner,
            json!({"into": keep}),
        )
        .await;
    assert_eq!(r.code(), "forbidden_role");
    let r = api
        .post(&format!("/v1/products/{dup}/merge"), &admin, json!({}))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "required");
    // GIVEN a merge cut short before it moved any store (its time ran out)
    let who = Principal::operator("admin-test");
    let cut = api
        .app
        .catalog
        .merge_product(
            &who,
            &catalog_core::domain::ProductId::parse(&dup).unwrap(),
            &catalog_core::domain::ProductId::parse(&keep).unwrap(),
            tokio::time::Instant::now(),
        )
        .await
        .unwrap();
    assert!(!cut.complete);
    assert_eq!(
        cut.product.verification_status,
        catalog_core::domain::VerificationStatus::Merged
    );
    // WHEN it is asked for again THEN it finishes, moving each store once
    let r = merge(&dup, &keep).await;
    assert_eq!(
        (r.status, r.body["complete"].as_bool()),
        (200, Some(true)),
        "{r:?}"
    );
    assert_eq!(r.body["stores_moved"], 3);
    let again = merge(&dup, &keep).await;
    assert_eq!(
        (again.status, again.body["stores_moved"].as_u64()),
        (200, Some(0))
    );
    let quantities: Vec<String> = stores
        .iter()
        .map(|st| format!("/v1/stores/{st}/inventory/{keep}"))
        .collect();
    let mut got = Vec::new();
    for path in &quantities {
        let r = api.get(path, &owner).await;
        got.push((
            r.body["quantity"].as_str().unwrap().to_string(),
            r.body["location"].as_str().map(str::to_string),
        ));
    }
    assert_eq!(
        got,
        [
            ("5".into(), Some("Fridge".into())),
            ("7".into(), Some("Fridge".into())),
            ("5".into(), Some("Fridge".into()))
        ]
    );
    let r = api
        .get(&format!("/v1/stores/{}/inventory/{dup}", stores[0]), &owner)
        .await;
    assert_eq!(r.code(), "inventory_item_not_found");
    // Scans of the merged product's barcode land on the product it became.
    let scanner = api.token(Role::Scanner, &[&stores[0]]);
    let r = api
        .post(
            "/v1/scan",
            &scanner,
            json!({"store_id": stores[0], "barcode": dup_barcode}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["product"]["product_id"].as_str()),
        (200, Some(keep.as_str())),
        "{r:?}"
    );
    assert_eq!(r.body["item"]["quantity"], "6");
    // A merged product is final; merging into it is refused.
    let other = api.create_product("Amul Butter 500 g", None).await;
    assert_eq!(merge(&dup, &other).await.code(), "product_merged");
    assert_eq!(merge(&other, &dup).await.code(), "target_merged");
    let r = api
        .get(&format!("/v1/products/{dup}/history"), &admin)
        .await;
    assert_eq!(r.body["items"][0]["action"], "merged");
}

async fn a_store_whose_stock_would_overflow_does_not_hold_a_merge_back(api: &TestApi) {
    let admin = api.admin();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let (full, fine) = (format!("o{tag}a"), format!("o{tag}b"));
    let owner = api.token(Role::StoreOwner, &[&full, &fine]);
    let dup = api.create_product("Loose Sugar", None).await;
    let keep = api.create_product("Sugar (loose)", None).await;
    for (st, pid, q) in [
        (&full, &dup, "6000000"),
        (&full, &keep, "6000000"),
        (&fine, &dup, "3"),
    ] {
        let r = api
            .put(
                &format!("/v1/stores/{st}/inventory/{pid}"),
                &owner,
                json!({"quantity": q}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let r = api
        .post(
            &format!("/v1/products/{dup}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["complete"].as_bool()),
        (202, Some(false)),
        "{r:?}"
    );
    assert_eq!(r.body["overflowed"], json!([full]));
    assert_eq!(r.body["stores_moved"], 1);
    let moved = api
        .get(&format!("/v1/stores/{fine}/inventory/{keep}"), &owner)
        .await;
    assert_eq!(moved.body["quantity"], "3");
    // The owner sells some; asked again, the merge finishes.
    let r = api
        .post(
            &format!("/v1/stores/{full}/inventory/{keep}/adjustments"),
            &owner,
            json!({"delta": "-5000000", "reason": "sale"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = api
        .post(
            &format!("/v1/products/{dup}/merge"),
            &admin,
            json!({"into": keep}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["complete"].as_bool()),
        (200, Some(true)),
        "{r:?}"
    );
    let r = api
        .get(&format!("/v1/stores/{full}/inventory/{keep}"), &owner)
        .await;
    assert_eq!(r.body["quantity"], "7000000");
}

async fn review_decisions_in_one_request_are_answered_each(api: &TestApi) {
    let admin = api.admin();
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let a = api.create_product("Britannia Marie Gold 250 g", None).await;
    let b = api.create_product("Britannia Marie Gold 250g", None).await;
    let c = api.create_product("Good Day Cashew 100 g", None).await;
    let body = json!({"decisions": [
        {"product_id": a, "action": "approve"},
        {"product_id": c, "action": "reject"},
        {"product_id": b, "action": "merge", "into": a},
        {"product_id": c, "action": "shelve"},
        {"product_id": c, "action": "reject", "reason": "not sold in India"},
    ]});
    let r = api.post("/v1/review/decisions", &owner, body.clone()).await;
    assert_eq!(r.code(), "forbidden_role");
    let r = api.post("/v1/review/decisions", &admin, body.clone()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let results = r.body["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 422, 200, 422, 200]);
    assert_eq!(results[0]["outcome"]["verification_status"], "approved");
    assert_eq!(
        results[1]["problem"]["errors"][0]["field"],
        "decisions[1].reason"
    );
    assert_eq!(results[2]["outcome"]["complete"], true);
    assert_eq!(results[3]["problem"]["errors"][0]["code"], "invalid_action");
    assert_eq!(results[4]["outcome"]["verification_status"], "rejected");
    // Sent again: the same answers, nothing decided twice.
    let r = api.post("/v1/review/decisions", &admin, body).await;
    let again: Vec<u64> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(again, [200, 422, 200, 422, 200]);
    let h = api.get(&format!("/v1/products/{c}/history"), &admin).await;
    assert_eq!(
        h.body["items"].as_array().unwrap().len(),
        2,
        "created, rejected once"
    );
    // Every product read says how its score is made.
    let p = api.get(&format!("/v1/products/{a}"), &admin).await;
    let reasons = p.body["quality_reasons"].as_array().unwrap();
    assert_eq!(
        reasons
            .iter()
            .map(|q| q["points"].as_u64().unwrap())
            .sum::<u64>(),
        100
    );
    assert!(
        reasons
            .iter()
            .any(|q| q["part"] == "barcode" && q["missing"] == "no barcode")
    );
    let r = api
        .post("/v1/review/decisions", &admin, json!({"decisions": []}))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "empty");
}

async fn the_review_queue_shows_the_evidence(api: &TestApi) {
    let admin = api.admin();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let owner = api.token(Role::StoreOwner, &["s1", "s2"]);
    let name = format!("Parle Hide and Seek Chocolate Chip Cookies {tag}");
    let make = |name: String| {
        let admin = admin.clone();
        async move {
            let r = api
                .post(
                    "/v1/products",
                    &admin,
                    json!({"name": name, "brand": "Parle", "attributes": {"pack_size": "120 g"}}),
                )
                .await;
            assert_eq!(r.status, 201, "{r:?}");
            r.body["product_id"].as_str().unwrap().to_string()
        }
    };
    let first = make(name.clone()).await;
    let second = make(format!("{name}.")).await;
    for st in ["s1", "s2"] {
        let r = api
            .put(
                &format!("/v1/stores/{st}/inventory/{second}"),
                &owner,
                json!({"quantity": "3"}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    api.app.catalog.publish_match_index().await.unwrap();
    assert_eq!(api.get("/v1/review", &owner).await.code(), "forbidden_role");
    let mut found = None;
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let path = match &cursor {
            Some(c) => format!("/v1/review?source=api&limit=100&cursor={c}"),
            None => "/v1/review?source=api&limit=100".to_string(),
        };
        let r = api.get(&path, &admin).await;
        assert_eq!(r.status, 200, "{r:?}");
        if let Some(item) = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["product"]["product_id"] == second.as_str())
        {
            found = Some(item.clone());
            break;
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let item = found.expect("the product is in the queue");
    assert_eq!(item["stocked"]["stores"], 2);
    assert_eq!(item["stocked"]["units"], "6");
    assert!(item["product"]["quality_reasons"].is_array());
    let dup = item["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["product_id"] == first.as_str());
    let dup = dup.unwrap_or_else(|| panic!("{item}"));
    assert_eq!(dup["reasons"][0], "near_identical_name");
    assert!(
        item["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["product"]["product_id"] != second.as_str())
    );
    let r = api.get("/v1/review?source=fax", &admin).await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_source");
}

/// Every page of `path` (which has no query yet beyond its own), joined.
async fn all_pages(api: &TestApi, path: &str, token: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let r = api.get(&url, token).await;
        assert_eq!(r.status, 200, "{r:?}");
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("{path} did not end");
}

async fn reviewers_review_and_only_review(api: &TestApi) {
    let admin = api.admin();
    let reviewer = api.token(Role::Reviewer, &[]);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let weak = api.create_product(&format!("Biscuit{tag}"), None).await;
    let strong = api
        .create_product(
            &format!("Britannia Good Day {tag} 100 g"),
            Some(&random_gtin().to_string()),
        )
        .await;
    // The queue by quality: each order over every page, both products in it.
    for (sort, rising) in [("quality", true), ("-quality", false)] {
        let items = all_pages(api, &format!("/v1/review?sort={sort}&limit=50"), &reviewer).await;
        let scores: Vec<u64> = items
            .iter()
            .map(|i| i["product"]["quality_score"].as_u64().unwrap())
            .collect();
        let mut sorted = scores.clone();
        sorted.sort_unstable();
        if !rising {
            sorted.reverse();
        }
        assert_eq!(scores, sorted, "sort={sort}");
        let at = |id: &str| {
            items
                .iter()
                .position(|i| i["product"]["product_id"] == id)
                .unwrap_or_else(|| panic!("{id} is in the queue"))
        };
        assert_eq!(at(&weak) < at(&strong), rising, "sort={sort}");
    }
    let r = api.get("/v1/review?sort=best", &reviewer).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("invalid_sort"))
    );
    // A reviewer decides and reads the history; the entry says who.
    let r = api
        .post(
            &format!("/v1/products/{weak}/reject"),
            &reviewer,
            json!({"reason": "no brand, no size"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = api
        .get(&format!("/v1/products/{weak}/history?limit=1"), &reviewer)
        .await;
    assert_eq!(r.body["items"][0]["actor"]["role"], "reviewer", "{r:?}");
    let r = api
        .post(
            "/v1/review/decisions",
            &reviewer,
            json!({"decisions": [{"product_id": strong, "action": "approve"}]}),
        )
        .await;
    assert_eq!(r.body["results"][0]["status"], 200, "{r:?}");
    // ... and nothing else: no edits, no products made, no store's stock.
    let r = api.get(&format!("/v1/products/{strong}"), &reviewer).await;
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap().to_string();
    let r = api
        .send(
            "PATCH",
            &format!("/v1/products/{strong}"),
            Some(&reviewer),
            Some(json!({"brand": "Britannia"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    let r = api
        .post("/v1/products", &reviewer, json!({"name": "Anything Else"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    let r = api.get("/v1/stores/s1/inventory", &reviewer).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = api
        .get(&format!("/v1/products/{weak}/history"), &admin)
        .await;
    assert_eq!(r.status, 200);
}

async fn a_stale_decision_is_refused_and_a_new_reason_is_kept(api: &TestApi) {
    let admin = api.admin();
    let id = api.create_product("Haldiram Aloo Bhujia 200 g", None).await;
    let path = format!("/v1/products/{id}");
    let decide = |what: &'static str, version: Option<&'static str>, body: serde_json::Value| {
        let (path, admin) = (path.clone(), admin.clone());
        async move {
            let headers: Vec<(&str, &str)> = version.map(|v| ("if-match", v)).into_iter().collect();
            api.send(
                "POST",
                &format!("{path}/{what}"),
                Some(&admin),
                Some(body),
                &headers,
            )
            .await
        }
    };
    let r = decide("approve", Some("\"1\""), json!({})).await;
    assert_eq!(
        (r.status, r.body["version"].as_u64()),
        (200, Some(2)),
        "{r:?}"
    );
    let r = decide("reject", None, json!({"reason": "a duplicate"})).await;
    assert_eq!(r.body["version"], 3);
    // An approval resent with the version it was made on does not undo the rejection since.
    let r = decide("approve", Some("\"1\""), json!({})).await;
    assert_eq!((r.status, r.code()), (412, "version_mismatch"));
    assert_eq!(r.body["current_version"], 3);
    let r = api
        .post(
            "/v1/review/decisions",
            &admin,
            json!({"decisions": [{"product_id": id, "action": "approve", "version": 1}]}),
        )
        .await;
    assert_eq!(r.body["results"][0]["status"], 412, "{r:?}");
    // The same rejection again changes nothing (even resent with the version it was made
    // on: its answer was lost); another reason is kept.
    let r = decide("reject", None, json!({"reason": "a duplicate"})).await;
    assert_eq!((r.status, r.body["version"].as_u64()), (200, Some(3)));
    let r = decide("reject", Some("\"2\""), json!({"reason": "a duplicate"})).await;
    assert_eq!(
        (r.status, r.body["version"].as_u64()),
        (200, Some(3)),
        "{r:?}"
    );
    let r = decide(
        "reject",
        None,
        json!({"reason": "a duplicate of the 400 g pack"}),
    )
    .await;
    assert_eq!((r.status, r.body["version"].as_u64()), (200, Some(4)));
    let r = api.get(&format!("{path}/history?limit=1"), &admin).await;
    assert_eq!(r.body["items"][0]["action"], "rejected");
    assert_eq!(
        r.body["items"][0]["reason"],
        "a duplicate of the 400 g pack"
    );
}

async fn scan_modes_receive_sell_and_count(api: &TestApi) {
    let scanner = api.token(Role::Scanner, &["s1"]);
    let barcode = random_gtin().to_string();
    let scan = |mode: &str, q: &str, id: &str| json!({"store_id": "s1", "barcode": barcode, "quantity": q, "mode": mode, "scan_id": id});
    let r = api
        .post("/v1/scan", &scanner, scan("receive", "5", "m-1"))
        .await;
    assert_eq!(
        (r.status, r.body["item"]["quantity"].as_str()),
        (201, Some("5")),
        "{r:?}"
    );
    let pid = r.body["product"]["product_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .post("/v1/scan", &scanner, scan("sell", "2", "m-2"))
        .await;
    assert_eq!(
        (r.status, r.body["item"]["quantity"].as_str()),
        (200, Some("3")),
        "{r:?}"
    );
    let r = api
        .post("/v1/scan", &scanner, scan("sell", "4", "m-3"))
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["available"].as_str()),
        (409, "insufficient_stock", Some("3"))
    );
    // The refused sale's id was not used: the same id may sell what there is.
    let r = api
        .post("/v1/scan", &scanner, scan("sell", "3", "m-3"))
        .await;
    assert_eq!(
        (r.status, r.body["item"]["quantity"].as_str()),
        (200, Some("0")),
        "{r:?}"
    );
    // A stock-take sets the count (zero is a count too).
    let r = api
        .post("/v1/scan", &scanner, scan("count", "12", "m-4"))
        .await;
    assert_eq!(
        (r.status, r.body["item"]["quantity"].as_str()),
        (200, Some("12")),
        "{r:?}"
    );
    let r = api
        .post("/v1/scan", &scanner, scan("count", "0", "m-5"))
        .await;
    assert_eq!(r.body["item"]["quantity"].as_str(), Some("0"));
    // Same id, other mode: refused, not replayed.
    let r = api
        .post("/v1/scan", &scanner, scan("receive", "0", "m-5"))
        .await;
    assert_eq!(r.code(), "validation_failed");
    let r = api
        .post("/v1/scan", &scanner, scan("sell", "1", "m-4"))
        .await;
    assert_eq!(r.code(), "idempotency_key_reused");
    let r = api
        .post("/v1/scan", &scanner, scan("shelve", "1", "m-6"))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_mode");
    // Selling a barcode nobody knows: no placeholder product.
    let unknown = random_gtin().to_string();
    let r = api
        .post(
            "/v1/scan",
            &scanner,
            json!({"store_id": "s1", "barcode": unknown, "mode": "sell"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "product_not_found"));

    // The ledger says what happened, newest first, and sums to the quantity.
    let r = api
        .send(
            "GET",
            &format!("/v1/stores/s1/inventory/{pid}/movements"),
            Some(&scanner),
            None,
            &[("x-request-id", "ledger-check-1")],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let ledger = r.body["items"].as_array().unwrap().clone();
    assert_eq!(ledger.len(), 5);
    let kinds: Vec<&str> = ledger.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["count", "count", "scan", "scan", "scan"]);
    assert_eq!(ledger[2]["delta"], "-3");
    assert_eq!(ledger[2]["reason"], "sale");
    assert_eq!(ledger[2]["source_id"], "scan:m-3");
    assert_eq!(ledger[2]["actor"], "test-scanner");
    assert!(ledger[2]["request_id"].is_string());
    assert_eq!(replayed(&ledger).to_string(), "0");
    // Owners of another store cannot read it.
    let other = api.token(Role::StoreOwner, &["s2"]);
    let r = api
        .get(&format!("/v1/stores/s1/inventory/{pid}/movements"), &other)
        .await;
    assert_eq!(r.code(), "forbidden_store");
}

async fn twenty_concurrent_sell_scans_of_ten(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let scanner = api.token(Role::Scanner, &["s1"]);
    let barcode = random_gtin().to_string();
    let pid = api.create_product("Parle-G 250 g", Some(&barcode)).await;
    let path = format!("/v1/stores/s1/inventory/{pid}");
    let r = api
        .put(
            &path,
            &owner,
            json!({"quantity": "10", "reorder_level": "3"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let sells = (0..20).map(|i| {
        api.post(
            "/v1/scan",
            &scanner,
            json!({"store_id": "s1", "barcode": barcode, "mode": "sell", "scan_id": format!("sell-{i}")}),
        )
    });
    let replies = futures::future::join_all(sells).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "insufficient_stock")
        .count();
    assert_eq!((ok, refused), (10, 10), "{replies:?}");
    let r = api.get(&path, &owner).await;
    assert_eq!(r.body["quantity"], "0");
    let out = api.events.of("inventory.out_of_stock");
    let ours: Vec<_> = out
        .iter()
        .filter(|d| d["product_id"] == pid.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{out:?}");
    assert_eq!(ours[0]["store_id"], "s1");
    assert_eq!(ours[0]["movement"]["quantity_after"], "0");
    let low = api.events.of("inventory.low_stock");
    assert_eq!(
        low.iter()
            .filter(|d| d["product_id"] == pid.as_str())
            .count(),
        1
    );
    let r = api
        .get(&format!("{path}/movements?limit=100"), &owner)
        .await;
    let ledger = r.body["items"].as_array().unwrap();
    assert_eq!(ledger.len(), 11);
    assert_eq!(replayed(ledger).to_string(), "0");
}

async fn an_alert_the_bus_refused_is_announced_later_once(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let pid = api
        .create_product("Maggi 2-Minute Noodles 70 g", None)
        .await;
    let path = format!("/v1/stores/s1/inventory/{pid}");
    assert_eq!(
        api.put(&path, &owner, json!({"quantity": "2"}))
            .await
            .status,
        201
    );
    // GIVEN the event bus is down WHEN the last packs sell THEN the sale stands
    api.events.fail(true);
    let r = api
        .post(
            &format!("{path}/adjustments"),
            &owner,
            json!({"delta": "-2", "reason": "sale"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["item"]["quantity"].as_str()),
        (200, Some("0")),
        "{r:?}"
    );
    let ours = |events: &[serde_json::Value]| {
        events
            .iter()
            .filter(|d| d["product_id"] == pid.as_str())
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(ours(&api.events.of("inventory.out_of_stock")).is_empty());
    // AND when it is back, the sweep announces the alert, once
    api.events.fail(false);
    let mut announced = 0;
    for _ in 0..3 {
        announced += api.app.catalog.announce_pending().await.unwrap();
    }
    assert!(announced >= 1);
    let sent = ours(&api.events.of("inventory.out_of_stock"));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["quantity"], "0");
    assert!(
        sent[0]["event_id"]
            .as_str()
            .unwrap()
            .ends_with("/out_of_stock")
    );
    // The envelope's id names the crossing: announced again, it would be the same.
    let envelope = api
        .events
        .events("inventory.out_of_stock")
        .into_iter()
        .find(|e| e["data"]["product_id"] == pid.as_str())
        .unwrap();
    assert_eq!(envelope["store_id"], "s1");
    assert_eq!(envelope["version"], 1);
    assert!(uuid::Uuid::parse_str(envelope["id"].as_str().unwrap()).is_ok());
}

async fn offline_scans_sync_as_one_batch(api: &TestApi) {
    let scanner = api.token(Role::Scanner, &["s1"]);
    let barcode = random_gtin().to_string();
    let scan = |mode: &str, q: &str, id: &str| json!({"store_id": "s1", "barcode": barcode, "quantity": q, "mode": mode, "scan_id": id, "device_time": "2026-11-30T09:15:00.000Z"});
    let batch = json!({"scans": [
        scan("receive", "6", "b-1"),
        scan("sell", "2", "b-2"),
        scan("sell", "9", "b-3"),
        {"store_id": "s1", "barcode": "12345", "scan_id": "b-4"},
        {"store_id": "s1", "barcode": barcode, "quantity": "1"},
        {"store_id": "s2", "barcode": barcode, "scan_id": "b-6"},
        scan("count", "3", "b-7"),
    ]});
    let r = api.post("/v1/scan/batch", &scanner, batch.clone()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let results = r.body["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 200, 409, 422, 422, 403, 200]);
    assert_eq!(results[0]["scan_id"], "b-1");
    assert_eq!(results[1]["outcome"]["item"]["quantity"], "4");
    assert_eq!(results[2]["problem"]["available"], "4");
    assert_eq!(
        results[3]["problem"]["errors"][0]["field"],
        "scans[3].barcode"
    );
    assert_eq!(
        results[4]["problem"]["errors"][0]["field"],
        "scans[4].scan_id"
    );
    assert_eq!(results[5]["problem"]["code"], "forbidden_store");
    assert_eq!(results[6]["outcome"]["item"]["quantity"], "3");
    // Sent again whole (the device never saw the answer): nothing counts twice.
    let r = api.post("/v1/scan/batch", &scanner, batch).await;
    let results = r.body["results"].as_array().unwrap();
    assert!(results[0]["outcome"]["replayed"].as_bool().unwrap());
    assert!(results[6]["outcome"]["replayed"].as_bool().unwrap());
    assert_eq!(results[6]["outcome"]["item"]["quantity"], "3");
    let pid = results[0]["outcome"]["product"]["product_id"]
        .as_str()
        .unwrap();
    let r = api
        .get(
            &format!("/v1/stores/s1/inventory/{pid}/movements"),
            &scanner,
        )
        .await;
    let ledger = r.body["items"].as_array().unwrap();
    assert_eq!(ledger.len(), 3);
    assert_eq!(ledger[0]["device_time"], "2026-11-30T09:15:00.000Z");
    // Limits: at most 500, at least one.
    let many: Vec<_> = (0..501)
        .map(|i| scan("receive", "1", &format!("x-{i}")))
        .collect();
    let r = api
        .post("/v1/scan/batch", &scanner, json!({"scans": many}))
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("too_many"))
    );
    let r = api
        .post("/v1/scan/batch", &scanner, json!({"scans": []}))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "empty");
}

/// Every page of the change feed from `since`, until `more` is false: the products' ids and
/// versions, and the last `next_since`.
async fn changes_since(
    api: &TestApi,
    token: &str,
    since: Option<&str>,
) -> (Vec<(String, u64)>, String) {
    let (mut seen, mut since) = (Vec::new(), since.map(str::to_string));
    loop {
        let path = match &since {
            Some(s) => format!("/v1/products/changes?limit=2&since={s}"),
            None => "/v1/products/changes?limit=2".to_string(),
        };
        let r = api.get(&path, token).await;
        assert_eq!(r.status, 200, "{r:?}");
        for p in r.body["items"].as_array().unwrap() {
            seen.push((
                p["product_id"].as_str().unwrap().to_string(),
                p["version"].as_u64().unwrap(),
            ));
        }
        since = Some(r.body["next_since"].as_str().unwrap().to_string());
        if r.body["more"] == false {
            return (seen, since.unwrap());
        }
    }
}

/// A copy of the catalog syncs through the change feed: every product once, then only what
/// changed, in order; a cursor it did not get is refused.
async fn the_change_feed_syncs_a_copy_of_the_catalog(api: &TestApi) {
    let scanner = api.token(Role::Scanner, &["s1"]);
    let mut ids = Vec::new();
    for name in ["Feed Salt 1 kg", "Feed Sugar 1 kg", "Feed Tea 250 g"] {
        ids.push(api.create_product(name, None).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (all, since) = changes_since(api, &scanner, None).await;
    let mut got: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    got.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
    // Caught up: nothing new.
    let (none, same) = changes_since(api, &scanner, Some(&since)).await;
    assert!(none.is_empty(), "{none:?}");
    // The tea is approved: the next read gives it alone, at its new version.
    let r = api
        .send(
            "PATCH",
            &format!("/v1/products/{}", ids[2]),
            Some(&api.admin()),
            Some(json!({"verification_status": "approved"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (changed, _) = changes_since(api, &scanner, Some(&same)).await;
    assert_eq!(changed, vec![(ids[2].clone(), 2)]);
    let r = api
        .get("/v1/products/changes?since=made-up", &scanner)
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"), "{r:?}");
    let r = api.get("/v1/products/changes?limit=0", &scanner).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"), "{r:?}");
}

api_cases!(
    the_change_feed_syncs_a_copy_of_the_catalog,
    health_is_public,
    inventory_lists_show_products_and_search_them,
    admins_approve_and_reject_with_history,
    a_merge_moves_stock_across_stores_and_finishes_when_asked_again,
    review_decisions_in_one_request_are_answered_each,
    a_store_whose_stock_would_overflow_does_not_hold_a_merge_back,
    the_review_queue_shows_the_evidence,
    reviewers_review_and_only_review,
    a_stale_decision_is_refused_and_a_new_reason_is_kept,
    scan_modes_receive_sell_and_count,
    twenty_concurrent_sell_scans_of_ten,
    offline_scans_sync_as_one_batch,
    an_alert_the_bus_refused_is_announced_later_once,
    bad_tokens_are_401,
    products_are_created_read_and_reviewed,
    a_retried_create_makes_one_product,
    bad_input_gets_a_precise_problem,
    a_store_token_cannot_reach_another_store,
    inventory_is_set_adjusted_and_removed,
    fifty_concurrent_adjustments_over_http,
    scans_count_once_and_create_pending_products,
    jobs_are_visible_to_their_store_only,
    no_input_makes_a_5xx,
    rows_are_matched_to_the_catalog,
);
