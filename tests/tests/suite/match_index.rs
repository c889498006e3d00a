//! The matching index a catalog keeps in memory: a stale one answers while one caller
//! refreshes it, and nobody waits for that refresh unless the index is long overdue.

use std::sync::Arc;
use std::time::Duration;

use catalog_core::adapters::blobdir::BlobDir;
use catalog_core::cursor::CursorKey;
use catalog_core::domain::{Product, ProductId, ProductSource, Timestamp};
use catalog_core::services::Catalog;
use catalog_core::services::matching::{IndexSource, MatcherState};
use catalog_tests::{content, embedded_stores};

const MAX_AGE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_index_answers_while_one_caller_refreshes_it() {
    let stores = embedded_stores().await;
    // Enough products that a build takes a while (and certainly yields to the other caller).
    for i in 0..300 {
        let p = Product::create(
            ProductId::new(),
            content(&format!("Masala Blend Number {i} 100 g")),
            ProductSource::Api,
            "tester",
            Timestamp::now(),
        );
        stores
            .products
            .insert(&p, &catalog_tests::created_by_test(&p))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(BlobDir::new(dir.path(), "uploads", "http://127.0.0.1", b"k").unwrap());
    let catalog = Catalog::new(
        stores.products.clone(),
        stores.inventory.clone(),
        stores.jobs.clone(),
        blobs.clone(),
        blobs,
        MatcherState::new(IndexSource::Store, MAX_AGE),
        CursorKey::derive(b"k"),
    );
    let (first, age) = catalog.match_index().await.unwrap();
    assert_eq!(age, Duration::ZERO);
    assert_eq!(first.index.len(), 300);

    // Stale: one caller refreshes, the other is answered at once from the stale index.
    tokio::time::sleep(MAX_AGE + Duration::from_millis(100)).await;
    let (a, b) = tokio::join!(catalog.match_index(), catalog.match_index());
    let ((a, a_age), (b, b_age)) = (a.unwrap(), b.unwrap());
    assert!(
        !Arc::ptr_eq(&a, &first) && a_age == Duration::ZERO,
        "the first caller refreshed"
    );
    assert!(
        Arc::ptr_eq(&b, &first) && b_age > MAX_AGE,
        "the second kept the stale index"
    );
    // Then everyone has the fresh one.
    let (now, _) = catalog.match_index().await.unwrap();
    assert!(Arc::ptr_eq(&now, &a));

    // Long overdue (past another max age): both wait for the one refresh.
    tokio::time::sleep(2 * MAX_AGE + Duration::from_millis(100)).await;
    let (a, b) = tokio::join!(catalog.match_index(), catalog.match_index());
    let ((a, _), (b, b_age)) = (a.unwrap(), b.unwrap());
    assert!(
        !Arc::ptr_eq(&a, &now) && Arc::ptr_eq(&a, &b),
        "one refresh, both get it"
    );
    assert!(b_age < MAX_AGE);
}
