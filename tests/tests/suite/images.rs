//! Product images and stores' photos of their items through the API, on the embedded backend (the local server processes an
//! upload when it lands, as S3's notification does in AWS) and on DynamoDB Local + ministack
//! S3 (the upload goes to S3; the test hands its key to the processing, as the queue would).

use std::time::Duration;

use catalog_core::auth::Role;
use catalog_core::services::images::ProcessedUpload;
use catalog_tests::TestApi;
use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, Rgb, RgbImage};
use serde_json::{Value, json};

/// A photo-like JPEG drawn here.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        let disc = (x as i64 - 200).pow(2) + (y as i64 - 150).pow(2) < 90 * 90;
        Rgb([
            (x % 256) as u8,
            if disc { 220 } else { (y % 256) as u8 },
            90,
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 88)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The blob key a presigned upload URL puts to (`uploads/...`, up to its query).
fn key_of(upload: &Value) -> String {
    let url = upload["url"].as_str().unwrap();
    let from = url.find("/uploads/").expect("an upload key in the URL") + 1;
    let to = url.find('?').unwrap_or(url.len());
    url[from..to].to_string()
}

/// Asks for an upload of `bytes` to `product`, PUTs them, and has the upload processed;
/// answers the product once it says what became of this upload.
async fn add_image(api: &TestApi, token: &str, product: &str, bytes: &[u8]) -> Value {
    let r = api
        .post(
            &format!("/v1/products/{product}/images"),
            token,
            json!({"content_length": bytes.len(), "content_type": "image/jpeg"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let upload_id = r.body["upload_id"].as_str().unwrap().to_string();
    let upload = &r.body["upload"];
    let mut req = api.http.put(upload["url"].as_str().unwrap());
    for h in upload["headers"].as_array().unwrap() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    let res = req.body(bytes.to_vec()).send().await.unwrap();
    assert!(
        res.status().is_success(),
        "upload refused: {}",
        res.status()
    );
    // As the queue delivers S3's notification (the local server has started on it already:
    // processing an upload twice is safe).
    let key = key_of(upload);
    assert!(
        key.starts_with(&format!("uploads/products/{product}/{upload_id}.")),
        "{key}"
    );
    api.app.catalog.process_upload(&key).await.unwrap();
    for _ in 0..100 {
        let p = api
            .get(&format!("/v1/products/{product}"), token)
            .await
            .body;
        if p["image_state"]["upload_id"] == upload_id.as_str() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("upload {upload_id} was never processed");
}

async fn images_are_processed_stored_once_and_served(api: &TestApi) {
    let admin = api.admin();
    let create = |name: &'static str| {
        let admin = admin.clone();
        async move {
            let r = api
                .post(
                    "/v1/products",
                    &admin,
                    json!({"name": name, "brand": "Parle"}),
                )
                .await;
            assert_eq!(r.status, 201, "{r:?}");
            (
                r.body["product_id"].as_str().unwrap().to_string(),
                r.body["quality_score"].as_u64().unwrap(),
            )
        }
    };
    let (first, score) = create("Parle-G Biscuits 250 g").await;
    let bytes = photo(1200, 800);
    let p = add_image(api, &admin, &first, &bytes).await;
    assert_eq!(p["image_state"]["status"], "ready", "{p}");
    let hash = p["image_hash"].as_str().unwrap().to_string();
    let thumb = p["canonical_image_urls"]["thumbnail"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(thumb, format!("/images/sha256/{hash}/thumbnail.jpg"));
    assert_eq!(p["quality_score"].as_u64().unwrap(), score + 15);
    assert_eq!(p["image_perceptual_hash"].as_str().unwrap().len(), 16);
    let r = api
        .get(&format!("/v1/products/{first}/history?limit=1"), &admin)
        .await;
    assert_eq!(r.body["items"][0]["action"], "image", "{r:?}");
    // By whom: the admin who asked for the upload, not the processing function.
    assert_eq!(r.body["items"][0]["actor"]["role"], "admin", "{r:?}");

    // Served as the PWA would ask, immutable.
    let res = api
        .http
        .get(format!("{}{thumb}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let got = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((got.width(), got.height()), (160, 107));
    let res = api
        .http
        .get(format!("{}/images/sha256/{hash}/nothing.jpg", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // The same image on a second product: stored once, and the second says whose it is.
    let (second, _) = create("Parle G Glucose Biscuit 250g").await;
    let p2 = add_image(api, &admin, &second, &bytes).await;
    assert_eq!(p2["image_hash"], hash.as_str());
    assert_eq!(p2["same_image_as"], json!([first]));
    // A copy at half size, recompressed, on a third: a near copy of the first two.
    let (third, _) = create("Parle G 250 g pack").await;
    let half = image::load_from_memory(&bytes)
        .unwrap()
        .resize(600, 400, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut copy = Vec::new();
    JpegEncoder::new_with_quality(&mut copy, 60)
        .write_image(
            half.as_raw(),
            half.width(),
            half.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    let p3 = add_image(api, &admin, &third, &copy).await;
    assert_ne!(p3["image_hash"], hash.as_str());
    let similar: Vec<&str> = p3["similar_image_as"]
        .as_array()
        .unwrap_or_else(|| panic!("{p3}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        similar.contains(&first.as_str()) && similar.contains(&second.as_str()),
        "{p3}"
    );
    let r = api.get("/v1/review?limit=100", &admin).await;
    let item = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product"]["product_id"] == third.as_str())
        .unwrap()
        .clone();
    let flag = item["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["product_id"] == first.as_str())
        .unwrap_or_else(|| panic!("{item}"))
        .clone();
    assert_eq!(flag["reasons"], json!(["near_identical_image"]), "{flag}");
    // The review queue shows it, whatever the names.
    let r = api.get("/v1/review?limit=100", &admin).await;
    let item = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product"]["product_id"] == second.as_str())
        .unwrap_or_else(|| panic!("{r:?}"))
        .clone();
    let flag = item["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["product_id"] == first.as_str())
        .unwrap_or_else(|| panic!("{item}"))
        .clone();
    assert!(
        flag["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("same_image")),
        "{flag}"
    );
    // And the image finds both.
    let r = api
        .get(&format!("/v1/products?image_hash={hash}"), &admin)
        .await;
    let mut found: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_id"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    let mut both = [first.as_str(), second.as_str()];
    both.sort_unstable();
    assert_eq!(found, both, "{r:?}");
    let r = api.get("/v1/products?image_hash=ABC", &admin).await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_image_hash");
    let r = api
        .get(&format!("/v1/products?image_hash={hash}&q=salt"), &admin)
        .await;
    assert_eq!(r.body["errors"][0]["code"], "exclusive");

    // Files that are not usable images: the product says why; its image stays.
    let zip = b"PK\x03\x04\x14\0\0\0\x08\0a zip renamed .jpg".to_vec();
    let p = add_image(api, &admin, &first, &zip).await;
    assert_eq!(p["image_state"]["status"], "failed");
    assert_eq!(p["image_state"]["code"], "image_unsupported_format");
    assert_eq!(p["image_hash"], hash.as_str());
    let cut = bytes[..bytes.len() / 2].to_vec();
    let p = add_image(api, &admin, &first, &cut).await;
    assert_eq!(p["image_state"]["code"], "image_corrupt");
}

async fn who_may_add_an_image(api: &TestApi) {
    let admin = api.admin();
    let owner = api.token(Role::StoreOwner, &["s1"]);
    let mine = api
        .post(
            "/v1/products",
            &owner,
            json!({"name": "Homemade Pickle 500 g"}),
        )
        .await;
    let mine = mine.body["product_id"].as_str().unwrap().to_string();
    let theirs = api.create_product("Tata Tea Gold 500 g", None).await;
    let ask = |token: String, product: String, body: Value| async move {
        api.post(&format!("/v1/products/{product}/images"), &token, body)
            .await
    };
    let jpeg = json!({"content_length": 1000, "content_type": "image/jpeg"});
    assert_eq!(
        ask(owner.clone(), mine.clone(), jpeg.clone()).await.status,
        201
    );
    let r = ask(owner.clone(), theirs.clone(), jpeg.clone()).await;
    assert_eq!((r.status, r.code()), (403, "forbidden_product"));
    let scanner = api.token(Role::Scanner, &["s1"]);
    let r = ask(scanner, theirs.clone(), jpeg.clone()).await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    let r = ask(
        admin.clone(),
        theirs.clone(),
        json!({"content_length": 16 * 1024 * 1024, "content_type": "image/gif"}),
    )
    .await;
    assert_eq!(r.status, 422, "{r:?}");
    let codes: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["file_too_large", "unsupported_type"]);
    let r = ask(
        admin.clone(),
        theirs.clone(),
        json!({"content_type": "image/png"}),
    )
    .await;
    assert_eq!(r.body["errors"][0]["code"], "required");
    // An upload key that is not one, or one processed already, changes nothing.
    assert!(matches!(
        api.app
            .catalog
            .process_upload("uploads/products/nope/x")
            .await
            .unwrap(),
        ProcessedUpload::NotAnUpload
    ));
    let gone = format!("uploads/products/{theirs}/0b7c6d1e-0000-4000-8000-000000000000");
    assert!(matches!(
        api.app.catalog.process_upload(&gone).await.unwrap(),
        ProcessedUpload::Gone
    ));
}

/// As in AWS: the upload to S3 notifies the image queue, and the queue's message is what the
/// image-process function runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_to_s3_reaches_image_process_through_the_queue() {
    let (api, rig) = TestApi::aws_with_imports().await;
    let admin = api.admin();
    let product = api.create_product("Amul Taaza Milk 1 L", None).await;
    let bytes = photo(640, 480);
    let r = api
        .post(
            &format!("/v1/products/{product}/images"),
            &admin,
            json!({"content_length": bytes.len(), "content_type": "image/jpeg"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let upload = &r.body["upload"];
    let mut req = api.http.put(upload["url"].as_str().unwrap());
    for h in upload["headers"].as_array().unwrap() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    assert!(req.body(bytes).send().await.unwrap().status().is_success());
    let messages = rig.receive(&rig.image_queue).await;
    let event = catalog_tests::AwsRig::lambda_event(&messages);
    let summary = catalog_core::triggers::IMAGE_PROCESS
        .call(api.app.clone(), event.clone(), Default::default())
        .await
        .unwrap();
    assert_eq!(summary["batchItemFailures"], json!([]), "{summary}");
    let p = api
        .get(&format!("/v1/products/{product}"), &admin)
        .await
        .body;
    assert_eq!(p["image_state"]["status"], "ready", "{p}");
    assert_eq!(p["image_state"]["upload_id"], r.body["upload_id"]);
    // The kept images say they never change (CloudFront and browsers cache them for good).
    let thumb = p["canonical_image_urls"]["thumbnail"].as_str().unwrap();
    let head = rig
        .s3
        .head_object()
        .bucket(&rig.images_bucket)
        .key(thumb.trim_start_matches('/'))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.cache_control(),
        Some(catalog_core::ports::IMMUTABLE_CACHE_CONTROL)
    );
    assert_eq!(head.content_type(), Some("image/jpeg"));
    // Redelivered (SQS delivers at least once): nothing changes.
    let again = catalog_core::triggers::IMAGE_PROCESS
        .call(api.app.clone(), event, Default::default())
        .await
        .unwrap();
    assert_eq!(again["batchItemFailures"], json!([]), "{again}");
    let after = api
        .get(&format!("/v1/products/{product}"), &admin)
        .await
        .body;
    assert_eq!(after["version"], p["version"]);
}

/// Asks for an upload and PUTs `bytes` to it without processing it; answers its key.
async fn upload_only(api: &TestApi, token: &str, product: &str, bytes: &[u8]) -> String {
    let route = format!("/v1/products/{product}/images");
    put_upload(api, token, &route, bytes).await.1
}

/// Asks `route` for an upload and PUTs `bytes` to it; answers the upload's id and key.
async fn put_upload(api: &TestApi, token: &str, route: &str, bytes: &[u8]) -> (String, String) {
    let r = api
        .post(
            route,
            token,
            json!({"content_length": bytes.len(), "content_type": "image/jpeg"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let upload = &r.body["upload"];
    let mut req = api.http.put(upload["url"].as_str().unwrap());
    for h in upload["headers"].as_array().unwrap() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    assert!(
        req.body(bytes.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    (
        r.body["upload_id"].as_str().unwrap().to_string(),
        key_of(upload),
    )
}

async fn a_later_upload_wins_whatever_the_order(api: &TestApi) {
    let admin = api.admin();
    let product = api.create_product("Britannia Marie Gold 250 g", None).await;
    let (older, newer) = (photo(300, 200), photo(320, 240));
    let first_key = upload_only(api, &admin, &product, &older).await;
    let second_key = upload_only(api, &admin, &product, &newer).await;
    // The later upload is processed first; the earlier one's delivery comes after (locally
    // the server has started on both as they landed: any order must end the same).
    api.app.catalog.process_upload(&second_key).await.unwrap();
    api.app.catalog.process_upload(&first_key).await.unwrap();
    let second = second_key.rsplit('/').next().unwrap();
    let second = second.split('.').next().unwrap().to_string();
    let mut p = Value::Null;
    for _ in 0..50 {
        p = api
            .get(&format!("/v1/products/{product}"), &admin)
            .await
            .body;
        if p["image_state"]["upload_id"] == second.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(p["image_state"]["upload_id"], second.as_str(), "{p}");
    let url = format!(
        "{}{}",
        api.base,
        p["canonical_image_urls"]["original"].as_str().unwrap()
    );
    let original = api
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        image::load_from_memory(&original).unwrap().width(),
        320,
        "the later upload's image stays"
    );
}

/// A store's own photo of its item: only its owners (and admins) may add one, it lands on
/// the item's `photo`, every other write keeps it, and a bad file says why while the photo
/// before it stays. The catalog product's image is not touched.
async fn a_store_photographs_its_item(api: &TestApi) {
    let admin = api.admin();
    let owner = api.token(Role::StoreOwner, &["store-p"]);
    let product = api.create_product("Haldiram Bhujia 200 g", None).await;
    let item = format!("/v1/stores/store-p/inventory/{product}");
    let route = format!("{item}/images");
    let body = json!({"content_length": 1000, "content_type": "image/jpeg"});
    // Not stocked yet: nothing to photograph.
    let r = api.post(&route, &owner, body.clone()).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("inventory_item_not_found")),
        "{r:?}"
    );
    let r = api
        .put(
            &item,
            &owner,
            json!({"quantity": "12", "selling_price": "40"}),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{r:?}");
    // Another store's owner, a scanner of this store: refused.
    let other = api.token(Role::StoreOwner, &["store-q"]);
    assert_eq!(api.post(&route, &other, body.clone()).await.status, 403);
    let scanner = api.token(Role::Scanner, &["store-p"]);
    assert_eq!(api.post(&route, &scanner, body.clone()).await.status, 403);
    // Bad requests say which field.
    let r = api
        .post(
            &route,
            &owner,
            json!({"content_length": 0, "content_type": "image/gif"}),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");

    let (upload, key) = put_upload(api, &owner, &route, &photo(800, 600)).await;
    assert!(
        key.starts_with(&format!("uploads/stores/store-p/{product}/{upload}.")),
        "{key}"
    );
    // Locally the server started on the upload as it landed: whichever of the two finishes
    // it first, the item then says what became of it.
    api.app.catalog.process_upload(&key).await.unwrap();
    let got = api.get(&item, &owner).await.body;
    let photo_of = &got["photo"];
    assert_eq!(photo_of["state"]["status"], "ready", "{got}");
    assert_eq!(photo_of["state"]["upload_id"], upload.as_str());
    let hash = photo_of["image_hash"].as_str().unwrap().to_string();
    let medium = photo_of["urls"]["medium"].as_str().unwrap();
    assert_eq!(medium, format!("/images/sha256/{hash}/medium.jpg"));
    let served = api
        .http
        .get(format!("{}{medium}", api.base))
        .send()
        .await
        .unwrap();
    // Locally the server serves it; in AWS CloudFront would (the test reads the bucket).
    if served.status().is_success() {
        let img = image::load_from_memory(&served.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (640, 480));
    }
    // The catalog product keeps its own (no) image.
    let p = api
        .get(&format!("/v1/products/{product}"), &admin)
        .await
        .body;
    assert!(p["canonical_image_urls"].is_null(), "{p}");
    // A sale, a count by PUT: the photo stays.
    let r = api
        .post(
            &format!("{item}/adjustments"),
            &owner,
            json!({"delta": "-2", "reason": "sale"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = api
        .put(
            &item,
            &owner,
            json!({"quantity": "7", "selling_price": "42"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["photo"]["image_hash"], hash.as_str(), "{}", r.body);
    // Processed again (a redelivery): nothing changes.
    let version = r.body["version"].clone();
    api.app.catalog.process_upload(&key).await.unwrap();
    assert_eq!(api.get(&item, &owner).await.body["version"], version);

    // A file that is not an image: the item says why, and the photo before it stays.
    let (_, bad) = put_upload(api, &owner, &route, b"<html>not a photo</html>").await;
    api.app.catalog.process_upload(&bad).await.unwrap();
    let got = api.get(&item, &owner).await.body;
    assert_eq!(got["photo"]["state"]["status"], "failed", "{got}");
    assert_eq!(
        got["photo"]["state"]["code"], "image_unsupported_format",
        "{got}"
    );
    assert_eq!(got["photo"]["image_hash"], hash.as_str());
    assert_eq!(got["quantity"], "7");
}

/// As in AWS: a store's photo uploaded to S3 reaches image-process through the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_photo_uploaded_to_s3_reaches_image_process_through_the_queue() {
    let (api, rig) = TestApi::aws_with_imports().await;
    let owner = api.token(Role::StoreOwner, &["store-s3"]);
    let product = api.create_product("Parle-G Biscuits 800 g", None).await;
    let item = format!("/v1/stores/store-s3/inventory/{product}");
    let r = api.put(&item, &owner, json!({"quantity": "3"})).await;
    assert!(r.status == 201 || r.status == 200, "{r:?}");
    let (upload, _) = put_upload(&api, &owner, &format!("{item}/images"), &photo(500, 400)).await;
    let messages = rig.receive(&rig.image_queue).await;
    let event = catalog_tests::AwsRig::lambda_event(&messages);
    let summary = catalog_core::triggers::IMAGE_PROCESS
        .call(api.app.clone(), event, Default::default())
        .await
        .unwrap();
    assert_eq!(summary["batchItemFailures"], json!([]), "{summary}");
    let got = api.get(&item, &owner).await.body;
    assert_eq!(got["photo"]["state"]["status"], "ready", "{got}");
    assert_eq!(got["photo"]["state"]["upload_id"], upload.as_str());
}

api_cases!(
    images_are_processed_stored_once_and_served,
    who_may_add_an_image,
    a_later_upload_wins_whatever_the_order,
    a_store_photographs_its_item
);
