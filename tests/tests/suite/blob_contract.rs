//! The blob-store contract, on S3 (ministack) and on the local blob folder (through the local
//! server, which serves its presigned URLs). Test names say which: `s3::...`, `embedded::...`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use catalog_core::ports::{BlobKey, BlobStore, PresignedRequest};

/// A blob store under test, and whatever keeps it alive.
struct Fixture {
    store: Arc<dyn BlobStore>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn s3() -> Fixture {
    Fixture {
        store: Arc::new(catalog_tests::s3_blobs().await),
        _keep: Box::new(()),
    }
}

async fn embedded() -> Fixture {
    let api = catalog_tests::TestApi::embedded().await;
    Fixture {
        store: api.app.catalog.uploads.clone(),
        _keep: Box::new(api),
    }
}

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).unwrap()
}

async fn send(
    p: &PresignedRequest,
    body: Option<Vec<u8>>,
    override_headers: &[(&str, &str)],
) -> (u16, Vec<u8>) {
    let client = reqwest::Client::new();
    let mut req = client.request(p.method.parse().unwrap(), &p.url);
    for (k, v) in &p.headers {
        if !override_headers
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(k))
            && !k.eq_ignore_ascii_case("content-length")
        {
            req = req.header(k, v);
        }
    }
    for (k, v) in override_headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

async fn put_get_delete(f: Fixture) {
    let k = key("imports/store-1/0190f1a2.csv");
    assert_eq!(f.store.get(&k).await.unwrap(), None);
    f.store
        .put(&k, Bytes::from_static(b"name,qty\nSalt,3\n"), "text/csv")
        .await
        .unwrap();
    let blob = f.store.get(&k).await.unwrap().unwrap();
    assert_eq!(
        (blob.bytes.as_ref(), blob.content_type.as_str()),
        (&b"name,qty\nSalt,3\n"[..], "text/csv")
    );
    f.store
        .put(&k, Bytes::from_static(b"replaced"), "text/csv")
        .await
        .unwrap();
    assert_eq!(
        f.store.get(&k).await.unwrap().unwrap().bytes.as_ref(),
        b"replaced"
    );
    f.store.delete(&k).await.unwrap();
    assert_eq!(f.store.get(&k).await.unwrap(), None);
    f.store.delete(&k).await.unwrap();
}

async fn large_blobs_stream(f: Fixture) {
    use tokio::io::AsyncReadExt;
    let k = key("imports/store-1/big.csv");
    assert!(f.store.open(&k).await.unwrap().is_none());
    // 3 MiB of rows, more than any single read returns.
    let body: Vec<u8> = (0..150_000u32)
        .flat_map(|i| format!("item {i:09},{}\n", i % 97).into_bytes())
        .collect();
    f.store
        .put(&k, Bytes::from(body.clone()), "text/csv")
        .await
        .unwrap();
    let mut opened = f.store.open(&k).await.unwrap().unwrap();
    assert_eq!(opened.size, body.len() as u64);
    let (mut got, mut buf, mut reads) = (Vec::new(), vec![0u8; 64 * 1024], 0);
    loop {
        let n = opened.reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        got.extend_from_slice(&buf[..n]);
    }
    assert!(reads > 1);
    assert!(got == body, "streamed bytes differ from the uploaded ones");
}

async fn presigned_upload_then_download(f: Fixture) {
    let k = key("imports/store-1/presigned.csv");
    let body = "name,qty\nहल्दी,2\n".as_bytes().to_vec();
    let up = f
        .store
        .presign_put(&k, "text/csv", body.len() as u64, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(up.method, "PUT");
    let (status, _) = send(&up, Some(body.clone()), &[]).await;
    assert_eq!(status, 200, "presigned PUT");
    assert_eq!(f.store.get(&k).await.unwrap().unwrap().bytes.to_vec(), body);

    let down = f
        .store
        .presign_get(&k, Duration::from_secs(300))
        .await
        .unwrap();
    let (status, got) = send(&down, None, &[]).await;
    assert_eq!((status, got), (200, body));
}

async fn presigned_uploads_are_bound_to_type_and_url(f: Fixture) {
    let k = key("imports/store-1/bound.csv");
    let body = b"name\nSugar\n".to_vec();
    let up = f
        .store
        .presign_put(&k, "text/csv", body.len() as u64, Duration::from_secs(300))
        .await
        .unwrap();
    let (status, _) = send(
        &up,
        Some(body.clone()),
        &[("content-type", "application/x-sh")],
    )
    .await;
    assert!(
        status == 403 || status == 400,
        "another content type must be refused, got {status}"
    );
    let mut tampered = up.clone();
    tampered.url = tampered.url.replace("bound.csv", "other.csv");
    let (status, _) = send(&tampered, Some(body), &[]).await;
    assert!(
        status == 403 || status == 400,
        "another key must be refused, got {status}"
    );
    assert_eq!(f.store.get(&k).await.unwrap(), None);
    assert_eq!(
        f.store
            .get(&key("imports/store-1/other.csv"))
            .await
            .unwrap(),
        None
    );
}

macro_rules! blob_cases {
    ($($case:ident),* $(,)?) => {
        mod s3 {
            $( #[tokio::test] async fn $case() { super::$case(super::s3().await).await } )*
        }
        mod embedded {
            $( #[tokio::test] async fn $case() { super::$case(super::embedded().await).await } )*
        }
    };
}

blob_cases!(
    put_get_delete,
    large_blobs_stream,
    presigned_upload_then_download,
    presigned_uploads_are_bound_to_type_and_url
);
