//! S3 blob storage: one bucket per store of blobs (uploads, images), presigned URLs for clients.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::domain::Timestamp;
use crate::ports::{
    Blob, BlobKey, BlobReader, BlobStore, IMMUTABLE_CACHE_CONTROL, PresignedRequest, StorageError,
    StorageResult,
};

#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Stores `bytes` under `key`, with a `Cache-Control` when one is given.
    async fn put_object(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        content_type: &str,
        cache_control: Option<&str>,
    ) -> StorageResult<()> {
        let budget = put_budget(bytes.len());
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .set_cache_control(cache_control.map(str::to_string))
            .body(ByteStream::from(bytes))
            .customize()
            .config_override(aws_sdk_s3::config::Builder::default().timeout_config(budget))
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// The object under `key` (its body not yet read), or `None` if there is none.
    async fn get_object(
        &self,
        key: &BlobKey,
    ) -> StorageResult<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                Ok(None)
            }
            Err(e) => Err(s3_err(e)),
        }
    }
}

/// The slowest upload a PUT's budget allows for, in bytes per second.
const MIN_UPLOAD_BYTES_PER_SEC: u64 = 2 * 1024 * 1024;

/// A PUT's budget: the read timeout would also cover sending the body, so there is none; an
/// attempt has the usual budget plus the time to send `len` bytes at
/// [`MIN_UPLOAD_BYTES_PER_SEC`] (an 80 MB index snapshot: 50 s), and the call three attempts.
fn put_budget(len: usize) -> aws_smithy_types::timeout::TimeoutConfig {
    use crate::app::budgets::{CONNECT, S3_ATTEMPT};
    let attempt = S3_ATTEMPT + Duration::from_secs(len as u64 / MIN_UPLOAD_BYTES_PER_SEC);
    // Disabled, not unset: an unset field of an override keeps the client's.
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT)
        .disable_read_timeout()
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * 3)
        .build()
}

fn s3_err<E, R>(e: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StorageError::Unavailable(Box::new(e))
        }
        SdkError::ServiceError(ref s)
            if matches!(
                s.err().code(),
                Some("SlowDown" | "ServiceUnavailable" | "InternalError")
            ) =>
        {
            StorageError::Unavailable(Box::new(e))
        }
        other => StorageError::Backend(Box::new(other)),
    }
}

fn presigning(ttl: Duration) -> StorageResult<PresigningConfig> {
    PresigningConfig::expires_in(ttl).map_err(StorageError::backend)
}

fn presigned(p: aws_sdk_s3::presigning::PresignedRequest, ttl: Duration) -> PresignedRequest {
    PresignedRequest {
        method: p.method().to_string(),
        url: p.uri().to_string(),
        headers: p
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        expires_at: Timestamp::now()
            .plus(time::Duration::try_from(ttl).unwrap_or(time::Duration::ZERO)),
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    /// A function may read the probe key but not list the bucket (its keys are customers'
    /// files), so S3 answers the absent key with 403 AccessDenied rather than 404: either
    /// means the bucket is there and answering.
    async fn probe(&self) -> StorageResult<()> {
        let key = BlobKey::probe();
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => Ok(()),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("AccessDenied") => Ok(()),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> StorageResult<()> {
        self.put_object(key, bytes, content_type, None).await
    }

    async fn put_immutable(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        content_type: &str,
    ) -> StorageResult<()> {
        self.put_object(key, bytes, content_type, Some(IMMUTABLE_CACHE_CONTROL))
            .await
    }

    async fn get(&self, key: &BlobKey) -> StorageResult<Option<Blob>> {
        let Some(out) = self.get_object(key).await? else {
            return Ok(None);
        };
        let content_type = out
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(Box::new(e)))?
            .into_bytes();
        Ok(Some(Blob {
            bytes,
            content_type,
        }))
    }

    async fn open(&self, key: &BlobKey) -> StorageResult<Option<BlobReader>> {
        let Some(out) = self.get_object(key).await? else {
            return Ok(None);
        };
        let size = out
            .content_length
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0);
        let etag = out
            .e_tag
            .as_deref()
            .map(|t| t.trim_matches('"').to_string());
        Ok(Some(BlobReader {
            size,
            etag,
            reader: Box::new(out.body.into_async_read()),
        }))
    }

    async fn delete(&self, key: &BlobKey) -> StorageResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &BlobKey,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> StorageResult<PresignedRequest> {
        let p = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .content_length(i64::try_from(content_length).map_err(StorageError::backend)?)
            .presigned(presigning(ttl)?)
            .await
            .map_err(s3_err)?;
        Ok(presigned(p, ttl))
    }

    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> StorageResult<PresignedRequest> {
        let p = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning(ttl)?)
            .await
            .map_err(s3_err)?;
        Ok(presigned(p, ttl))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::put_budget;

    #[test]
    fn a_put_has_time_for_its_size_and_no_read_timeout() {
        let snapshot = put_budget(80 * 1024 * 1024);
        assert_eq!(
            snapshot.operation_attempt_timeout(),
            Some(Duration::from_secs(50))
        );
        assert_eq!(snapshot.operation_timeout(), Some(Duration::from_secs(150)));
        assert_eq!(snapshot.read_timeout(), None);
        assert_eq!(
            put_budget(1000).operation_attempt_timeout(),
            Some(Duration::from_secs(10))
        );
    }
}
