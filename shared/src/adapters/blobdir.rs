//! Local blob storage: a folder per bucket, with presigned URLs served by the local server.
//!
//! Owns the on-disk layout (`<root>/objects/<key>` and `<root>/meta/<key>` holding the content
//! type) and the local presigned-URL scheme: `<base>/_local/blobs/<bucket>/<key>?expires=..&
//! signature=..` (plus `content_type` and `content_length` for uploads), HMAC-signed so the
//! local server can check a URL exactly as S3 would: method, key, expiry and, for uploads, the
//! declared type and size.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::Timestamp;
use crate::ports::{
    Blob, BlobKey, BlobReader, BlobStore, PresignedRequest, StorageError, StorageResult,
};

/// The path prefix the local server serves presigned blob URLs under.
pub const LOCAL_BLOB_PATH: &str = "/_local/blobs";

#[derive(Clone)]
pub struct BlobDir {
    root: PathBuf,
    bucket: String,
    base_url: String,
    key: [u8; 32],
}

impl std::fmt::Debug for BlobDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobDir")
            .field("root", &self.root)
            .field("bucket", &self.bucket)
            .finish()
    }
}

/// What a verified presigned URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Get,
    Put {
        content_type: String,
        content_length: u64,
    },
}

impl BlobDir {
    /// `root` is this bucket's folder; `base_url` is where the local server listens;
    /// `secret` signs presigned URLs.
    pub fn new(root: &Path, bucket: &str, base_url: &str, secret: &[u8]) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("objects"))?;
        std::fs::create_dir_all(root.join("meta"))?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
        mac.update(b"kirana-catalog local blob urls v1");
        Ok(Self {
            root: root.to_path_buf(),
            bucket: bucket.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            key: mac.finalize().into_bytes().into(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The file that holds blob `key`.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.object_path(key)
    }

    fn object_path(&self, key: &BlobKey) -> PathBuf {
        self.root.join("objects").join(key.as_str())
    }

    fn meta_path(&self, key: &BlobKey) -> PathBuf {
        self.root.join("meta").join(key.as_str())
    }

    fn sign(
        &self,
        method: &str,
        key: &BlobKey,
        expires: i64,
        content_type: &str,
        content_length: &str,
    ) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("32-byte key");
        for part in [
            method,
            &self.bucket,
            key.as_str(),
            &expires.to_string(),
            content_type,
            content_length,
        ] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        B64.encode(mac.finalize().into_bytes())
    }

    fn url(&self, key: &BlobKey, query: &[(&str, String)]) -> String {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        format!(
            "{}{LOCAL_BLOB_PATH}/{}/{}?{}",
            self.base_url,
            self.bucket,
            key,
            q.join("&")
        )
    }

    /// Checks a presigned request's query (`method` is the HTTP method used).
    pub fn verify(
        &self,
        method: &str,
        key: &BlobKey,
        query: &std::collections::HashMap<String, String>,
        now: Timestamp,
    ) -> Result<Grant, String> {
        let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
        let expires: i64 = get("expires")
            .parse()
            .map_err(|_| "the URL has no valid expiry".to_string())?;
        if now.unix_seconds() > expires {
            return Err("the URL has expired".into());
        }
        let (ct, cl) = (get("content_type"), get("content_length"));
        let expected = self.sign(method, key, expires, ct, cl);
        let given = B64
            .decode(get("signature"))
            .map_err(|_| "the URL signature is malformed".to_string())?;
        let want = B64.decode(&expected).expect("we encoded it");
        if given.len() != want.len() || !constant_time_eq(&given, &want) {
            return Err("the URL signature does not match".into());
        }
        match method {
            "GET" => Ok(Grant::Get),
            "PUT" => Ok(Grant::Put {
                content_type: ct.to_string(),
                content_length: cl
                    .parse()
                    .map_err(|_| "the URL has no valid content length".to_string())?,
            }),
            _ => Err(format!("{method} is not allowed")),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn io_err(e: std::io::Error) -> StorageError {
    StorageError::backend(e)
}

/// Writes `bytes` to `path` atomically (temporary file, then rename).
async fn write_atomic(path: &Path, bytes: &[u8]) -> StorageResult<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io_err)?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("blob"),
        uuid::Uuid::new_v4()
    ));
    tokio::fs::write(&tmp, bytes).await.map_err(io_err)?;
    tokio::fs::rename(&tmp, path).await.map_err(io_err)
}

#[async_trait]
impl BlobStore for BlobDir {
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> StorageResult<()> {
        write_atomic(&self.meta_path(key), content_type.as_bytes()).await?;
        write_atomic(&self.object_path(key), &bytes).await
    }

    async fn get(&self, key: &BlobKey) -> StorageResult<Option<Blob>> {
        let bytes = match tokio::fs::read(self.object_path(key)).await {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let content_type = tokio::fs::read_to_string(self.meta_path(key))
            .await
            .unwrap_or_else(|_| "application/octet-stream".to_string());
        Ok(Some(Blob {
            bytes,
            content_type,
        }))
    }

    async fn open(&self, key: &BlobKey) -> StorageResult<Option<BlobReader>> {
        let file = match tokio::fs::File::open(self.object_path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let size = file.metadata().await.map_err(io_err)?.len();
        Ok(Some(BlobReader {
            size,
            etag: None,
            reader: Box::new(file),
        }))
    }

    async fn delete(&self, key: &BlobKey) -> StorageResult<()> {
        for p in [self.object_path(key), self.meta_path(key)] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &BlobKey,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> StorageResult<PresignedRequest> {
        let expires_at =
            Timestamp::now().plus(time::Duration::try_from(ttl).map_err(StorageError::backend)?);
        let exp = expires_at.unix_seconds();
        let cl = content_length.to_string();
        let signature = self.sign("PUT", key, exp, content_type, &cl);
        Ok(PresignedRequest {
            method: "PUT".into(),
            url: self.url(
                key,
                &[
                    ("expires", exp.to_string()),
                    ("content_type", content_type.to_string()),
                    ("content_length", cl.clone()),
                    ("signature", signature),
                ],
            ),
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("content-length".into(), cl),
            ],
            expires_at,
        })
    }

    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> StorageResult<PresignedRequest> {
        let expires_at =
            Timestamp::now().plus(time::Duration::try_from(ttl).map_err(StorageError::backend)?);
        let exp = expires_at.unix_seconds();
        let signature = self.sign("GET", key, exp, "", "");
        Ok(PresignedRequest {
            method: "GET".into(),
            url: self.url(
                key,
                &[("expires", exp.to_string()), ("signature", signature)],
            ),
            headers: vec![],
            expires_at,
        })
    }
}
