//! A fake Open Food Facts on a loopback port: its product API (`/api/v2/product/{barcode}`)
//! answering in OFF's real JSON shape from recorded products, and its image server
//! (`/images/...`), with the failures a real OFF has (down, throttling, slow) switched on by
//! the test. It counts the product reads it answers, so a test sees a retry storm or a cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// How the fake answers product reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffMode {
    /// As OFF does: the product, or its "not found".
    Normal,
    /// 503 with an HTML page, as OFF's front server answers when the backend is down.
    Down,
    /// 429 with `Retry-After: <seconds>`.
    Throttling(u64),
    /// The answer comes after this long.
    Slow(Duration),
}

struct FakeState {
    products: HashMap<String, Value>,
    mode: Mutex<OffMode>,
    product_reads: AtomicUsize,
    image_reads: AtomicUsize,
    image: Vec<u8>,
}

pub struct FakeOff {
    pub base_url: String,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOff {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A product as OFF's API gives it for `fields=` (with the nested objects a full record has,
/// which the client must skip).
pub fn off_product(
    code: &str,
    name: &str,
    brand: &str,
    quantity: &str,
    categories: &[&str],
    regional: &[(&str, &str)],
    image_url: Option<String>,
) -> Value {
    let mut p = json!({
        "code": code,
        "product_name": name,
        "brands": brand,
        "quantity": quantity,
        "categories_tags": categories,
        "countries_tags": ["en:india"],
        "nutriments": {"energy-kcal_100g": 480, "fat_100g": 21.5},
        "images": {"front_en": {"rev": "7", "sizes": {"400": {"h": 400, "w": 300}}}},
    });
    for (lang, n) in regional {
        p[format!("product_name_{lang}")] = json!(n);
    }
    if let Some(url) = image_url {
        p["image_front_url"] = json!(url);
    }
    p
}

/// The barcodes the fake knows (real products sold in India, named as OFF names them).
pub const KNOWN: &str = "8901063093287";
pub const KNOWN_WITHOUT_IMAGE: &str = "8901030154409";
/// A valid GTIN the fake does not know.
pub const UNKNOWN: &str = "8906036672056";

impl FakeOff {
    /// A fake OFF knowing [`KNOWN`] (with a front image) and [`KNOWN_WITHOUT_IMAGE`].
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let products = HashMap::from([
            (
                KNOWN.to_string(),
                off_product(
                    KNOWN,
                    "Good Day Cashew Cookies",
                    "Britannia,Britannia Industries",
                    "200 g",
                    &[
                        "en:snacks",
                        "en:sweet-snacks",
                        "en:biscuits-and-cakes",
                        "en:biscuits",
                    ],
                    &[("hi", "गुड डे काजू कुकीज़"), ("ta", "குட் டே முந்திரி குக்கீஸ்")],
                    Some(format!(
                        "{base_url}/images/products/890/106/309/3287/front_en.7.400.jpg"
                    )),
                ),
            ),
            (
                KNOWN_WITHOUT_IMAGE.to_string(),
                off_product(
                    KNOWN_WITHOUT_IMAGE,
                    "Darjeeling tea",
                    "Brooke Bond",
                    "250 g",
                    &["en:beverages", "en:teas", "en:black-teas"],
                    &[],
                    None,
                ),
            ),
        ]);
        let state = Arc::new(FakeState {
            products,
            mode: Mutex::new(OffMode::Normal),
            product_reads: AtomicUsize::new(0),
            image_reads: AtomicUsize::new(0),
            image: front_image(),
        });
        let app = Router::new()
            .route("/api/v2/product/{code}", axum::routing::get(product))
            .route("/images/{*path}", axum::routing::get(image))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeOff {
            base_url,
            state,
            server,
        }
    }

    pub fn set_mode(&self, mode: OffMode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Product reads answered so far (whatever the answer).
    pub fn product_reads(&self) -> usize {
        self.state.product_reads.load(Ordering::SeqCst)
    }

    pub fn image_reads(&self) -> usize {
        self.state.image_reads.load(Ordering::SeqCst)
    }

    /// A client configuration for this fake: fast pacing, a short timeout.
    pub fn config(&self) -> catalog_core::adapters::off::OffConfig {
        let mut c = catalog_core::adapters::off::OffConfig::public("catalog-tests@localhost");
        c.base_url = self.base_url.clone();
        c.requests_per_minute = 100;
        c.timeout = Duration::from_secs(1);
        c
    }
}

/// A small JPEG front image.
fn front_image() -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(300, 400, |x, y| {
        image::Rgb([(x % 200) as u8 + 40, (y % 180) as u8 + 30, 120])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(img.as_raw(), 300, 400, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

async fn product(State(s): State<Arc<FakeState>>, Path(code): Path<String>) -> Response {
    s.product_reads.fetch_add(1, Ordering::SeqCst);
    let mode = *s.mode.lock().unwrap();
    match mode {
        OffMode::Down => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(http::header::CONTENT_TYPE, "text/html")],
                "<html><body>Open Food Facts is down for maintenance</body></html>",
            )
                .into_response();
        }
        OffMode::Throttling(secs) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(http::header::RETRY_AFTER, secs.to_string())],
                "Too Many Requests",
            )
                .into_response();
        }
        OffMode::Slow(d) => tokio::time::sleep(d).await,
        OffMode::Normal => {}
    }
    match s.products.get(&code) {
        Some(p) => axum::Json(json!({
            "code": code,
            "product": p,
            "status": 1,
            "status_verbose": "product found",
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "code": code,
                "status": 0,
                "status_verbose": "product not found",
            })),
        )
            .into_response(),
    }
}

async fn image(State(s): State<Arc<FakeState>>, Path(path): Path<String>) -> Response {
    s.image_reads.fetch_add(1, Ordering::SeqCst);
    if path.ends_with(".jpg") {
        (
            [(http::header::CONTENT_TYPE, "image/jpeg")],
            s.image.clone(),
        )
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
