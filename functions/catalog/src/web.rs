//! The web app at `/` on `catalog serve`: the files `make web` builds into `web/dist` (the
//! store owners' and admins' PWA, `web/`). Only this local binary serves them; in AWS the same
//! files go to the static bucket behind CloudFront. Each file is a route of its own, so every
//! other path stays the API's (`/v1/...` and unknown paths answer problems, as in Lambda).
//!
//! Caching: `/assets/*` are named by their content's hash and never change (a year,
//! `immutable`); the shell (`/`, `sw.js`, the manifest, icons) is revalidated on every load
//! (`no-cache`), so a new build shows at once.
//!
//! The page carries the Content-Security-Policy the stack's CloudFront distribution sends
//! (`AppResponseHeaders` in infra/template.yaml), so the browser suite runs the app under it.

use std::path::Path;

use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, get_service};
use http::{HeaderValue, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
/// Only the app's own scripts and styles (and WebAssembly: the camera's decoder); calls to its
/// own origin and to S3's presigned uploads; images from anywhere over https; never framed.
/// infra/template.yaml's `AppResponseHeaders` sends the same (a test compares them).
/// (Any S3 host: the presigned URL's host is the SDK's to choose, and a CSP cannot name a
/// bucket without it.)
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data: blob: https:; media-src 'self' blob:; \
    connect-src 'self' https://*.amazonaws.com; object-src 'none'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Whether `dir` holds a built app (its page).
pub fn built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// The routes serving the app built in `dir`, or a page saying how to build it.
pub fn router(dir: &Path) -> anyhow::Result<Router> {
    let index = dir.join("index.html");
    if !built(dir) {
        let hint = format!(
            "<!doctype html><title>Kirana Catalog</title><p>The web app is not built in <code>{}</code>: \
             run <code>make web</code> (<code>make run</code> does it first). The API is at <code>/v1/</code>.",
            dir.display()
        );
        return Ok(Router::new().route(
            "/",
            get(move || async move { (StatusCode::NOT_FOUND, Html(hint)).into_response() }),
        ));
    }
    // The shell's files: revalidated, and under the policy (which only a page heeds).
    let shell = || {
        ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static(REVALIDATE),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ))
    };
    // A year only for what was found: a 404 is not kept as if it were an asset.
    let immutable =
        SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, |res: &http::Response<_>| {
            res.status()
                .is_success()
                .then_some(HeaderValue::from_static(IMMUTABLE))
        });
    let mut router = Router::new()
        .route_service("/", get_service(shell().service(ServeFile::new(&index))))
        .nest_service(
            "/assets",
            ServiceBuilder::new()
                .layer(immutable)
                .service(ServeDir::new(dir.join("assets"))),
        );
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if entry.file_type()?.is_file() {
            router = router.route_service(
                &format!("/{name}"),
                get_service(shell().service(ServeFile::new(entry.path()))),
            );
        }
    }
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt;

    async fn get_path(router: &Router, path: &str) -> (StatusCode, Option<String>, String) {
        let res = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let cache = res
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_string());
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, cache, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_the_shell_fresh_and_the_hashed_assets_for_a_year() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html>shell").unwrap();
        std::fs::write(dir.path().join("sw.js"), "// worker").unwrap();
        std::fs::write(dir.path().join("assets/app-X.js"), "app()").unwrap();
        let router = router(dir.path()).unwrap();

        let res = router
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            res.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let (status, cache, body) = get_path(&router, "/").await;
        assert_eq!(
            (status, cache.as_deref(), body.as_str()),
            (StatusCode::OK, Some(REVALIDATE), "<!doctype html>shell")
        );
        let (status, cache, _) = get_path(&router, "/sw.js").await;
        assert_eq!(
            (status, cache.as_deref()),
            (StatusCode::OK, Some(REVALIDATE))
        );
        let (status, cache, body) = get_path(&router, "/assets/app-X.js").await;
        assert_eq!(
            (status, cache.as_deref(), body.as_str()),
            (StatusCode::OK, Some(IMMUTABLE), "app()")
        );
        let (status, _, _) = get_path(&router, "/assets/../index.html").await;
        assert_ne!(status, StatusCode::OK, "no path leaves the folder");
        let (status, cache, _) = get_path(&router, "/assets/app-Y.js").await;
        assert_eq!(
            (status, cache),
            (StatusCode::NOT_FOUND, None),
            "a 404 is not kept a year"
        );
    }

    #[tokio::test]
    async fn says_how_to_build_the_app_when_it_is_not_built() {
        let dir = tempfile::tempdir().unwrap();
        let (status, _, body) = get_path(&router(dir.path()).unwrap(), "/").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("make web"), "{body}");
    }

    #[test]
    fn the_page_has_the_policy_cloudfront_sends() {
        let template = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
        )
        .unwrap();
        let squashed = CONTENT_SECURITY_POLICY
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            template.contains(&format!("ContentSecurityPolicy: \"{squashed}\"")),
            "AppResponseHeaders in infra/template.yaml sends: {squashed}"
        );
    }
}
