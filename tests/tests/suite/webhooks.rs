//! Webhooks end to end: a store's owner subscribes a receiver (this test's own HTTP server,
//! which checks every signature with the Standard Webhooks algorithm written out here), an
//! import's `job.completed` reaches it signed (embedded: the local bus and delivery loop; AWS:
//! EventBridge on ministack, its rule, the queue and the `webhook-deliver` handler), a failing
//! receiver is retried on the schedule and then parked, and targets on private addresses are
//! refused under the AWS configuration. Then the storage contract of webhooks and deliveries
//! on both backends.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use catalog_core::adapters::webhook_http::HttpWebhooks;
use catalog_core::auth::Role;
use catalog_core::domain::webhook::MAX_ATTEMPTS;
use catalog_core::domain::{
    CsvJob, Delivery, DeliveryStatus, Event, EventType, JobId, StoreId, Timestamp, Webhook,
    WebhookId,
};
use catalog_core::ports::{Continuation, PageQuery, StorageError};
use catalog_core::services::webhooks::{Attempted, NewWebhook, Webhooks};
use catalog_core::triggers::{CSV_IMPORT, TriggerContext, WEBHOOK_DELIVER};
use catalog_tests::{AwsRig, Stores, TEST_SECRET, TestApi};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const STORE: &str = "s1";

/// What a receiver got: each request's headers and body.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(http::HeaderMap, String)>>>);

/// A webhook receiver on loopback answering every request with `status`.
async fn receiver(status: u16) -> (String, Received) {
    let got = Received::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                seen.0.lock().unwrap().push((headers, body));
                http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

impl Received {
    fn all(&self) -> Vec<(http::HeaderMap, String)> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) for `n` requests.
    async fn wait_for(&self, n: usize) -> Vec<(http::HeaderMap, String)> {
        for _ in 0..200 {
            if self.all().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.all()
    }
}

/// The Standard Webhooks verification, as a receiver's library does it: the signed content is
/// `id.timestamp.body`, the key the base64 after `whsec_`, one of the space-separated
/// `v1,<base64>` signatures must match, and the timestamp must be within 5 minutes of now.
fn verify(secret: &str, headers: &http::HeaderMap, body: &str) -> bool {
    let ts: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (Timestamp::now().unix_seconds() - ts).abs() < 300 && signed(secret, headers, body)
}

/// Whether the request's signature is the secret's MAC of it (whatever its timestamp).
fn signed(secret: &str, headers: &http::HeaderMap, body: &str) -> bool {
    let key = B64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let header = |n: &str| headers[n].to_str().unwrap().to_string();
    let (id, ts) = (header("webhook-id"), header("webhook-timestamp"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// Subscribes `url` to `events` of the store as its owner; returns the webhook's id and secret.
async fn subscribe(api: &TestApi, url: &str, events: &[&str]) -> (String, String) {
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let r = api
        .post(
            &format!("/v1/stores/{STORE}/webhooks"),
            &owner,
            json!({"url": url, "events": events, "description": "test receiver"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.body["webhook"]["webhook_id"]
            .as_str()
            .unwrap()
            .to_string(),
        r.body["secret"].as_str().unwrap().to_string(),
    )
}

async fn deliveries(api: &TestApi, webhook: &str) -> Vec<Value> {
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let r = api
        .get(
            &format!("/v1/stores/{STORE}/webhooks/{webhook}/deliveries?limit=100"),
            &owner,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["items"].as_array().unwrap().clone()
}

/// The receiver got exactly one request, the import's `job.completed`, correctly signed.
fn assert_one_signed_completion(got: &[(http::HeaderMap, String)], secret: &str, job: &JobId) {
    assert_eq!(got.len(), 1, "{got:?}");
    let (headers, body) = &got[0];
    assert!(
        verify(secret, headers, body),
        "the signature verifies: {headers:?}"
    );
    assert!(!verify(
        &format!("whsec_{}", B64.encode([7u8; 32])),
        headers,
        body
    ));
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "job.completed");
    assert_eq!(event["store_id"], STORE);
    assert_eq!(event["version"], 1);
    assert_eq!(event["data"]["job_id"], job.to_string());
    assert_eq!(event["data"]["status"], "completed");
    assert_eq!(event["data"]["successful"], 2);
    // The message id is the delivery's (the body's `id` is the event's).
    assert!(headers["webhook-id"].to_str().unwrap().starts_with("msg_"));
    assert!(uuid::Uuid::parse_str(event["id"].as_str().unwrap()).is_ok());
    assert_eq!(headers["content-type"], "application/json");
}

const CSV: &[u8] = b"name,qty\nTata Salt 1 kg,3\nAmul Butter 100 g,4\n";

/// Embedded: the upload runs the import, the local bus fans its `job.completed` out, and the
/// local delivery loop (as `catalog serve` runs it) delivers it.
async fn embedded_job_completed_reaches_the_receiver_signed(api: &TestApi) {
    tokio::spawn(catalog_core::local::deliver_webhooks(api.app.clone()));
    let (url, got) = receiver(204).await;
    let (webhook, secret) = subscribe(api, &url, &["job.completed"]).await;
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let job = api.upload_import(&owner, STORE, CSV).await;
    assert_one_signed_completion(&got.wait_for(1).await, &secret, &job);
    // The delivery is listed, delivered at the first attempt.
    let mut listed = deliveries(api, &webhook).await;
    for _ in 0..20 {
        if listed[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        listed = deliveries(api, &webhook).await;
    }
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0]["status"].as_str(),
            listed[0]["attempts"].as_u64(),
            listed[0]["last_status"].as_u64()
        ),
        (Some("delivered"), Some(1), Some(204))
    );
    assert!(listed[0].get("body").is_none(), "the body is not listed");
    // The same event announced again makes no second delivery.
    let completed = api.app.catalog.jobs.get(&job).await.unwrap().unwrap();
    let again = catalog_core::services::webhooks::fan_out(
        api.app.webhooks.store().as_ref(),
        &Event::job_completed(&completed),
    )
    .await
    .unwrap();
    assert!(again.is_empty(), "{again:?}");
    api.app.catalog.events.completed(&completed).await.unwrap();
    assert_eq!(deliveries(api, &webhook).await.len(), 1);
}

/// AWS: the import's `job.completed` goes to EventBridge (ministack), whose rule puts it on a
/// queue; `webhook-deliver` is fed that queue's messages as Lambda would feed them.
async fn aws_job_completed_goes_through_the_bus_and_the_queue() {
    let (api, rig) = TestApi::aws_with_imports().await;
    api.app.catalog.publish_match_index().await.unwrap();
    let (url, got) = receiver(200).await;
    let (webhook, secret) = subscribe(&api, &url, &["job.completed"]).await;
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let job = api.upload_import(&owner, STORE, CSV).await;
    let messages = rig.receive(&rig.import_queue).await;
    let summary = CSV_IMPORT
        .call(
            api.app.clone(),
            AwsRig::lambda_event(&messages),
            TriggerContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(summary["batchItemFailures"], json!([]));
    let events = rig.receive(&rig.completions_queue).await;
    assert_eq!(events.len(), 1);
    let summary = WEBHOOK_DELIVER
        .call(
            api.app.clone(),
            AwsRig::lambda_event(&events),
            TriggerContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(summary["batchItemFailures"], json!([]));
    assert_one_signed_completion(&got.all(), &secret, &job);
    // SQS delivers the same message again: nothing more reaches the receiver.
    WEBHOOK_DELIVER
        .call(
            api.app.clone(),
            AwsRig::lambda_event(&events),
            TriggerContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(got.all().len(), 1);
    let listed = deliveries(&api, &webhook).await;
    assert_eq!(
        (listed.len(), listed[0]["status"].as_str()),
        (1, Some("delivered"))
    );
    let records = api.metric_records(&[("Outcome", "delivered")]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["WebhookDeliveries"], 1.0);
}

/// A `job.completed` of store s1 that was never run (the webhooks do not read the job).
fn some_completion() -> Event {
    let mut job = CsvJob::new(
        JobId::new(),
        StoreId::parse(STORE).unwrap(),
        "test",
        Timestamp::now(),
    );
    job.completed_at = Some(Timestamp::now());
    Event::job_completed(&job)
}

/// A receiver that keeps answering 500 gets the schedule's attempts, further and further
/// apart, and then the delivery is parked (listed `failed`, with the last answer); a receiver
/// that recovers gets the event on the next attempt.
async fn a_failing_receiver_is_retried_then_parked(api: &TestApi) {
    let (url, got) = receiver(500).await;
    let (webhook, secret) = subscribe(api, &url, &["job.completed", "inventory.low_stock"]).await;
    let event = some_completion();
    let first = api.app.webhooks.deliver_event(&event).await.unwrap();
    assert_eq!(first, vec![Attempted::Retrying]);
    let mut now = Timestamp::now();
    let mut waits = Vec::new();
    loop {
        let d = &deliveries(api, &webhook).await[0];
        if d["status"] != "pending" {
            break;
        }
        let next = Timestamp::parse(d["next_attempt_at"].as_str().unwrap()).unwrap();
        let last = Timestamp::parse(d["last_attempt_at"].as_str().unwrap()).unwrap();
        waits.push((next.datetime() - last.datetime()).whole_seconds());
        // Not due yet: the sweep leaves it.
        let early = api.app.webhooks.deliver_due(now, 100).await.unwrap();
        assert!(early.iter().all(|a| *a == Attempted::Skipped) || early.is_empty());
        now = next;
        let done = api.app.webhooks.deliver_due(now, 100).await.unwrap();
        assert_eq!(done.len(), 1, "{done:?}");
    }
    assert_eq!(waits, [5, 60, 300, 1800, 7200, 18000, 28800, 28800]);
    let got = got.all();
    assert_eq!(got.len(), MAX_ATTEMPTS as usize);
    // Every attempt is the same message (one webhook-id), signed at its own (simulated) time.
    let msg_id = got[0].0["webhook-id"].clone();
    for (h, b) in &got {
        assert!(signed(&secret, h, b), "{h:?}");
        assert_eq!(h["webhook-id"], msg_id);
        let body: Value = serde_json::from_str(b).unwrap();
        assert_eq!(body["id"], event.id.to_string());
    }
    assert!(verify(&secret, &got[0].0, &got[0].1));
    let parked = &deliveries(api, &webhook).await[0];
    assert_eq!(
        (
            parked["status"].as_str(),
            parked["attempts"].as_u64(),
            parked["last_status"].as_u64()
        ),
        (Some("failed"), Some(MAX_ATTEMPTS as u64), Some(500))
    );
    assert!(parked.get("next_attempt_at").is_none());
    // Parked: no sweep attempts it again.
    let later = now.plus(time::Duration::days(2));
    assert!(
        api.app
            .webhooks
            .deliver_due(later, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // A receiver down for a while that comes back gets the next event at its second try.
    let (url, got) = receiver(503).await;
    let (webhook, _) = subscribe(api, &url, &["job.completed"]).await;
    let event = some_completion();
    api.app.webhooks.deliver_event(&event).await.unwrap();
    let (ok_url, ok) = receiver(200).await;
    // (The receiver "comes back": the webhook's URL now answers, as if redeployed.)
    repoint(api, &webhook, &ok_url).await;
    let done = api
        .app
        .webhooks
        .deliver_due(Timestamp::now().plus(time::Duration::seconds(6)), 100)
        .await
        .unwrap();
    assert!(done.contains(&Attempted::Delivered), "{done:?}");
    assert_eq!((got.all().len(), ok.all().len()), (1, 1));
    let d = &deliveries(api, &webhook).await[0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("delivered"), Some(2))
    );
}

/// A process whose route or trigger names no sender (every function but webhook-deliver)
/// attempts nothing: the delivery is written, not claimed nor counted, and the process that
/// sends delivers it at its first attempt.
async fn a_process_without_a_sender_claims_nothing(api: &TestApi) {
    let (url, got) = receiver(200).await;
    let (webhook, _) = subscribe(api, &url, &["job.completed"]).await;
    let no_sender = Webhooks::new(
        api.app.webhooks.store(),
        None,
        TEST_SECRET.as_bytes(),
        api.app.catalog.cursor_key().clone(),
        true,
    );
    let event = some_completion();
    assert!(no_sender.deliver_event(&event).await.is_err());
    let d = &deliveries(api, &webhook).await[0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("pending"), Some(0)),
        "{d}"
    );
    assert!(got.all().is_empty());
    let done = api
        .app
        .webhooks
        .deliver_due(Timestamp::now(), 100)
        .await
        .unwrap();
    assert!(done.contains(&Attempted::Delivered), "{done:?}");
    let d = &deliveries(api, &webhook).await[0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("delivered"), Some(1))
    );
    assert_eq!(got.all().len(), 1);
}

/// Points the webhook at `url` in storage (the API has no update: an owner would make a new
/// one; the test keeps the delivery).
async fn repoint(api: &TestApi, webhook: &str, url: &str) {
    let store = StoreId::parse(STORE).unwrap();
    let id = WebhookId::parse(webhook).unwrap();
    let accounts = api.app.webhooks.store();
    let mut w = accounts.get_webhook(&store, &id).await.unwrap().unwrap();
    accounts.delete_webhook(&store, &id).await.unwrap();
    w.url = url.to_string();
    accounts.insert_webhook(&w).await.unwrap();
}

/// Under the AWS configuration (no private targets), a URL naming a private, loopback or
/// link-local address is refused when the webhook is made, and a name that resolves to one is
/// refused when a delivery connects: the receiver on loopback never hears of it.
async fn private_targets_are_refused_under_the_aws_configuration(api: &TestApi) {
    let aws_like = Webhooks::new(
        api.app.webhooks.store(),
        Some(HttpWebhooks::make(false)),
        TEST_SECRET.as_bytes(),
        api.app.catalog.cursor_key().clone(),
        false,
    );
    let owner = catalog_core::auth::Principal::operator("test-owner");
    let store = StoreId::parse(STORE).unwrap();
    for (url, code) in [
        ("https://127.0.0.1/hook", "private_target"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "private_target",
        ),
        ("https://10.0.0.8/hook", "private_target"),
        ("https://[::1]/hook", "private_target"),
        ("https://localhost/hook", "private_target"),
        ("http://pos.example.com/hook", "https_required"),
    ] {
        let e = aws_like
            .create(
                &owner,
                &store,
                NewWebhook {
                    url: url.into(),
                    events: [EventType::JobCompleted].into(),
                    description: String::new(),
                },
            )
            .await
            .unwrap_err();
        match e {
            catalog_core::services::ServiceError::Invalid(errors) => {
                assert_eq!(errors.0[0].code, code, "{url}");
                assert_eq!(errors.0[0].field, "url");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // A name that resolves to loopback at delivery (as a public name's DNS can be made to):
    // written straight to storage, as a webhook made before the name moved.
    let (url, got) = receiver(200).await;
    let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
    let sneaky = Webhook {
        webhook_id: WebhookId::new(),
        store_id: store.clone(),
        url: format!("http://localhost:{port}/hook"),
        events: [EventType::JobCompleted].into(),
        description: String::new(),
        created_by: "test".into(),
        created_at: Timestamp::now(),
    };
    api.app
        .webhooks
        .store()
        .insert_webhook(&sneaky)
        .await
        .unwrap();
    let outcome = aws_like.deliver_event(&some_completion()).await.unwrap();
    assert_eq!(outcome, vec![Attempted::Retrying]);
    assert!(
        got.all().is_empty(),
        "nothing reached the loopback receiver"
    );
    let page = api
        .app
        .webhooks
        .store()
        .deliveries_of(
            &store,
            &sneaky.webhook_id,
            &PageQuery {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let why = page.items[0].last_error.clone().unwrap();
    assert!(why.contains("no public address"), "{why}");
}

/// The routes: validation, limits, store isolation, the secret shown once, delete.
async fn webhooks_are_managed_by_the_stores_owners(api: &TestApi) {
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let path = format!("/v1/stores/{STORE}/webhooks");
    for (body, field, code) in [
        (json!({"events": ["job.completed"]}), "url", "required"),
        (
            json!({"url": "not a url", "events": ["job.completed"]}),
            "url",
            "invalid_url",
        ),
        (
            json!({"url": "https://x.example.com/h"}),
            "events",
            "required",
        ),
        (
            json!({"url": "https://x.example.com/h", "events": ["job.started"]}),
            "events[0]",
            "unknown_event_type",
        ),
    ] {
        let r = api.post(&path, &owner, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "{body}: {r:?}"
        );
        let e = &r.body["errors"][0];
        assert_eq!(
            (e["field"].as_str(), e["code"].as_str()),
            (Some(field), Some(code)),
            "{body}"
        );
    }
    let (id, secret) = subscribe(
        api,
        "https://pos.example.com/hooks/catalog",
        &["inventory.out_of_stock"],
    )
    .await;
    assert!(secret.starts_with("whsec_") && B64.decode(&secret[6..]).unwrap().len() == 32);
    let r = api.get(&path, &owner).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"][0]["webhook_id"], id.as_str());
    assert_eq!(
        r.body["items"][0]["events"],
        json!(["inventory.out_of_stock"])
    );
    assert!(
        !r.body.to_string().contains(&secret[6..]),
        "the secret is shown once"
    );
    // Another store's owner sees nothing of it, a scanner neither.
    for token in [
        api.token(Role::StoreOwner, &["s2"]),
        api.token(Role::Scanner, &[STORE]),
    ] {
        let r = api.get(&path, &token).await;
        assert_eq!(r.status, 403, "{r:?}");
        let r = api
            .send("DELETE", &format!("{path}/{id}"), Some(&token), None, &[])
            .await;
        assert_eq!(r.status, 403, "{r:?}");
    }
    // Ten at most.
    for i in 1..10 {
        subscribe(
            api,
            &format!("https://pos.example.com/hooks/{i}"),
            &["job.completed"],
        )
        .await;
    }
    let r = api
        .post(
            &path,
            &owner,
            json!({"url": "https://pos.example.com/11", "events": ["job.completed"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "too_many_webhooks"));
    // The catalog's own: admins only.
    let r = api
        .post(
            "/v1/stores/_catalog/webhooks",
            &owner,
            json!({"url": "https://x.example.com/h", "events": ["job.completed"]}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = api
        .post(
            "/v1/stores/_catalog/webhooks",
            &api.admin(),
            json!({"url": "https://x.example.com/h", "events": ["job.completed"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    // Deleted: gone (its deliveries stay in storage until they expire, listed no more).
    let r = api
        .send("DELETE", &format!("{path}/{id}"), Some(&owner), None, &[])
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = api
        .send("DELETE", &format!("{path}/{id}"), Some(&owner), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (404, "webhook_not_found"));
    let r = api.get(&format!("{path}/{id}/deliveries"), &owner).await;
    assert_eq!((r.status, r.code()), (404, "webhook_not_found"));
}

/// Product changes are announced by the sweep under the catalog, once each, named by product
/// and version; an admin's `_catalog` webhook for them gets them (store owners cannot
/// subscribe to them).
async fn product_changes_are_announced_once(api: &TestApi) {
    let id = api.create_product("Announced Namkeen 200 g", None).await;
    let r = api
        .send(
            "PATCH",
            &format!("/v1/products/{id}"),
            Some(&api.admin()),
            Some(json!({"verification_status": "approved"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut announced = 0;
    for _ in 0..10 {
        let n = api.app.catalog.announce_product_events().await.unwrap();
        if n == 0 {
            break;
        }
        announced += n;
    }
    assert!(announced >= 2);
    // Announced entries left the outbox.
    let left: Vec<_> = api
        .app
        .catalog
        .products
        .unannounced_history(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.product_id.to_string() == id)
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let ours = |kind: &str| -> Vec<Value> {
        api.events
            .events(kind)
            .into_iter()
            .filter(|e| e["data"]["product_id"] == id.as_str())
            .collect()
    };
    let created = ours("product.created");
    let approved = ours("product.approved");
    assert_eq!(
        (created.len(), approved.len()),
        (1, 1),
        "{created:?} {approved:?}"
    );
    assert_eq!(created[0]["store_id"], "_catalog");
    assert_eq!(created[0]["data"]["version"], 1);
    assert_eq!(approved[0]["data"]["version"], 2);
    assert_eq!(
        approved[0]["data"]["changes"]["verification_status"]["after"],
        "approved"
    );
    assert_ne!(created[0]["id"], approved[0]["id"]);
    // Nothing is left to announce.
    assert_eq!(api.app.catalog.announce_product_events().await.unwrap(), 0);
    assert_eq!(ours("product.created").len(), 1);

    // A store's owner cannot subscribe to them; an admin under _catalog can, and gets them.
    let owner = api.token(Role::StoreOwner, &[STORE]);
    let r = api
        .post(
            &format!("/v1/stores/{STORE}/webhooks"),
            &owner,
            json!({"url": "https://x.example.com/h", "events": ["product.created"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("wrong_place")),
        "{r:?}"
    );
    let (url, got) = receiver(204).await;
    let r = api
        .post(
            "/v1/stores/_catalog/webhooks",
            &api.admin(),
            json!({"url": url, "events": ["product.approved"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let event: Event = serde_json::from_value(approved[0].clone()).unwrap();
    assert_eq!(
        api.app.webhooks.deliver_event(&event).await.unwrap(),
        vec![Attempted::Delivered]
    );
    let got = got.all();
    assert_eq!(got.len(), 1);
    assert!(verify(&secret, &got[0].0, &got[0].1));
}

api_cases!(
    product_changes_are_announced_once,
    a_failing_receiver_is_retried_then_parked,
    a_process_without_a_sender_claims_nothing,
    private_targets_are_refused_under_the_aws_configuration,
    webhooks_are_managed_by_the_stores_owners,
);

mod end_to_end {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn embedded_job_completed_reaches_the_receiver_signed() {
        super::embedded_job_completed_reaches_the_receiver_signed(
            &catalog_tests::TestApi::embedded().await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn aws_job_completed_goes_through_the_bus_and_the_queue() {
        super::aws_job_completed_goes_through_the_bus_and_the_queue().await
    }
}

// ---------- the storage contract ----------

fn webhook(store: &str, events: &[EventType]) -> Webhook {
    Webhook {
        webhook_id: WebhookId::new(),
        store_id: StoreId::parse(store).unwrap(),
        url: "https://pos.example.com/hook".into(),
        events: events.iter().copied().collect::<BTreeSet<_>>(),
        description: "POS".into(),
        created_by: "owner".into(),
        created_at: Timestamp::now(),
    }
}

fn event_at(store: &str, at: Timestamp) -> Event {
    let mut job = CsvJob::new(JobId::new(), StoreId::parse(store).unwrap(), "t", at);
    job.completed_at = Some(at);
    Event::job_completed(&job)
}

async fn webhooks_are_kept_per_store(s: &Stores) {
    let store = format!("wh-{}", uuid::Uuid::new_v4().simple());
    let a = webhook(&store, &[EventType::JobCompleted]);
    let b = webhook(
        &store,
        &[EventType::InventoryLowStock, EventType::InventoryOutOfStock],
    );
    let elsewhere = webhook(&format!("{store}-x"), &[EventType::JobCompleted]);
    for w in [&a, &b, &elsewhere] {
        s.accounts.insert_webhook(w).await.unwrap();
    }
    assert!(matches!(
        s.accounts.insert_webhook(&a).await,
        Err(StorageError::AlreadyExists)
    ));
    let sid = StoreId::parse(&store).unwrap();
    assert_eq!(
        s.accounts.get_webhook(&sid, &a.webhook_id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        s.accounts
            .get_webhook(&sid, &elsewhere.webhook_id)
            .await
            .unwrap(),
        None
    );
    let mut all = s.accounts.webhooks_of(&sid).await.unwrap();
    all.sort_by_key(|w| w.webhook_id);
    let mut want = vec![a.clone(), b.clone()];
    want.sort_by_key(|w| w.webhook_id);
    assert_eq!(all, want);
    s.accounts
        .delete_webhook(&sid, &a.webhook_id)
        .await
        .unwrap();
    assert!(matches!(
        s.accounts.delete_webhook(&sid, &a.webhook_id).await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(s.accounts.webhooks_of(&sid).await.unwrap(), vec![b]);
}

async fn a_delivery_is_written_once_and_changed_over_its_version(s: &Stores) {
    let store = format!("wd-{}", uuid::Uuid::new_v4().simple());
    let w = webhook(&store, &[EventType::JobCompleted]);
    let now = Timestamp::now();
    let d = Delivery::new(&w, &event_at(&store, now), now);
    s.accounts.insert_delivery(&d).await.unwrap();
    assert!(matches!(
        s.accounts.insert_delivery(&d).await,
        Err(StorageError::AlreadyExists)
    ));
    // Two runs claim it from the same read: one wins.
    let held = d.claimed(now);
    s.accounts.update_delivery(&held).await.unwrap();
    assert!(matches!(
        s.accounts.update_delivery(&d.claimed(now)).await,
        Err(StorageError::VersionConflict { current: Some(2) })
    ));
    let done = held.delivered(now, 200);
    s.accounts.update_delivery(&done).await.unwrap();
    let page = s
        .accounts
        .deliveries_of(
            &w.store_id,
            &w.webhook_id,
            &PageQuery {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items, vec![done]);
    let missing = Delivery::new(&w, &event_at(&store, now), now).claimed(now);
    assert!(matches!(
        s.accounts.update_delivery(&missing).await,
        Err(StorageError::NotFound)
    ));
}

async fn due_deliveries_are_found_until_they_are_done(s: &Stores) {
    let store = format!("wdue-{}", uuid::Uuid::new_v4().simple());
    let w = webhook(&store, &[EventType::JobCompleted]);
    // Far in the future, so no other test's deliveries come before them.
    let t0 = Timestamp::now().plus(time::Duration::days(3650));
    let at = |s: i64| t0.plus(time::Duration::seconds(s));
    let mut ds = Vec::new();
    for i in 0..3 {
        let d = Delivery::new(&w, &event_at(&store, at(i)), at(10 - i));
        s.accounts.insert_delivery(&d).await.unwrap();
        ds.push(d);
    }
    let ours = |found: Vec<Delivery>| {
        found
            .into_iter()
            .filter(|d| d.store_id.as_str() == store)
            .map(|d| d.delivery_id)
            .collect::<Vec<_>>()
    };
    // Due at 8, 9 and 10: by 9, the last two, longest due first.
    assert_eq!(
        ours(s.accounts.due_deliveries(at(9), 1000).await.unwrap()),
        vec![ds[2].delivery_id, ds[1].delivery_id]
    );
    // Held for a minute, a delivery is not due; done, never again.
    s.accounts
        .update_delivery(&ds[2].claimed(at(9)))
        .await
        .unwrap();
    let held = ds[1].claimed(at(9));
    s.accounts.update_delivery(&held).await.unwrap();
    s.accounts
        .update_delivery(&held.delivered(at(9), 204))
        .await
        .unwrap();
    assert_eq!(
        ours(s.accounts.due_deliveries(at(30), 1000).await.unwrap()),
        vec![ds[0].delivery_id]
    );
    assert_eq!(
        ours(s.accounts.due_deliveries(at(120), 1000).await.unwrap()),
        vec![ds[0].delivery_id, ds[2].delivery_id]
    );
}

async fn deliveries_page_newest_event_first(s: &Stores) {
    let store = format!("wp-{}", uuid::Uuid::new_v4().simple());
    let w = webhook(&store, &[EventType::JobCompleted]);
    let other = webhook(&store, &[EventType::JobCompleted]);
    let t0 = Timestamp::now();
    let mut want = Vec::new();
    for i in 0..5 {
        let at = t0.plus(time::Duration::seconds(i));
        let d = Delivery::new(&w, &event_at(&store, at), at);
        s.accounts.insert_delivery(&d).await.unwrap();
        s.accounts
            .insert_delivery(&Delivery::new(&other, &event_at(&store, at), at))
            .await
            .unwrap();
        want.push(d.delivery_id);
    }
    want.reverse();
    let (mut got, mut after) = (Vec::new(), None);
    loop {
        let page = s
            .accounts
            .deliveries_of(&w.store_id, &w.webhook_id, &PageQuery { after, limit: 2 })
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        got.extend(page.items.iter().map(|d| d.delivery_id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(got, want);
    assert!(matches!(
        s.accounts
            .deliveries_of(
                &w.store_id,
                &w.webhook_id,
                &PageQuery {
                    after: Some(Continuation("K#elsewhere".into())),
                    limit: 2
                }
            )
            .await,
        Err(StorageError::BadContinuation)
    ));
}

store_cases!(
    contract_embedded:
    webhooks_are_kept_per_store,
    a_delivery_is_written_once_and_changed_over_its_version,
    due_deliveries_are_found_until_they_are_done,
    deliveries_page_newest_event_first,
);

#[test]
fn delivery_status_names_are_stable() {
    assert_eq!(
        serde_json::to_value(DeliveryStatus::Failed).unwrap(),
        "failed"
    );
}
