//! Integration keys end to end through the API on each backend (`embedded::...`,
//! `aws::...`): a key reaches only its scopes' routes in its own store, is limited to its rate,
//! and stops when revoked; and the keys port's one atomic step under a race
//! (`contract_embedded::...`, `dynamodb::...`).

use catalog_core::domain::{ApiKey, KeyBucket, KeyId, KeyScope, StoreId, Timestamp};
use catalog_core::ports::KeyUse;
use catalog_tests::{Stores, TestApi, TestRole, unique};
use serde_json::{Value, json};

use super::accounts::{phone, store_of};

/// A store with a record and its owner's token.
async fn owned_store(api: &TestApi) -> (String, String) {
    let store = store_of(api, &phone()).await;
    let owner = api.token(TestRole::StoreOwner, &[&store]);
    (store, owner)
}

async fn make_key(api: &TestApi, store: &str, token: &str, body: Value) -> catalog_tests::Reply {
    api.post(&format!("/v1/stores/{store}/keys"), token, body)
        .await
}

/// A key with `scopes`, made by the store's owner: its secret.
async fn key_with(api: &TestApi, store: &str, owner: &str, scopes: Value) -> String {
    let r = make_key(
        api,
        store,
        owner,
        json!({"name": "Counter POS", "scopes": scopes}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["secret"].as_str().unwrap().to_string()
}

/// A key that may read the inventory reads it, and may not change it, read the catalog, reach
/// another store or make keys; one that may write changes it.
async fn a_scoped_key_reads_but_does_not_write(api: &TestApi) {
    let (store, owner) = owned_store(api).await;
    let (other, _) = owned_store(api).await;
    let product = api.create_product(&unique("Keyed Salt 1kg"), None).await;
    let item = format!("/v1/stores/{store}/inventory/{product}");
    let r = api.put(&item, &owner, json!({"quantity": "5"})).await;
    assert!(matches!(r.status, 200 | 201), "{:?}", r.body);

    let r = make_key(
        api,
        &store,
        &owner,
        json!({"name": "Accounts sync", "scopes": ["inventory:read"], "requests_per_minute": 120}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let reader = r.body["secret"].as_str().unwrap().to_string();
    assert!(reader.starts_with(&format!("kck_{store}.")), "{reader}");
    assert_eq!(r.body["key"]["scopes"], json!(["inventory:read"]));
    assert_eq!(r.body["key"]["requests_per_minute"], 120);
    assert_eq!(r.body["key"]["status"], "active");
    assert!(r.body["key"]["last_used_at"].is_null());
    let key_id = r.body["key"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/stores/{store}/keys/{key_id}").as_str())
    );

    let r = api.get(&item, &reader).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["quantity"], "5");
    let r = api
        .get(&format!("/v1/stores/{store}/inventory"), &reader)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for (method, path, body) in [
        ("PUT", item.clone(), Some(json!({"quantity": "6"}))),
        ("GET", "/v1/products".to_string(), None),
        (
            "POST",
            format!("/v1/stores/{store}/keys"),
            Some(json!({"name": "x", "scopes": ["imports"]})),
        ),
        ("GET", format!("/v1/stores/{store}/devices"), None),
    ] {
        let r = api.send(method, &path, Some(&reader), body, &[]).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden_key_scope"),
            "{method} {path}: {:?}",
            r.body
        );
    }
    let r = api
        .get(&format!("/v1/stores/{other}/inventory"), &reader)
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    // A route no key reaches refuses any key before looking it up: a made-up one too (in AWS,
    // such a route's function may not even read the accounts table).
    let made_up = format!(
        "kck_{store}.{}.{}",
        uuid::Uuid::now_v7().simple(),
        "A".repeat(43)
    );
    for key in [reader.as_str(), &made_up] {
        let r = api
            .post("/v1/products", key, json!({"name": "Keyed product"}))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "forbidden_key_scope"),
            "{:?}",
            r.body
        );
    }

    // A writer changes the stock, and what it writes names the key.
    let writer = key_with(
        api,
        &store,
        &owner,
        json!(["inventory:write", "catalog:read"]),
    )
    .await;
    let r = api
        .post(
            &format!("{item}/adjustments"),
            &writer,
            json!({"delta": "-2", "reason": "sale"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["item"]["quantity"], "3");
    let r = api.get(&format!("/v1/products/{product}"), &writer).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The owner sees the keys and their last use, never their secrets.
    let r = api.get(&format!("/v1/stores/{store}/keys"), &owner).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["key_id"], key_id.as_str());
    assert!(items[0]["last_used_at"].is_string(), "{:?}", items[0]);
    assert!(!r.body.to_string().contains(&reader[reader.len() - 43..]));
}

/// A key's rate limit: a burst of its bucket's size, then 429 with the wait.
async fn a_key_over_its_rate_limit_gets_429(api: &TestApi) {
    let (store, owner) = owned_store(api).await;
    let r = make_key(
        api,
        &store,
        &owner,
        json!({"name": "Slow tool", "scopes": ["inventory:read"], "requests_per_minute": 1}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let key = r.body["secret"].as_str().unwrap().to_string();
    let path = format!("/v1/stores/{store}/inventory");
    // One a minute, in bursts of 10 (the least burst a key has).
    let burst = futures::future::join_all((0..10).map(|_| api.get(&path, &key))).await;
    for r in &burst {
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = api.get(&path, &key).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.body);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Another key of the store has its own bucket; the owner's token has none.
    let other = key_with(api, &store, &owner, json!(["inventory:read"])).await;
    assert_eq!(api.get(&path, &other).await.status, 200);
    assert_eq!(api.get(&path, &owner).await.status, 200);
}

/// Revoked, forged and malformed keys, and who may manage keys.
async fn revoked_and_forged_keys_are_refused(api: &TestApi) {
    let (store, owner) = owned_store(api).await;
    let (other, other_owner) = owned_store(api).await;
    let r = make_key(
        api,
        &store,
        &owner,
        json!({"name": "Till", "scopes": ["inventory:read"]}),
    )
    .await;
    let key = r.body["secret"].as_str().unwrap().to_string();
    let key_id = r.body["key"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["key"]["requests_per_minute"], 600, "the default");
    let path = format!("/v1/stores/{store}/inventory");
    assert_eq!(api.get(&path, &key).await.status, 200);

    let forged = format!("{}AAAA", &key[..key.len() - 4]);
    let elsewhere = key.replacen(&format!("kck_{store}."), &format!("kck_{other}."), 1);
    let unknown = format!(
        "kck_{store}.{}.{}",
        uuid::Uuid::now_v7().simple(),
        &key[key.len() - 43..]
    );
    for bad in [forged.as_str(), &elsewhere, &unknown, "kck_", "kck_x.y.z"] {
        let r = api.get(&path, bad).await;
        assert_eq!((r.status, r.code()), (401, "key_invalid"), "{bad}");
    }

    // Only the store's owners (and admins) manage its keys.
    let keys = format!("/v1/stores/{store}/keys");
    let scanner = api.token(TestRole::Scanner, &[&store]);
    let r = api.get(&keys, &scanner).await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    let r = api.get(&keys, &other_owner).await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    let revoke = format!("{keys}/{key_id}");
    let r = api
        .send("DELETE", &revoke, Some(&other_owner), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    assert_eq!(api.get(&keys, &api.admin()).await.status, 200);

    // Revoked: refused at its next request; revoking again changes nothing.
    let r = api.send("DELETE", &revoke, Some(&owner), None, &[]).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = api.get(&path, &key).await;
    assert_eq!((r.status, r.code()), (401, "key_revoked"), "{:?}", r.body);
    assert_eq!(
        api.send("DELETE", &revoke, Some(&owner), None, &[])
            .await
            .status,
        204
    );
    let r = api.get(&keys, &owner).await;
    assert_eq!(r.body["items"][0]["status"], "revoked");
    let missing = format!("{keys}/{}", uuid::Uuid::now_v7());
    let r = api.send("DELETE", &missing, Some(&owner), None, &[]).await;
    assert_eq!((r.status, r.code()), (404, "key_not_found"));

    // What a key is made of is checked.
    for (body, field) in [
        (json!({"name": "x"}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (
            json!({"name": "x", "scopes": ["inventory:read", "everything"]}),
            "scopes[1]",
        ),
        (json!({"scopes": ["imports"]}), "name"),
        (
            json!({"name": "x", "scopes": ["imports"], "requests_per_minute": 0}),
            "requests_per_minute",
        ),
        (
            json!({"name": "x", "scopes": ["imports"], "requests_per_minute": 6001}),
            "requests_per_minute",
        ),
    ] {
        let r = make_key(api, &store, &owner, body.clone()).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{body}");
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {:?}",
            r.body
        );
    }
    let r = make_key(
        api,
        &unique("nostore"),
        &api.admin(),
        json!({"name": "x", "scopes": ["imports"]}),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "store_not_found"));
}

api_cases!(
    a_scoped_key_reads_but_does_not_write,
    a_key_over_its_rate_limit_gets_429,
    revoked_and_forged_keys_are_refused,
);

// The port's atomic step, raced.

fn key_of(store: &StoreId, rpm: u32) -> ApiKey {
    ApiKey {
        key_id: KeyId::new(),
        store_id: store.clone(),
        name: "Racer".into(),
        scopes: [KeyScope::InventoryRead].into(),
        requests_per_minute: rpm,
        secret_mac: "mac".into(),
        created_by: "test".into(),
        created_at: Timestamp::now(),
        last_used_at: None,
        revoked_at: None,
        bucket_full_at_ms: None,
    }
}

/// Twenty requests raced on a bucket of ten at one instant: exactly ten are let through, the
/// rest told how long to wait; the last use is recorded; a revoked key and a missing one are
/// said so.
async fn a_bucket_lets_through_exactly_its_size(s: &Stores) {
    let store = StoreId::parse(&unique("st")).unwrap();
    let key = key_of(&store, 60);
    assert_eq!(
        key.bucket(),
        KeyBucket {
            interval_ms: 1_000,
            capacity: 10
        }
    );
    s.accounts.insert_key(&key).await.unwrap();
    assert!(matches!(
        s.accounts.insert_key(&key).await,
        Err(catalog_core::ports::StorageError::AlreadyExists)
    ));
    let at = Timestamp::now();
    let uses = (0..20).map(|_| {
        let (a, k) = (s.accounts.clone(), key.clone());
        tokio::spawn(async move { a.use_key(&k, at).await.unwrap() })
    });
    let uses: Vec<KeyUse> = futures::future::join_all(uses)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let admitted = uses.iter().filter(|u| **u == KeyUse::Admitted).count();
    assert_eq!(admitted, 10, "{uses:?}");
    assert!(
        uses.iter()
            .all(|u| matches!(u, KeyUse::Admitted | KeyUse::Wait(1..=1_000))),
        "{uses:?}"
    );
    let stored = s
        .accounts
        .get_key(&store, &key.key_id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_used_at, Some(at));
    assert_eq!(stored.bucket_full_at_ms, Some(at.unix_millis() + 10_000));
    // A second later, one more (from a stale copy of the key: the write does not need it).
    let later = Timestamp::from_datetime(at.datetime() + time::Duration::seconds(1));
    assert_eq!(
        s.accounts.use_key(&key, later).await.unwrap(),
        KeyUse::Admitted
    );
    assert!(matches!(
        s.accounts.use_key(&stored, later).await.unwrap(),
        KeyUse::Wait(_)
    ));

    s.accounts
        .revoke_key(&store, &key.key_id, later)
        .await
        .unwrap();
    s.accounts
        .revoke_key(&store, &key.key_id, Timestamp::now())
        .await
        .unwrap();
    let revoked = s
        .accounts
        .get_key(&store, &key.key_id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    assert_eq!(
        s.accounts.use_key(&key, later).await.unwrap(),
        KeyUse::Revoked
    );
    let missing = key_of(&store, 60);
    assert!(matches!(
        s.accounts.use_key(&missing, later).await,
        Err(catalog_core::ports::StorageError::NotFound)
    ));
    assert!(matches!(
        s.accounts.revoke_key(&store, &missing.key_id, later).await,
        Err(catalog_core::ports::StorageError::NotFound)
    ));
    let listed = s.accounts.keys_of(&store).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, key.key_id);
}

store_cases!(contract_embedded: a_bucket_lets_through_exactly_its_size);
