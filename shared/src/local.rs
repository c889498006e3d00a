//! The local server: every route of the API on one port, plus the presigned blob URLs of the
//! embedded backend. `make run` starts it; integration tests start it on a free port.
//!
//! The API is the very router the Lambda functions run ([`routes::router`] over every route,
//! with the same layers); this module adds only the blob URLs S3 would serve in AWS. An upload
//! of an import's CSV to the local blob store runs the import trigger with a synthesized S3
//! notification, as S3 would in AWS. With no queue to redeliver what a crash interrupted,
//! [`sweep_stalled_work`] resumes unfinished imports whose claim has lapsed, announces stock
//! alerts still in the outbox and asks again for Open Food Facts lookups still queued, at
//! start and then every few seconds; [`enrich_products`] is the local `enrich` function and
//! [`deliver_webhooks`] the local `webhook-deliver`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response as AxumResponse};
use bytes::Bytes;
use http::{StatusCode, header};

use crate::adapters::blobdir::{BlobDir, Grant, LOCAL_BLOB_PATH};
use crate::api::routes;
use crate::app::App;
use crate::domain::Timestamp;
use crate::error_chain::ErrorChain;
use crate::http::Problem;
use crate::http::layers::{self, EdgeConfig};
use crate::ports::{BlobKey, BlobStore};

/// Largest blob accepted through a local presigned URL (the largest CSV an import takes).
pub const MAX_LOCAL_BLOB_BYTES: usize = crate::services::imports::MAX_UPLOAD_BYTES as usize;

/// A local import run's claim on its job between progress saves (every few seconds): short,
/// so that after a crash the sweep takes the job over soon.
pub const LOCAL_IMPORT_LEASE: time::Duration = time::Duration::seconds(15);
/// How often the local server looks for stalled imports.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone)]
struct Shared {
    app: Arc<App>,
    blobs: Arc<HashMap<String, BlobDir>>,
    import_lease: time::Duration,
}

/// Builds the router for `app`, with `blobs` served under `/_local/blobs/<bucket>/...`; an
/// upload of an import's CSV runs it with `import_lease` as its claim.
pub fn router(
    app: Arc<App>,
    blobs: Vec<BlobDir>,
    edge: &EdgeConfig,
    import_lease: time::Duration,
) -> Router {
    router_with(app, blobs, edge, import_lease, Router::new())
}

/// [`router`], with `extra` routes beside the API's, under the same layers: `catalog serve`
/// adds the web app's files. `extra` must not claim `/v1/...` paths, nor have a fallback (the
/// API's answers `route_not_found`).
pub fn router_with(
    app: Arc<App>,
    blobs: Vec<BlobDir>,
    edge: &EdgeConfig,
    import_lease: time::Duration,
    extra: Router,
) -> Router {
    let shared = Shared {
        import_lease,
        app: app.clone(),
        blobs: Arc::new(
            blobs
                .into_iter()
                .map(|b| (b.bucket().to_string(), b))
                .collect(),
        ),
    };
    let blob_routes = Router::new()
        .route(
            &format!("{LOCAL_BLOB_PATH}/{{bucket}}/{{*key}}"),
            axum::routing::get(blob_get).put(blob_put),
        )
        .route("/images/{*rest}", axum::routing::get(image_get))
        .with_state(shared);
    layers::apply(
        routes::router(app, routes::ALL.iter().copied())
            .merge(blob_routes)
            .merge(extra),
        edge,
    )
}

fn blob_problem(status: StatusCode, code: &str, detail: impl Into<String>) -> AxumResponse {
    Problem::new(status, code, detail).into_response()
}

fn blob_target<'a>(
    s: &'a Shared,
    bucket: &str,
    key: &str,
) -> Result<(&'a BlobDir, BlobKey), Box<AxumResponse>> {
    let dir = s.blobs.get(bucket).ok_or_else(|| {
        Box::new(blob_problem(
            StatusCode::NOT_FOUND,
            "bucket_not_found",
            format!("no bucket {bucket}"),
        ))
    })?;
    let key = BlobKey::parse(key)
        .map_err(|e| Box::new(blob_problem(StatusCode::BAD_REQUEST, "invalid_key", e)))?;
    Ok((dir, key))
}

fn query_map(q: Option<String>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn blob_get(
    State(s): State<Shared>,
    Path((bucket, key)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> AxumResponse {
    let (dir, key) = match blob_target(&s, &bucket, &key) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if let Err(e) = dir.verify("GET", &key, &query_map(q), Timestamp::now()) {
        return blob_problem(StatusCode::FORBIDDEN, "signature_invalid", e);
    }
    match dir.get(&key).await {
        Ok(Some(blob)) => ([(header::CONTENT_TYPE, blob.content_type)], blob.bytes).into_response(),
        Ok(None) => blob_problem(
            StatusCode::NOT_FOUND,
            "blob_not_found",
            format!("no blob {key}"),
        ),
        Err(e) => blob_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn blob_put(
    State(s): State<Shared>,
    Path((bucket, key)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    req: axum::extract::Request,
) -> AxumResponse {
    let (dir, key) = match blob_target(&s, &bucket, &key) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let (content_type, content_length) =
        match dir.verify("PUT", &key, &query_map(q), Timestamp::now()) {
            Ok(Grant::Put {
                content_type,
                content_length,
            }) => (content_type, content_length),
            Ok(Grant::Get) => {
                return blob_problem(
                    StatusCode::FORBIDDEN,
                    "signature_invalid",
                    "this URL is for downloads",
                );
            }
            Err(e) => return blob_problem(StatusCode::FORBIDDEN, "signature_invalid", e),
        };
    let sent_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent_type != content_type {
        return blob_problem(
            StatusCode::FORBIDDEN,
            "signature_invalid",
            format!("this URL is for Content-Type {content_type}"),
        );
    }
    let limit = (content_length as usize).min(MAX_LOCAL_BLOB_BYTES);
    let bytes: Bytes = match to_bytes(req.into_body(), limit).await {
        Ok(b) => b,
        Err(_) => {
            return blob_problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("this URL takes exactly {content_length} bytes"),
            );
        }
    };
    if bytes.len() as u64 != content_length {
        return blob_problem(
            StatusCode::BAD_REQUEST,
            "length_mismatch",
            format!(
                "this URL takes exactly {content_length} bytes; got {}",
                bytes.len()
            ),
        );
    }
    let size = bytes.len() as u64;
    match dir.put(&key, bytes, &content_type).await {
        Ok(()) => {
            // As S3 notifies the import function in AWS: an upload of an import's CSV starts it.
            if crate::domain::parse_upload_key(key.as_str()).is_some() {
                let event = crate::triggers::s3_object_created(&bucket, key.as_str(), size);
                let app = s.app.clone();
                let ctx = crate::triggers::TriggerContext {
                    deadline: None,
                    lease: Some(s.import_lease),
                };
                tokio::spawn(async move {
                    match crate::triggers::CSV_IMPORT.call(app, event, ctx).await {
                        Ok(summary) => tracing::info!(%summary, "local import done"),
                        Err(e) => {
                            tracing::error!(error = %ErrorChain(&e), "local import failed")
                        }
                    }
                });
            }
            // As S3 notifies the image-process function in AWS: an image upload is processed.
            if crate::services::images::parse_image_upload_key(key.as_str()).is_some() {
                let app = s.app.clone();
                tokio::spawn(async move {
                    match app.catalog.process_upload(key.as_str()).await {
                        Ok(_) => tracing::info!(key = key.as_str(), "local image processed"),
                        Err(e) => {
                            tracing::error!(error = %ErrorChain(&e), "local image processing failed")
                        }
                    }
                });
            }
            StatusCode::OK.into_response()
        }
        Err(e) => blob_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// `GET /images/sha256/<hash>/<rendition>.<ext>`: a product image, as CloudFront serves it
/// in AWS. Content-addressed, so immutable: cached for a year.
async fn image_get(State(s): State<Shared>, Path(rest): Path<String>) -> AxumResponse {
    let key = format!("images/{rest}");
    let Some(key) = key
        .starts_with("images/sha256/")
        .then(|| BlobKey::parse(&key).ok())
        .flatten()
    else {
        return blob_problem(StatusCode::NOT_FOUND, "image_not_found", "no such image");
    };
    match s.app.catalog.images.get(&key).await {
        Ok(Some(blob)) => (
            [
                (header::CONTENT_TYPE, blob.content_type),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_string(),
                ),
            ],
            blob.bytes,
        )
            .into_response(),
        Ok(None) => blob_problem(
            StatusCode::NOT_FOUND,
            "image_not_found",
            format!("no image {key}"),
        ),
        Err(e) => blob_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// Finishes, now and every [`SWEEP_EVERY`], what a crash of this server (or of another process
/// on the same data folder) left undone: imports not final whose claim has lapsed continue from
/// their checkpoint (with `lease` as their claim), stock alerts not announced yet and product
/// events are announced (what the `stock-alerts` function does in AWS), and Open Food Facts lookups still queued
/// go back on the local queue (all of them at start; later, those asked for over a minute
/// ago: a product already waiting in the queue is not queued twice). Runs until the task is
/// dropped.
pub async fn sweep_stalled_work(app: Arc<App>, lease: time::Duration) {
    let opts = crate::services::imports::RunOptions {
        lease: Some(lease),
        ..Default::default()
    };
    let mut lookups_older_than = std::time::Duration::ZERO;
    loop {
        match app.catalog.resume_stalled_imports(&opts).await {
            Ok(done) if !done.is_empty() => {
                tracing::info!(jobs = ?done, "stalled imports resumed and finished");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping for stalled imports failed"),
        }
        match app.catalog.announce_pending().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(movements = n, "pending stock alerts announced"),
            Err(e) => tracing::warn!(error = %e, "announcing pending stock alerts failed"),
        }
        loop {
            match app.catalog.announce_product_events().await {
                Ok(n) if n >= crate::services::EVENTS_PER_PAGE => continue,
                Ok(0) => {}
                Ok(n) => tracing::debug!(entries = n, "product events announced"),
                Err(e) => tracing::warn!(error = %e, "announcing product events failed"),
            }
            break;
        }
        match app
            .catalog
            .request_stalled_enrichments(lookups_older_than)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(products = n, "queued Open Food Facts lookups requested"),
            Err(e) => tracing::warn!(error = %e, "sweeping for queued lookups failed"),
        }
        lookups_older_than = ENRICH_SWEEP_AGE;
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// The local `webhook-deliver` function: attempts the webhook deliveries that are due, when
/// the bus says an event made some and at least every [`SWEEP_EVERY`] (retries come due,
/// and deliveries a crash interrupted are taken up again when their hold ends). Runs until
/// the task is dropped.
pub async fn deliver_webhooks(app: Arc<App>) {
    loop {
        loop {
            match app
                .webhooks
                .deliver_due(crate::domain::Timestamp::now(), DELIVERIES_PER_SWEEP)
                .await
            {
                Ok(done) if done.len() == DELIVERIES_PER_SWEEP => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "delivering webhooks failed");
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(SWEEP_EVERY, app.webhooks.wake.notified()).await;
    }
}

/// Deliveries the local loop reads at once.
const DELIVERIES_PER_SWEEP: usize = 50;

/// How long a queued lookup waits before the local sweep asks for it again.
pub const ENRICH_SWEEP_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// The local `enrich` function: looks up, one at a time, the products the catalog asks for
/// (`requests`, from [`App::embedded`]'s queue) in `off`; a lookup OFF could not answer goes
/// back on the queue for later, as SQS would redeliver it. Runs until the queue is dropped.
pub async fn enrich_products(
    app: Arc<App>,
    off: Arc<dyn crate::ports::OpenFoodFacts>,
    mut requests: crate::adapters::queues::LocalEnrichReceiver,
) {
    use crate::services::enrichment::{EnrichOutcome, FIRST_RETRY};
    while let Some(id) = requests.next().await {
        let again = match app.catalog.enrich(off.as_ref(), &id).await {
            Ok(EnrichOutcome::Retry { after, detail }) => {
                tracing::info!(product = %id, retry_in_s = after.as_secs(), detail, "Open Food Facts did not answer; the lookup waits");
                Some(after)
            }
            Ok(outcome) => {
                tracing::info!(product = %id, ?outcome, "Open Food Facts lookup done");
                None
            }
            Err(e) => {
                tracing::warn!(product = %id, error = %ErrorChain(&e), "Open Food Facts lookup failed; it waits");
                Some(FIRST_RETRY)
            }
        };
        requests.finish(id, again);
    }
}
