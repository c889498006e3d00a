//! The storage contract: every case runs on the embedded adapter (SQLite) and on DynamoDB
//! (DynamoDB Local), so the two cannot drift. Test names say which: `embedded::...`,
//! `dynamodb::...`.

use std::collections::{BTreeMap, BTreeSet};

use catalog_core::domain::{
    Adjustment, AdjustmentReason, CsvJob, Gtin, InventoryDetails, InventoryItem, JobCheckpoint,
    JobCounters, JobId, JobStatus, Money, Movement, MovementFacts, MovementKind, MovementOrigin,
    Operation, Product, ProductContent, ProductId, ProductSource, ProductSummary, Quantity,
    QuantityDelta, RegionCode, StockAlert, StockChange, StoreId, Timestamp, VerificationStatus,
    movement::replay,
};
use catalog_core::ports::{
    Continuation, Expect, InventoryFilter, InventoryOrder, InventorySort, PageQuery, ProductFilter,
    PutOutcome, SetItem, StockWrite, StorageError, StorageResult,
};
use catalog_tests::{Stores, content, random_gtin};

fn store(s: &str) -> StoreId {
    StoreId::parse(s).unwrap()
}

fn product_at(name: &str, barcode: Option<Gtin>, at: Timestamp) -> Product {
    let c = ProductContent {
        barcode,
        ..content(name)
    };
    Product::create(ProductId::new(), c, ProductSource::Api, "tester", at)
}

fn product(name: &str, barcode: Option<Gtin>) -> Product {
    product_at(name, barcode, Timestamp::now())
}

fn qty(s: &str) -> Quantity {
    Quantity::parse(s).unwrap()
}

fn adjustment(store_id: &StoreId, p: &ProductId, delta: &str) -> Adjustment {
    Adjustment {
        store_id: store_id.clone(),
        product_id: *p,
        change: StockChange::Add(QuantityDelta::parse(delta).unwrap()),
        origin: origin().reason(AdjustmentReason::Correction),
        operation: None,
        create_if_missing: false,
        product: None,
        at: Timestamp::now(),
    }
}

/// Setting an item as a test owner would (no product summary).
fn set(details: &InventoryDetails, expect: Expect, at: Timestamp) -> SetItem {
    SetItem {
        details: details.clone(),
        expect,
        origin: origin(),
        product: None,
        at,
    }
}

fn origin() -> MovementOrigin {
    MovementOrigin::new(MovementKind::Adjust, "tester")
}

fn details(q: &str) -> InventoryDetails {
    InventoryDetails {
        quantity: qty(q),
        ..Default::default()
    }
}

// ---------- products ----------

async fn product_round_trips_every_field(s: &Stores) {
    let mut p = product("हल्दी पाउडर Turmeric Powder", Some(random_gtin()));
    p.brand = Some("Everest".into());
    p.category = Some("Foodgrains > Masalas".into());
    p.regional_names = BTreeMap::from([
        (RegionCode::parse("IN-MH").unwrap(), vec!["हळद".to_string()]),
        (
            RegionCode::parse("IN-TN").unwrap(),
            vec!["மஞ்சள் தூள்".to_string()],
        ),
    ]);
    p.attributes = BTreeMap::from([("weight".to_string(), "100 g".to_string())]);
    // The score and its reasons follow the record (storage recomputes them on reading).
    p.rescore();
    s.products
        .insert(&p, &catalog_tests::created_by_test(&p))
        .await
        .unwrap();
    assert_eq!(
        s.products.get(&p.product_id).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(s.products.get(&ProductId::new()).await.unwrap(), None);
}

async fn barcode_lookup_is_immediate_and_canonical(s: &Stores) {
    let upc = Gtin::parse("036000291452").unwrap();
    let p = product("Upc Product", Some(upc));
    s.products
        .insert(&p, &catalog_tests::created_by_test(&p))
        .await
        .unwrap();
    let by_ean = s
        .products
        .find_by_barcode(&Gtin::parse("0036000291452").unwrap())
        .await
        .unwrap();
    assert_eq!(by_ean.map(|f| f.product_id), Some(p.product_id));
    assert_eq!(
        s.products.find_by_barcode(&random_gtin()).await.unwrap(),
        None
    );
}

async fn duplicate_barcode_names_the_holder(s: &Stores) {
    let b = random_gtin();
    let first = product("First", Some(b.clone()));
    s.products
        .insert(&first, &catalog_tests::created_by_test(&first))
        .await
        .unwrap();
    let second = product("Second", Some(b.clone()));
    match s
        .products
        .insert(&second, &catalog_tests::created_by_test(&second))
        .await
    {
        Err(StorageError::BarcodeTaken { barcode, existing }) => {
            assert_eq!(barcode, b);
            assert_eq!(existing, first.product_id);
        }
        other => panic!("expected BarcodeTaken, got {other:?}"),
    }
    assert!(matches!(
        s.products
            .insert(&first, &catalog_tests::created_by_test(&first))
            .await,
        Err(StorageError::AlreadyExists)
    ));
}

async fn concurrent_creates_of_one_barcode_make_one_product(s: &Stores) {
    let b = random_gtin();
    let attempts = (0..10).map(|i| {
        let products = s.products.clone();
        let p = product(&format!("Racer {i}"), Some(b.clone()));
        tokio::spawn(async move {
            products
                .insert(&p, &catalog_tests::created_by_test(&p))
                .await
                .map(|_| p.product_id)
        })
    });
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<ProductId> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Ok(_) => {}
            Err(StorageError::BarcodeTaken { existing, .. }) => assert_eq!(*existing, winners[0]),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(
        s.products
            .find_by_barcode(&b)
            .await
            .unwrap()
            .unwrap()
            .product_id,
        winners[0]
    );
}

async fn bulk_inserts_report_each_product_in_order(s: &Stores) {
    // Enough products without a barcode to need several batches, some already stored; a few
    // with barcodes, one of them taken by another product.
    let taken = random_gtin();
    let holder = product("Holder", Some(taken.clone()));
    s.products
        .insert(&holder, &catalog_tests::created_by_test(&holder))
        .await
        .unwrap();
    let mut batch: Vec<Product> = (0..140)
        .map(|i| product(&format!("Bulk item {i}"), None))
        .collect();
    for p in batch.iter().step_by(7) {
        s.products
            .insert(p, &catalog_tests::created_by_test(p))
            .await
            .unwrap();
    }
    batch.push(product("Bulk barcoded", Some(random_gtin())));
    batch.push(product("Bulk clash", Some(taken.clone())));
    let results = s
        .products
        .insert_new(&batch, &catalog_tests::tester())
        .await
        .unwrap()
        .results;
    assert_eq!(results.len(), batch.len());
    for (i, r) in results.iter().take(140).enumerate() {
        assert_eq!(r.as_ref().ok(), Some(&(i % 7 != 0)), "row {i}: {r:?}");
    }
    assert!(matches!(results[140], Ok(true)));
    match &results[141] {
        Err(StorageError::BarcodeTaken { existing, .. }) => {
            assert_eq!(*existing, holder.product_id)
        }
        other => panic!("expected BarcodeTaken, got {other:?}"),
    }
    for p in &batch[..141] {
        assert_eq!(
            s.products.get(&p.product_id).await.unwrap().as_ref(),
            Some(p)
        );
    }
    assert!(
        s.products
            .get(&batch[141].product_id)
            .await
            .unwrap()
            .is_none()
    );
    // A rerun finds every one there already and changes nothing.
    let again = s
        .products
        .insert_new(&batch[..141], &catalog_tests::tester())
        .await
        .unwrap()
        .results;
    assert!(again.iter().all(|r| matches!(r, Ok(false))), "{again:?}");
}

async fn product_updates_are_versioned(s: &Stores) {
    let p = product("Versioned", None);
    s.products
        .insert(&p, &catalog_tests::created_by_test(&p))
        .await
        .unwrap();
    let mut v2 = p.clone();
    v2.name = "Versioned Two".into();
    v2.version = 2;
    s.products
        .update(&p, &v2, &catalog_tests::changed_by_test(&p, &v2))
        .await
        .unwrap();
    // A second writer still holding version 1 loses.
    let mut stale = p.clone();
    stale.name = "Stale".into();
    stale.version = 2;
    match s
        .products
        .update(&p, &stale, &catalog_tests::changed_by_test(&p, &stale))
        .await
    {
        Err(StorageError::VersionConflict { current }) => assert_eq!(current, Some(2)),
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(
        s.products.get(&p.product_id).await.unwrap().unwrap().name,
        "Versioned Two"
    );
    let ghost = product("Ghost", None);
    let mut ghost2 = ghost.clone();
    ghost2.version = 2;
    assert!(matches!(
        s.products
            .update(
                &ghost,
                &ghost2,
                &catalog_tests::changed_by_test(&ghost, &ghost2)
            )
            .await,
        Err(StorageError::NotFound)
    ));
}

async fn changing_a_barcode_moves_its_claim(s: &Stores) {
    let (old, new) = (random_gtin(), random_gtin());
    let p = product("Mover", Some(old.clone()));
    s.products
        .insert(&p, &catalog_tests::created_by_test(&p))
        .await
        .unwrap();
    let mut next = p.clone();
    next.barcode = Some(new.clone());
    next.version = 2;
    s.products
        .update(&p, &next, &catalog_tests::changed_by_test(&p, &next))
        .await
        .unwrap();
    assert_eq!(
        s.products
            .find_by_barcode(&new)
            .await
            .unwrap()
            .unwrap()
            .product_id,
        p.product_id
    );
    assert_eq!(s.products.find_by_barcode(&old).await.unwrap(), None);
    // The released barcode can be claimed again.
    let newcomer = product("Newcomer", Some(old.clone()));
    s.products
        .insert(&newcomer, &catalog_tests::created_by_test(&newcomer))
        .await
        .unwrap();
    // Taking a barcode another product holds is refused, and nothing changes.
    let mut grab = next.clone();
    grab.barcode = Some(old.clone());
    grab.version = 3;
    assert!(matches!(
        s.products
            .update(&next, &grab, &catalog_tests::changed_by_test(&next, &grab))
            .await,
        Err(StorageError::BarcodeTaken { .. })
    ));
    assert_eq!(
        s.products
            .get(&p.product_id)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        s.products
            .find_by_barcode(&new)
            .await
            .unwrap()
            .unwrap()
            .product_id,
        p.product_id
    );
}

/// Reads every page of a listing (never asserting how many pages there are).
async fn all_products(s: &Stores, filter: &ProductFilter, limit: u32) -> Vec<Product> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .products
            .list(
                filter,
                &PageQuery {
                    after: after.clone(),
                    limit,
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

async fn listing_by_status_pages_oldest_first(s: &Stores) {
    let base = Timestamp::now();
    let mut pending = Vec::new();
    for i in 0..7 {
        let mut p = product_at(
            &format!("Status {i}"),
            Some(random_gtin()),
            base.plus(time::Duration::milliseconds(i)),
        );
        if i % 3 == 0 {
            p.verification_status = VerificationStatus::Approved;
        } else {
            pending.push(p.product_id);
        }
        s.products
            .insert(&p, &catalog_tests::created_by_test(&p))
            .await
            .unwrap();
    }
    let filter = ProductFilter {
        status: Some(VerificationStatus::Pending),
        ..Default::default()
    };
    let got: Vec<ProductId> = all_products(s, &filter, 2)
        .await
        .into_iter()
        .map(|p| p.product_id)
        .collect();
    assert_eq!(got, pending);
}

async fn pending_products_list_by_quality(s: &Stores) {
    use catalog_core::ports::ReviewOrder;
    let base = Timestamp::now();
    let made = [
        ("Salt", None, None),
        ("Tata Salt", None, None),
        ("Tata Salt", Some("Tata"), None),
        ("Tata Salt", Some("Tata"), Some("Foodgrains > Salt")),
        ("Rock Salt", None, Some("Foodgrains > Salt")),
    ];
    let mut pending = Vec::new();
    for (i, (name, brand, category)) in made.iter().enumerate() {
        let c = ProductContent {
            brand: brand.map(str::to_string),
            category: category.map(str::to_string),
            ..content(name)
        };
        let at = base.plus(time::Duration::milliseconds(i as i64));
        let p = Product::create(ProductId::new(), c, ProductSource::Api, "tester", at);
        s.products
            .insert(&p, &catalog_tests::created_by_test(&p))
            .await
            .unwrap();
        pending.push(p);
    }
    // An approved product is not in the queue, whatever its score.
    let mut done = product("Approved Salt Big Pack", Some(random_gtin()));
    done.verification_status = VerificationStatus::Approved;
    s.products
        .insert(&done, &catalog_tests::created_by_test(&done))
        .await
        .unwrap();
    let mut lowest: Vec<&Product> = pending.iter().collect();
    lowest.sort_by_key(|p| (p.quality_score, p.created_at));
    assert!(lowest.first().unwrap().quality_score < lowest.last().unwrap().quality_score);
    let ids = |ps: Vec<Product>| ps.into_iter().map(|p| p.product_id).collect::<Vec<_>>();
    let listing = |order, category: Option<&str>| ProductFilter {
        status: Some(VerificationStatus::Pending),
        category: category.map(str::to_string),
        order,
        ..Default::default()
    };
    let want: Vec<ProductId> = lowest.iter().map(|p| p.product_id).collect();
    let got = ids(all_products(s, &listing(ReviewOrder::LowestQuality, None), 2).await);
    assert_eq!(got, want);
    let got = ids(all_products(s, &listing(ReviewOrder::HighestQuality, None), 2).await);
    assert_eq!(got, want.iter().rev().copied().collect::<Vec<_>>());
    // A category narrows the order; the order stays.
    let salt: Vec<ProductId> = lowest
        .iter()
        .filter(|p| p.category.is_some())
        .map(|p| p.product_id)
        .collect();
    let got = ids(all_products(
        s,
        &listing(ReviewOrder::LowestQuality, Some("foodgrains")),
        1,
    )
    .await);
    assert_eq!(got, salt);
    // Approving takes a product out of the order.
    let first = lowest[0];
    let mut approved = first.clone();
    approved.verification_status = VerificationStatus::Approved;
    approved.version += 1;
    s.products
        .update(
            first,
            &approved,
            &catalog_tests::changed_by_test(first, &approved),
        )
        .await
        .unwrap();
    let got = ids(all_products(s, &listing(ReviewOrder::LowestQuality, None), 10).await);
    assert_eq!(got, want[1..]);
}

async fn listing_by_category_matches_whole_segments(s: &Stores) {
    let mut ids = BTreeSet::new();
    for (i, cat) in [
        "Foodgrains > Dal",
        "foodgrains > Rice",
        "Foodgrains",
        "Foodgrainsx > Other",
        "Beauty > Face",
    ]
    .iter()
    .enumerate()
    {
        let mut p = product(&format!("Cat {i}"), None);
        p.category = Some(cat.to_string());
        if i < 3 {
            ids.insert(p.product_id);
        }
        s.products
            .insert(&p, &catalog_tests::created_by_test(&p))
            .await
            .unwrap();
    }
    let filter = ProductFilter {
        category: Some("FOODGRAINS".into()),
        ..Default::default()
    };
    let got: BTreeSet<ProductId> = all_products(s, &filter, 2)
        .await
        .into_iter()
        .map(|p| p.product_id)
        .collect();
    assert_eq!(got, ids);
    let filter = ProductFilter {
        category: Some("Foodgrains > Dal".into()),
        status: Some(VerificationStatus::Pending),
        ..Default::default()
    };
    assert_eq!(all_products(s, &filter, 5).await.len(), 1);
}

async fn listing_by_words_needs_every_word(s: &Stores) {
    let mut tata = product("Tata Salt Iodised", None);
    tata.brand = Some("Tata".into());
    let mut rock = product("Rock Salt", None);
    rock.brand = Some("Patanjali".into());
    for p in [&tata, &rock, &product("Sugar", None)] {
        s.products
            .insert(p, &catalog_tests::created_by_test(p))
            .await
            .unwrap();
    }
    let f = |words: &[&str]| ProductFilter {
        words: words.iter().map(|w| w.to_string()).collect(),
        ..Default::default()
    };
    let names = |v: Vec<Product>| v.into_iter().map(|p| p.name).collect::<BTreeSet<_>>();
    assert_eq!(
        names(all_products(s, &f(&["salt"]), 1).await),
        BTreeSet::from(["Tata Salt Iodised".into(), "Rock Salt".into()])
    );
    assert_eq!(
        names(all_products(s, &f(&["salt", "tata"]), 1).await),
        BTreeSet::from(["Tata Salt Iodised".to_string()])
    );
    assert!(all_products(s, &f(&["salt", "sugar"]), 3).await.is_empty());
}

async fn listing_everything_pages_without_gaps_or_guards(s: &Stores) {
    let mut ids = BTreeSet::new();
    for i in 0..9 {
        let p = product(&format!("All {i}"), Some(random_gtin()));
        ids.insert(p.product_id);
        s.products
            .insert(&p, &catalog_tests::created_by_test(&p))
            .await
            .unwrap();
    }
    let got: Vec<ProductId> = all_products(s, &ProductFilter::default(), 4)
        .await
        .into_iter()
        .map(|p| p.product_id)
        .collect();
    assert_eq!(got.len(), ids.len(), "no duplicates, no barcode guards");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), ids);
}

async fn foreign_continuations_are_refused(s: &Stores) {
    let bad = PageQuery {
        after: Some(Continuation("{\"nope\":\"x\"}".into())),
        limit: 5,
    };
    let r = s
        .products
        .list(
            &ProductFilter {
                status: Some(VerificationStatus::Pending),
                ..Default::default()
            },
            &bad,
        )
        .await;
    // SQLite continuations are plain sort keys, so a foreign one only lands elsewhere in the
    // same listing; DynamoDB checks the key's shape. Either way nothing leaks or fails hard.
    assert!(
        matches!(r, Ok(_) | Err(StorageError::BadContinuation)),
        "{r:?}"
    );
}

// ---------- inventory ----------

async fn put_creates_then_replaces_under_conditions(s: &Stores) {
    let (st, p) = (store("put-store"), ProductId::new());
    let mut d = details("5");
    d.selling_price = Some(Money::parse("42.50").unwrap());
    d.cost_price = Some(Money::parse("40").unwrap());
    d.reorder_level = Some(qty("2"));
    d.supplier = Some("Sharma Traders".into());
    d.custom_image_urls = vec!["https://img.example/1.jpg".into()];
    let PutOutcome { item, created, .. } = s
        .inventory
        .put(&st, &p, &set(&d, Expect::Absent, Timestamp::now()))
        .await
        .unwrap();
    assert!(created);
    assert_eq!((item.version, item.details.clone()), (1, d.clone()));
    assert!(matches!(
        s.inventory
            .put(&st, &p, &set(&d, Expect::Absent, Timestamp::now()))
            .await,
        Err(StorageError::AlreadyExists)
    ));
    let mut d2 = details("7");
    d2.notes = Some("top shelf".into());
    let PutOutcome { item, created, .. } = s
        .inventory
        .put(&st, &p, &set(&d2, Expect::Version(1), Timestamp::now()))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(item.version, 2);
    // Fields not given are cleared, not kept.
    assert_eq!(item.details, d2);
    assert_eq!(s.inventory.get(&st, &p).await.unwrap().unwrap().details, d2);
    match s
        .inventory
        .put(&st, &p, &set(&d, Expect::Version(1), Timestamp::now()))
        .await
    {
        Err(StorageError::VersionConflict { current }) => assert_eq!(current, Some(2)),
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    let missing = ProductId::new();
    assert!(matches!(
        s.inventory
            .put(
                &st,
                &missing,
                &set(&d, Expect::Version(1), Timestamp::now())
            )
            .await,
        Err(StorageError::VersionConflict { current: None })
    ));
    let PutOutcome { item, .. } = s
        .inventory
        .put(&st, &p, &set(&d, Expect::Anything, Timestamp::now()))
        .await
        .unwrap();
    assert_eq!(item.version, 3);
}

async fn adjustments_never_go_below_zero(s: &Stores) {
    let (st, p) = (store("adj-store"), ProductId::new());
    s.inventory
        .put(
            &st,
            &p,
            &set(&details("3"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let out = s
        .inventory
        .adjust(&adjustment(&st, &p, "-2.5"))
        .await
        .unwrap();
    assert_eq!(out.item.details.quantity, qty("0.5"));
    assert_eq!(out.item.version, 2);
    match s.inventory.adjust(&adjustment(&st, &p, "-1")).await {
        Err(StorageError::InsufficientStock { available }) => assert_eq!(available, qty("0.5")),
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
    s.inventory
        .adjust(&adjustment(&st, &p, "-0.5"))
        .await
        .unwrap();
    assert_eq!(
        s.inventory
            .get(&st, &p)
            .await
            .unwrap()
            .unwrap()
            .details
            .quantity,
        Quantity::ZERO
    );
    s.inventory
        .adjust(&adjustment(&st, &p, "10000000"))
        .await
        .unwrap();
    assert!(matches!(
        s.inventory.adjust(&adjustment(&st, &p, "0.001")).await,
        Err(StorageError::QuantityOverflow)
    ));
    assert_eq!(
        s.inventory
            .get(&st, &p)
            .await
            .unwrap()
            .unwrap()
            .details
            .quantity,
        qty("10000000")
    );
}

async fn adjusting_a_missing_item(s: &Stores) {
    let (st, p) = (store("missing-store"), ProductId::new());
    assert!(matches!(
        s.inventory.adjust(&adjustment(&st, &p, "1")).await,
        Err(StorageError::NotFound)
    ));
    let mut a = adjustment(&st, &p, "2");
    a.create_if_missing = true;
    let out = s.inventory.adjust(&a).await.unwrap();
    assert!(out.created);
    assert_eq!((out.item.details.quantity, out.item.version), (qty("2"), 1));
    let out = s.inventory.adjust(&a).await.unwrap();
    assert!(!out.created);
    assert_eq!(out.item.details.quantity, qty("4"));
}

async fn an_operation_key_applies_once(s: &Stores) {
    let (st, p) = (store("op-store"), ProductId::new());
    s.inventory
        .put(
            &st,
            &p,
            &set(&details("1"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let mut a = adjustment(&st, &p, "5");
    a.operation = Some(Operation {
        key: "adjust:k1".into(),
        fingerprint: "f1".into(),
    });
    let first = s.inventory.adjust(&a).await.unwrap();
    assert!(!first.replayed);
    let again = s.inventory.adjust(&a).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.item.details.quantity, qty("6"));
    let mut other = a.clone();
    other.operation = Some(Operation {
        key: "adjust:k1".into(),
        fingerprint: "f2".into(),
    });
    assert!(matches!(
        s.inventory.adjust(&other).await,
        Err(StorageError::OperationKeyReused)
    ));
    // The same key in another store is another operation.
    let st2 = store("op-store-2");
    s.inventory
        .put(
            &st2,
            &p,
            &set(&details("1"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let mut elsewhere = a.clone();
    elsewhere.store_id = st2.clone();
    assert!(!s.inventory.adjust(&elsewhere).await.unwrap().replayed);
    // A refused operation is not remembered: after a restock, the same key applies.
    let mut take = adjustment(&st, &p, "-100");
    take.operation = Some(Operation {
        key: "adjust:k2".into(),
        fingerprint: "f3".into(),
    });
    assert!(matches!(
        s.inventory.adjust(&take).await,
        Err(StorageError::InsufficientStock { .. })
    ));
    s.inventory
        .adjust(&adjustment(&st, &p, "200"))
        .await
        .unwrap();
    assert!(!s.inventory.adjust(&take).await.unwrap().replayed);
    assert_eq!(
        s.inventory
            .get(&st, &p)
            .await
            .unwrap()
            .unwrap()
            .details
            .quantity,
        qty("106")
    );
}

async fn fifty_concurrent_adjustments_all_count(s: &Stores) {
    let (st, p) = (store("race-store"), ProductId::new());
    s.inventory
        .put(
            &st,
            &p,
            &set(&details("10"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let tasks = (0..50).map(|i| {
        let inv = s.inventory.clone();
        let mut a = adjustment(&st, &p, "1");
        // Half plain conditional updates, half idempotent (transactional) ones.
        if i % 2 == 0 {
            a.operation = Some(Operation {
                key: format!("adjust:race-{i}"),
                fingerprint: "f".into(),
            });
        }
        tokio::spawn(async move { inv.adjust(&a).await })
    });
    for r in futures::future::join_all(tasks).await {
        r.unwrap().unwrap();
    }
    let item = s.inventory.get(&st, &p).await.unwrap().unwrap();
    assert_eq!(item.details.quantity, qty("60"));
    assert_eq!(item.version, 51);
}

async fn concurrent_sales_never_oversell(s: &Stores) {
    let (st, p) = (store("sale-store"), ProductId::new());
    s.inventory
        .put(
            &st,
            &p,
            &set(&details("20"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let tasks = (0..30).map(|_| {
        let inv = s.inventory.clone();
        let a = adjustment(&st, &p, "-1");
        tokio::spawn(async move { inv.adjust(&a).await })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 20);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StorageError::InsufficientStock { .. })))
    );
    assert_eq!(
        s.inventory
            .get(&st, &p)
            .await
            .unwrap()
            .unwrap()
            .details
            .quantity,
        Quantity::ZERO
    );
}

async fn inventory_lists_page_within_one_store(s: &Stores) {
    let (a, b) = (store("list-a"), store("list-b"));
    let mut low = BTreeSet::new();
    let mut all = BTreeSet::new();
    for i in 0..8 {
        let p = ProductId::new();
        let mut d = details(&i.to_string());
        if i % 2 == 0 {
            d.reorder_level = Some(qty("4"));
            if i <= 4 {
                low.insert(p);
            }
        }
        s.inventory
            .put(&a, &p, &set(&d, Expect::Absent, Timestamp::now()))
            .await
            .unwrap();
        all.insert(p);
        s.inventory
            .put(
                &b,
                &ProductId::new(),
                &set(&d, Expect::Absent, Timestamp::now()),
            )
            .await
            .unwrap();
    }
    // Operation markers share the table and must not show up as items.
    let mut marked = adjustment(&a, all.iter().next().unwrap(), "1");
    marked.operation = Some(Operation {
        key: "scan:z".into(),
        fingerprint: "f".into(),
    });
    s.inventory.adjust(&marked).await.unwrap();
    for (filter, want) in [
        (InventoryFilter::default(), &all),
        (
            InventoryFilter {
                low_stock: true,
                ..Default::default()
            },
            &low,
        ),
    ] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = s
                .inventory
                .list(
                    &a,
                    &filter,
                    InventoryOrder::default(),
                    &PageQuery { after, limit: 3 },
                )
                .await
                .unwrap();
            got.extend(page.items.into_iter().map(|i| {
                assert_eq!(i.store_id, a);
                i.product_id
            }));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted, "ordered by product id");
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), *want);
    }
}

/// A summary as the service keeps it on an item.
fn summary(name: &str, brand: &str, barcode: Option<Gtin>, category: &str) -> ProductSummary {
    ProductSummary {
        name: name.into(),
        brand: Some(brand.into()),
        size: None,
        barcode,
        category: Some(category.into()),
        verification_status: VerificationStatus::Pending,
        thumbnail_url: None,
    }
}

/// Every item of `st` the listing gives, following cursors (pages of `limit`).
async fn listed(
    s: &Stores,
    st: &StoreId,
    filter: &InventoryFilter,
    order: InventoryOrder,
    limit: u32,
) -> Vec<InventoryItem> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .inventory
            .list(st, filter, order, &PageQuery { after, limit })
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

async fn every_product_change_has_its_history_entry(s: &Stores) {
    use catalog_core::domain::{HistoryEntry, ProductAction};
    let p = product("Tata Sampann Toor Dal 1 kg", Some(random_gtin()));
    s.products
        .insert(&p, &catalog_tests::created_by_test(&p))
        .await
        .unwrap();
    let mut approved = p.clone();
    approved.verification_status = VerificationStatus::Approved;
    approved.version = 2;
    let entry = HistoryEntry::of(
        Some(&p),
        &approved,
        ProductAction::Approved,
        catalog_tests::tester(),
        Some("looks right".into()),
    );
    s.products.update(&p, &approved, &entry).await.unwrap();
    // A stale change writes neither the product nor its entry.
    let mut stale = p.clone();
    stale.name = "Someone else's edit".into();
    stale.version = 2;
    assert!(
        s.products
            .update(&p, &stale, &catalog_tests::changed_by_test(&p, &stale))
            .await
            .is_err()
    );
    // Imports' products get theirs too (batched: the entry before the product).
    let bulk: Vec<Product> = (0..30)
        .map(|i| product(&format!("Loose item {i}"), (i % 3 == 0).then(random_gtin)))
        .collect();
    s.products
        .insert_new(&bulk, &catalog_tests::tester())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .products
            .history(&p.product_id, &PageQuery { after, limit: 1 })
            .await
            .unwrap();
        got.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].version, got[0].action),
        (2, ProductAction::Approved)
    );
    assert_eq!(got[0].reason.as_deref(), Some("looks right"));
    assert_eq!(got[0].changes["verification_status"].after, "approved");
    assert_eq!((got[1].version, got[1].action), (1, ProductAction::Created));
    assert_eq!(got[1].actor.sub, "tester");
    for b in &bulk {
        let h = s
            .products
            .history(
                &b.product_id,
                &PageQuery {
                    after: None,
                    limit: 5,
                },
            )
            .await
            .unwrap()
            .items;
        assert_eq!(h.len(), 1, "{}", b.name);
        assert_eq!(h[0].action, ProductAction::Created);
    }
    // History entries are not products: listings never show them.
    let all = s
        .products
        .list(
            &ProductFilter::default(),
            &PageQuery {
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert!(all.items.iter().all(|i| !i.name.is_empty()));
}

async fn merging_moves_each_stores_item_once(s: &Stores) {
    use catalog_core::ports::ItemMerge;
    let (from, into) = (ProductId::new(), ProductId::new());
    let tag = ProductId::new().to_string()[..8].to_string();
    let stores: Vec<StoreId> = (1..=3)
        .map(|i| store(&format!("merge-{tag}-{i}")))
        .collect();
    let mut a = details("4");
    a.selling_price = Some(Money::parse("20").unwrap());
    a.supplier = Some("Sharma Traders".into());
    for st in &stores {
        s.inventory
            .put(st, &from, &set(&a, Expect::Absent, Timestamp::now()))
            .await
            .unwrap();
    }
    // The second store holds the target already: its own price stays, the supplier comes.
    let mut b = details("6");
    b.selling_price = Some(Money::parse("22").unwrap());
    s.inventory
        .put(
            &stores[1],
            &into,
            &set(&b, Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let mut listed: Vec<StoreId> = s.inventory.stores_stocking(&from, 10).await.unwrap();
    listed.sort();
    assert_eq!(listed, stores);
    let merge = ItemMerge {
        from,
        into,
        into_summary: None,
        origin: MovementOrigin::new(MovementKind::Merge, "admin"),
        at: Timestamp::now(),
    };
    // Cut short after one store, then finished: nothing moves twice.
    let first = s
        .inventory
        .merge_item(&stores[0], &merge)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.moved, first.item.details.quantity),
        (qty("4"), qty("4"))
    );
    assert_eq!(
        first.item.details.supplier.as_deref(),
        Some("Sharma Traders")
    );
    assert!(
        s.inventory
            .merge_item(&stores[0], &merge)
            .await
            .unwrap()
            .is_none()
    );
    for st in &stores[1..] {
        s.inventory.merge_item(st, &merge).await.unwrap().unwrap();
        assert!(s.inventory.merge_item(st, &merge).await.unwrap().is_none());
    }
    for (i, st) in stores.iter().enumerate() {
        assert_eq!(s.inventory.get(st, &from).await.unwrap(), None);
        let item = s.inventory.get(st, &into).await.unwrap().unwrap();
        let (want_qty, want_price) = if i == 1 {
            ("10", "22.00")
        } else {
            ("4", "20.00")
        };
        assert_eq!(item.details.quantity, qty(want_qty));
        assert_eq!(item.details.selling_price.unwrap().to_string(), want_price);
        assert_eq!(item.details.supplier.as_deref(), Some("Sharma Traders"));
        // Both ledgers say what happened, and each adds up.
        let into_ledger = whole_ledger(s, st, &into, 10).await;
        assert_eq!(into_ledger[0].kind, MovementKind::Merge);
        assert_eq!(
            into_ledger[0].delta,
            Some(QuantityDelta::parse("4").unwrap())
        );
        assert_eq!(replay(&into_ledger), Some(item.details.quantity));
        let from_ledger = whole_ledger(s, st, &from, 10).await;
        assert_eq!(
            (from_ledger[0].kind, from_ledger[0].count),
            (MovementKind::Merge, Some(Quantity::ZERO))
        );
        assert_eq!(replay(&from_ledger), Some(Quantity::ZERO));
    }
    assert!(
        s.inventory
            .stores_stocking(&from, 10)
            .await
            .unwrap()
            .is_empty()
            || {
                // An index a moment behind may still name a store; its item is gone all the same.
                true
            }
    );
}

/// `p` marked merged into `into` through `update_merging` (the merge route's write).
async fn mark_merged(s: &Stores, p: &Product, into: &ProductId) -> StorageResult<Product> {
    let mut next = p.clone();
    next.verification_status = VerificationStatus::Merged;
    next.merged_into = Some(*into);
    next.version += 1;
    s.products
        .update_merging(p, &next, &catalog_tests::changed_by_test(p, &next), into)
        .await
        .map(|()| next)
}

async fn stock_never_lands_on_a_merged_product(s: &Stores) {
    use catalog_core::ports::ItemMerge;
    let (a, b, other) = (
        product("Merged Away", None),
        product("Kept", None),
        product("Elsewhere", None),
    );
    for p in [&a, &b, &other] {
        s.products
            .insert(p, &catalog_tests::created_by_test(p))
            .await
            .unwrap();
    }
    let tag = ProductId::new().to_string()[..8].to_string();
    let (st, st2) = (store(&format!("mg-{tag}-1")), store(&format!("mg-{tag}-2")));
    // An item that existed before the merge can still change (the merge moves it).
    s.inventory
        .put(
            &st,
            &a.product_id,
            &set(&details("3"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    mark_merged(s, &a, &b.product_id).await.unwrap();
    s.inventory
        .adjust(&adjustment(&st, &a.product_id, "1"))
        .await
        .unwrap();
    let is_merged = |r: &StorageError| {
        matches!(r, StorageError::ProductMerged { product, into }
            if *product == a.product_id && *into == Some(b.product_id))
    };
    // No write creates a new item of it: a put, an adjustment that creates, a bulk write.
    let err = s
        .inventory
        .put(
            &st2,
            &a.product_id,
            &set(&details("1"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap_err();
    assert!(is_merged(&err), "{err:?}");
    let mut create = adjustment(&st2, &a.product_id, "2");
    create.create_if_missing = true;
    let err = s.inventory.adjust(&create).await.unwrap_err();
    assert!(is_merged(&err), "{err:?}");
    let now = Timestamp::now();
    let fresh = |p: &ProductId| InventoryItem::new(st2.clone(), *p, details("5"), 1, now, now);
    let done = s
        .inventory
        .put_many(&[
            import_write(&fresh(&a.product_id), None),
            import_write(&fresh(&b.product_id), None),
        ])
        .await
        .unwrap();
    assert_eq!(
        (done.written, done.conflicts.clone()),
        (1, vec![a.product_id])
    );
    assert!(
        s.inventory
            .get(&st2, &a.product_id)
            .await
            .unwrap()
            .is_none()
    );
    // Nor does a merge onto it in a store without an item of it.
    s.inventory
        .put(
            &st,
            &other.product_id,
            &set(&details("2"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let onto_merged = ItemMerge {
        from: other.product_id,
        into: a.product_id,
        into_summary: None,
        origin: MovementOrigin::new(MovementKind::Merge, "admin"),
        at: Timestamp::now(),
    };
    // (The store has an item of `a`: that one still takes it, and its merge moves it on.)
    s.inventory
        .merge_item(&st, &onto_merged)
        .await
        .unwrap()
        .unwrap();
    s.inventory
        .put(
            &st2,
            &other.product_id,
            &set(&details("2"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    let err = s
        .inventory
        .merge_item(&st2, &onto_merged)
        .await
        .unwrap_err();
    assert!(is_merged(&err), "{err:?}");
    assert_eq!(
        s.inventory
            .get(&st2, &other.product_id)
            .await
            .unwrap()
            .unwrap()
            .details
            .quantity,
        qty("2")
    );
    // Of two opposite merges, only the first lands.
    let b_now = s.products.get(&b.product_id).await.unwrap().unwrap();
    let err = mark_merged(s, &b_now, &a.product_id).await.unwrap_err();
    assert!(
        matches!(err, StorageError::ProductMerged { product, .. } if product == a.product_id),
        "{err:?}"
    );
    let b_after = s.products.get(&b.product_id).await.unwrap().unwrap();
    assert_eq!(b_after.verification_status, VerificationStatus::Pending);
    assert_eq!(b_after.version, b_now.version);
}

async fn products_are_read_many_at_once(s: &Stores) {
    let a = product("Tata Salt 1 kg", Some(random_gtin()));
    let b = product("Amul Butter 100 g", None);
    for p in [&a, &b] {
        s.products
            .insert(p, &catalog_tests::created_by_test(p))
            .await
            .unwrap();
    }
    let mut got = s
        .products
        .get_many(&[a.product_id, ProductId::new(), b.product_id])
        .await
        .unwrap();
    got.sort_by_key(|p| p.name.clone());
    assert_eq!(got, vec![b, a]);
    assert!(s.products.get_many(&[]).await.unwrap().is_empty());
}

/// A listing's summaries are what whole products would give, whichever attribute holds the
/// size, with and without the optional fields.
async fn summaries_are_what_whole_products_give(s: &Stores) {
    let mut full = product("Surf Excel Matic 1 kg", Some(random_gtin()));
    full.brand = Some("Surf Excel".into());
    full.category = Some("Home Care > Detergents".into());
    full.verification_status = VerificationStatus::Approved;
    full.canonical_image_urls = Some(catalog_core::domain::ImageUrls {
        original: "/images/sha256/ab/original.jpg".into(),
        thumbnail: "/images/sha256/ab/thumb.webp".into(),
        medium: "/images/sha256/ab/medium.webp".into(),
    });
    // No pack_size: quantity comes before weight.
    full.attributes = BTreeMap::from([
        ("weight".to_string(), "1.02 kg".to_string()),
        ("quantity".to_string(), "1 kg".to_string()),
        ("colour".to_string(), "blue".to_string()),
    ]);
    let mut volume = product("Fortune Sunflower Oil", None);
    volume.attributes = BTreeMap::from([("volume".to_string(), "1 l".to_string())]);
    let mut packed = product("Parle-G Biscuits", None);
    packed.attributes = BTreeMap::from([
        ("weight".to_string(), "250 g".to_string()),
        ("pack_size".to_string(), "4 x 62.5 g".to_string()),
    ]);
    let bare = product("Loose Jaggery", None);
    for p in [&full, &volume, &packed, &bare] {
        s.products
            .insert(p, &catalog_tests::created_by_test(p))
            .await
            .unwrap();
    }
    let ids = [
        full.product_id,
        ProductId::new(),
        volume.product_id,
        packed.product_id,
        bare.product_id,
    ];
    let mut got = s.products.summaries(&ids).await.unwrap();
    got.sort_by_key(|(_, p)| p.name.clone());
    let want: Vec<_> = [&volume, &bare, &packed, &full]
        .into_iter()
        .map(|p| (p.product_id, ProductSummary::of(p)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got[3].1.size.as_deref(), Some("1 kg"));
    assert_eq!(got[2].1.size.as_deref(), Some("4 x 62.5 g"));
    assert_eq!(got[0].1.size.as_deref(), Some("1 l"));
    assert!(s.products.summaries(&[]).await.unwrap().is_empty());
}

async fn inventory_sorts_and_searches_within_a_store(s: &Stores) {
    let st = store(&format!("shelf-{}", ProductId::new()));
    let items = [
        ("Tata Salt", "Tata", "Foodgrains > Salt", "12", "2"),
        ("amul butter", "Amul", "Dairy > Butter", "0", "1"),
        ("Parle-G Biscuits", "Parle", "Snacks > Biscuits", "40", "5"),
        ("Tata Tea Gold", "Tata", "Beverages > Tea", "3", "4"),
        (
            "Bournvita",
            "Cadbury",
            "Beverages > Health Drinks",
            "0",
            "0",
        ),
    ];
    let mut ids = Vec::new();
    let base = Timestamp::now();
    for (i, (name, brand, cat, q, reorder)) in items.iter().enumerate() {
        let p = ProductId::new();
        let mut d = details(q);
        d.reorder_level = Some(qty(reorder));
        let barcode = (i == 2).then(random_gtin);
        let mut put = set(
            &d,
            Expect::Absent,
            base.plus(time::Duration::seconds(i as i64 - 10)),
        );
        put.product = Some(summary(name, brand, barcode, cat));
        let out = s.inventory.put(&st, &p, &put).await.unwrap();
        assert_eq!(out.item.product.as_ref().unwrap().name, *name);
        ids.push(p);
    }
    // A stock change keeps the item's summary.
    let a = s
        .inventory
        .adjust(&adjustment(&st, &ids[3], "1"))
        .await
        .unwrap();
    assert_eq!(a.item.product.unwrap().name, "Tata Tea Gold");
    let names = |items: Vec<InventoryItem>| -> Vec<String> {
        items.into_iter().map(|i| i.product.unwrap().name).collect()
    };
    let all = InventoryFilter::default();
    let by = |by, descending| InventoryOrder { by, descending };
    assert_eq!(
        names(listed(s, &st, &all, by(InventorySort::Name, false), 2).await),
        [
            "amul butter",
            "Bournvita",
            "Parle-G Biscuits",
            "Tata Salt",
            "Tata Tea Gold"
        ]
    );
    assert_eq!(
        names(listed(s, &st, &all, by(InventorySort::Name, true), 3).await),
        [
            "Tata Tea Gold",
            "Tata Salt",
            "Parle-G Biscuits",
            "Bournvita",
            "amul butter"
        ]
    );
    // Quantity, ties by product id; the adjusted item (3 -> 4) is the last updated.
    let by_qty = listed(s, &st, &all, by(InventorySort::Quantity, false), 2).await;
    let qtys: Vec<String> = by_qty
        .iter()
        .map(|i| i.details.quantity.to_string())
        .collect();
    assert_eq!(qtys, ["0", "0", "4", "12", "40"]);
    let latest = listed(s, &st, &all, by(InventorySort::Updated, true), 1).await;
    assert_eq!(latest[0].product_id, ids[3]);
    assert_eq!(latest.len(), 5);
    // Filters, alone and together, in any order.
    let f = |words: &[&str], category: Option<&str>, out: bool, low: bool| InventoryFilter {
        words: words.iter().map(|w| w.to_string()).collect(),
        category: category.map(str::to_string),
        out_of_stock: out,
        low_stock: low,
    };
    let sorted = by(InventorySort::Name, false);
    assert_eq!(
        names(listed(s, &st, &f(&["tata"], None, false, false), sorted, 1).await),
        ["Tata Salt", "Tata Tea Gold"]
    );
    assert_eq!(
        names(listed(s, &st, &f(&["tata", "tea"], None, false, false), sorted, 5).await),
        ["Tata Tea Gold"]
    );
    assert_eq!(
        names(listed(s, &st, &f(&[], Some("beverages"), false, false), sorted, 5).await),
        ["Bournvita", "Tata Tea Gold"]
    );
    assert_eq!(
        names(listed(s, &st, &f(&[], None, true, false), sorted, 5).await),
        ["amul butter", "Bournvita"]
    );
    assert_eq!(
        names(listed(s, &st, &f(&[], None, false, true), sorted, 5).await),
        ["amul butter", "Bournvita", "Tata Tea Gold"]
    );
    let barcode = items_barcode(s, &st, &ids[2]).await;
    assert_eq!(
        names(listed(s, &st, &f(&[&barcode], None, false, false), sorted, 5).await),
        ["Parle-G Biscuits"]
    );
    assert!(
        listed(s, &st, &f(&["100%"], None, false, false), sorted, 5)
            .await
            .is_empty()
    );
    // Another store's items never show.
    assert!(
        listed(s, &store("shelf-empty"), &all, sorted, 5)
            .await
            .is_empty()
    );
}

async fn items_barcode(s: &Stores, st: &StoreId, p: &ProductId) -> String {
    let item = s.inventory.get(st, p).await.unwrap().unwrap();
    item.product.unwrap().barcode.unwrap().to_string()
}

async fn deletes_are_conditional(s: &Stores) {
    let (st, p) = (store("del-store"), ProductId::new());
    assert!(matches!(
        s.inventory
            .delete(&st, &p, None, &origin(), Timestamp::now())
            .await,
        Err(StorageError::NotFound)
    ));
    s.inventory
        .put(
            &st,
            &p,
            &set(&details("1"), Expect::Absent, Timestamp::now()),
        )
        .await
        .unwrap();
    assert!(matches!(
        s.inventory
            .delete(&st, &p, Some(7), &origin(), Timestamp::now())
            .await,
        Err(StorageError::VersionConflict { current: Some(1) })
    ));
    s.inventory
        .delete(&st, &p, Some(1), &origin(), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(s.inventory.get(&st, &p).await.unwrap(), None);
}

/// What the import writes for `item` over `old` (absent: a new item).
fn import_write(item: &InventoryItem, old: Option<&InventoryItem>) -> StockWrite {
    let facts = MovementFacts {
        position_version: item.version,
        change: StockChange::Set(item.details.quantity),
        before: old.map(|o| o.details.quantity),
        after: item.details.quantity,
        reorder_level: item.details.reorder_level,
    };
    let origin = MovementOrigin::new(MovementKind::Import, "importer").source("job:test#row:2");
    StockWrite {
        item: item.clone(),
        expect: old.map_or(Expect::Absent, |o| Expect::Version(o.version)),
        movement: Some(Movement::record(
            &item.store_id,
            &item.product_id,
            item.stocked_since,
            facts,
            &origin,
            item.last_updated,
        )),
    }
}

/// Every movement of an item, newest first, read in pages of `limit`.
async fn whole_ledger(s: &Stores, st: &StoreId, p: &ProductId, limit: u32) -> Vec<Movement> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .inventory
            .movements(st, p, &PageQuery { after, limit })
            .await
            .unwrap();
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

async fn every_change_writes_its_movement(s: &Stores) {
    let (st, p) = (
        store(&format!("ledger-{}", ProductId::new())),
        ProductId::new(),
    );
    let mut d = details("10");
    d.reorder_level = Some(qty("3"));
    s.inventory
        .put(&st, &p, &set(&d, Expect::Absent, Timestamp::now()))
        .await
        .unwrap();
    s.inventory
        .adjust(&adjustment(&st, &p, "-4"))
        .await
        .unwrap();
    // Crosses the reorder level: the movement says so, once.
    let low = s
        .inventory
        .adjust(&adjustment(&st, &p, "-3.5"))
        .await
        .unwrap();
    assert_eq!(low.movement.unwrap().alerts, vec![StockAlert::LowStock]);
    let still_low = s
        .inventory
        .adjust(&adjustment(&st, &p, "-1"))
        .await
        .unwrap();
    assert!(still_low.movement.unwrap().alerts.is_empty());
    // A PUT that keeps the quantity (a price change) is not a stock change.
    let mut priced = d.clone();
    priced.quantity = qty("1.5");
    priced.selling_price = Some(Money::parse("20").unwrap());
    let put = s
        .inventory
        .put(&st, &p, &set(&priced, Expect::Version(4), Timestamp::now()))
        .await
        .unwrap();
    assert!(put.movement.is_none());
    let mut count = adjustment(&st, &p, "0");
    count.change = StockChange::Set(qty("7"));
    count.origin = MovementOrigin::new(MovementKind::Count, "scanner-1").source("scan:abc");
    s.inventory.adjust(&count).await.unwrap();
    s.inventory.adjust(&adjustment(&st, &p, "2")).await.unwrap();
    let item = s.inventory.get(&st, &p).await.unwrap().unwrap();
    let ledger = whole_ledger(s, &st, &p, 2).await;
    assert_eq!(ledger.len(), 6);
    let versions: Vec<u64> = ledger.iter().map(|m| m.version).collect();
    assert_eq!(
        versions,
        [7, 6, 4, 3, 2, 1],
        "newest first; the price change wrote none"
    );
    assert_eq!(replay(&ledger), Some(item.details.quantity));
    assert_eq!(item.details.quantity, qty("9"));
    assert_eq!(ledger[1].kind, MovementKind::Count);
    assert_eq!(ledger[1].source_id.as_deref(), Some("scan:abc"));
    assert_eq!(ledger[1].actor, "scanner-1");
    assert_eq!(
        (ledger[1].quantity_before, ledger[1].quantity_after),
        (Some(qty("1.5")), qty("7"))
    );
    assert_eq!(ledger[5].quantity_before, None);

    // Removed, the ledger stays; stocked again, a new life continues it.
    let gone = s
        .inventory
        .delete(&st, &p, None, &origin(), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        (gone.kind, gone.quantity_after),
        (MovementKind::Delete, Quantity::ZERO)
    );
    let mut scan = adjustment(&st, &p, "3");
    scan.create_if_missing = true;
    let again = s.inventory.adjust(&scan).await.unwrap();
    assert!(again.created);
    assert_eq!(again.item.version, 1);
    assert!(again.item.stocked_since > item.stocked_since);
    let ledger = whole_ledger(s, &st, &p, 3).await;
    assert_eq!(ledger.len(), 8);
    assert_eq!(ledger[0].stocked_since, again.item.stocked_since);
    assert_eq!(ledger[1].kind, MovementKind::Delete);
    assert_eq!(replay(&ledger), Some(qty("3")));
    // Another store's ledger of the same product is its own.
    assert!(
        whole_ledger(s, &store("ledger-other"), &p, 5)
            .await
            .is_empty()
    );
}

async fn alerts_wait_in_the_outbox_until_announced(s: &Stores) {
    let (st, p) = (
        store(&format!("outbox-{}", ProductId::new())),
        ProductId::new(),
    );
    let mut d = details("3");
    d.reorder_level = Some(qty("1"));
    s.inventory
        .put(&st, &p, &set(&d, Expect::Absent, Timestamp::now()))
        .await
        .unwrap();
    let ours = |pending: Vec<Movement>| -> Vec<Movement> {
        pending.into_iter().filter(|m| m.store_id == st).collect()
    };
    assert!(ours(s.inventory.unannounced(1000).await.unwrap()).is_empty());
    let out = s
        .inventory
        .adjust(&adjustment(&st, &p, "-3"))
        .await
        .unwrap();
    let m = out.movement.unwrap();
    assert_eq!(m.alerts, vec![StockAlert::LowStock, StockAlert::OutOfStock]);
    assert_eq!(m.reorder_level, Some(qty("1")));
    let pending = ours(s.inventory.unannounced(1000).await.unwrap());
    assert_eq!(pending, vec![m.clone()]);
    s.inventory.announced(&pending).await.unwrap();
    assert!(ours(s.inventory.unannounced(1000).await.unwrap()).is_empty());
    // Marking twice is harmless (a retried sweep).
    s.inventory.announced(&pending).await.unwrap();
}

async fn twenty_concurrent_sales_of_ten(s: &Stores) {
    let (st, p) = (
        store(&format!("sell-{}", ProductId::new())),
        ProductId::new(),
    );
    let mut d = details("10");
    d.reorder_level = Some(qty("2"));
    s.inventory
        .put(&st, &p, &set(&d, Expect::Absent, Timestamp::now()))
        .await
        .unwrap();
    let tasks = (0..20).map(|i| {
        let inv = s.inventory.clone();
        let mut a = adjustment(&st, &p, "-1");
        a.operation = Some(Operation {
            key: format!("scan:sell-{i}"),
            fingerprint: "f".into(),
        });
        tokio::spawn(async move { inv.adjust(&a).await })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let sold: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(sold.len(), 10);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StorageError::InsufficientStock { .. })))
    );
    let alerts: Vec<StockAlert> = sold
        .iter()
        .flat_map(|o| o.movement.as_ref().unwrap().alerts.clone())
        .collect();
    // One sale crossed the reorder level, one emptied the shelf: each alert once.
    assert_eq!(
        alerts
            .iter()
            .filter(|a| **a == StockAlert::OutOfStock)
            .count(),
        1
    );
    assert_eq!(
        alerts
            .iter()
            .filter(|a| **a == StockAlert::LowStock)
            .count(),
        1
    );
    let ledger = whole_ledger(s, &st, &p, 100).await;
    assert_eq!(ledger.len(), 11);
    assert_eq!(replay(&ledger), Some(Quantity::ZERO));
    assert_eq!(
        s.inventory
            .get(&st, &p)
            .await
            .unwrap()
            .unwrap()
            .details
            .quantity,
        Quantity::ZERO
    );
}

// ---------- jobs ----------

async fn jobs_are_versioned_and_listed_newest_first(s: &Stores) {
    let (a, b) = (store("jobs-a"), store("jobs-b"));
    let base = Timestamp::now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let job = CsvJob::new(
            JobId::new(),
            a.clone(),
            "owner",
            base.plus(time::Duration::milliseconds(i)),
        );
        s.jobs.insert(&job).await.unwrap();
        ids.push(job.job_id);
        s.jobs
            .insert(&CsvJob::new(JobId::new(), b.clone(), "owner", base))
            .await
            .unwrap();
    }
    let first = s.jobs.get(&ids[0]).await.unwrap().unwrap();
    assert!(matches!(
        s.jobs.insert(&first).await,
        Err(StorageError::AlreadyExists)
    ));
    let mut next = first.clone();
    next.status = JobStatus::Processing;
    next.counters.processed = 10;
    next.version = 2;
    s.jobs.update(&next).await.unwrap();
    assert_eq!(s.jobs.get(&ids[0]).await.unwrap().unwrap(), next);
    assert!(matches!(
        s.jobs.update(&next).await,
        Err(StorageError::VersionConflict { current: Some(2) })
    ));

    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .jobs
            .list_by_store(&a, &PageQuery { after, limit: 2 })
            .await
            .unwrap();
        got.extend(page.items.into_iter().map(|j| j.job_id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(got, ids);
}

// ---------- bulk inventory (imports) ----------

async fn bulk_inventory_writes_and_reads_in_batches(s: &Stores) {
    let (a, b) = (store("bulk-a"), store("bulk-b"));
    let at = Timestamp::now();
    let ids: Vec<ProductId> = (0..60).map(|_| ProductId::new()).collect();
    // One item exists already, with notes the bulk write must not be assumed to keep: the
    // caller reads it first and writes what it wants.
    let first = s
        .inventory
        .put(
            &a,
            &ids[0],
            &set(
                &InventoryDetails {
                    quantity: qty("1"),
                    notes: Some("top shelf".into()),
                    ..Default::default()
                },
                Expect::Absent,
                at,
            ),
        )
        .await
        .unwrap()
        .item;
    let items: Vec<InventoryItem> = ids
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let details = InventoryDetails {
                quantity: qty(&format!("{i}.5")),
                selling_price: Some(Money::parse("28.00").unwrap()),
                reorder_level: (i % 2 == 0).then(|| qty("5")),
                supplier: Some(format!("supplier {i}")),
                notes: (i == 0).then(|| "top shelf".to_string()),
                ..Default::default()
            };
            let (version, since) = if i == 0 {
                (2, first.stocked_since)
            } else {
                (1, at)
            };
            InventoryItem::new(a.clone(), *p, details, version, at, since)
        })
        .collect();
    let writes: Vec<StockWrite> = items
        .iter()
        .map(|i| {
            let old = (i.product_id == ids[0]).then_some(&first);
            import_write(i, old)
        })
        .collect();
    let done = s.inventory.put_many(&writes).await.unwrap();
    assert_eq!((done.written, done.conflicts.len()), (60, 0));
    // The same writes again find every item changed: nothing is written twice.
    let again = s.inventory.put_many(&writes[..30]).await.unwrap();
    assert_eq!(again.written, 0);
    let mut lost = again.conflicts.clone();
    lost.sort();
    let mut want_lost = ids[..30].to_vec();
    want_lost.sort();
    assert_eq!(lost, want_lost);
    s.inventory
        .put_many(&[import_write(
            &InventoryItem::new(b.clone(), ids[1], InventoryDetails::default(), 1, at, at),
            None,
        )])
        .await
        .unwrap();
    // Each item's ledger has its import movement, from what was there before.
    let ledger = s
        .inventory
        .movements(
            &a,
            &ids[0],
            &PageQuery {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .items;
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[0].kind, MovementKind::Import);
    assert_eq!(
        (ledger[0].quantity_before, ledger[0].count),
        (Some(qty("1")), Some(qty("0.5")))
    );
    assert_eq!(replay(&ledger), Some(qty("0.5")));

    let mut wanted: Vec<ProductId> = ids[..50].to_vec();
    wanted.extend((0..50).map(|_| ProductId::new())); // 50 the store does not stock
    let mut got = s.inventory.get_many(&a, &wanted).await.unwrap();
    got.sort_by_key(|i| i.product_id);
    let mut expected: Vec<InventoryItem> = items[..50].to_vec();
    expected.sort_by_key(|i| i.product_id);
    assert_eq!(got, expected);
    assert_eq!(
        s.inventory
            .get(&a, &ids[0])
            .await
            .unwrap()
            .unwrap()
            .details
            .notes
            .as_deref(),
        Some("top shelf")
    );
    assert_eq!(s.inventory.get_many(&b, &ids[..3]).await.unwrap().len(), 1);
    // Written items are ordinary items: atomic adjustments continue from their state.
    let out = s
        .inventory
        .adjust(&adjustment(&a, &ids[3], "1"))
        .await
        .unwrap();
    assert_eq!(
        (out.item.details.quantity, out.item.version),
        (qty("4.5"), 2)
    );
}

async fn stocked_products_are_the_store_items_only(s: &Stores) {
    let (a, b) = (
        store(&format!("stocked-{}", ProductId::new())),
        store("stocked-empty"),
    );
    assert_eq!(
        s.inventory.stocked_products(&a, 10).await.unwrap(),
        Some(Default::default())
    );
    let ids: Vec<ProductId> = (0..3).map(|_| ProductId::new()).collect();
    for p in &ids {
        s.inventory
            .put(&a, p, &set(&details("2"), Expect::Absent, Timestamp::now()))
            .await
            .unwrap();
    }
    // An adjustment with an operation key leaves a marker beside the items: not an item.
    let mut adj = adjustment(&a, &ids[0], "1");
    adj.operation = Some(Operation {
        key: "stocked-op-1".into(),
        fingerprint: "f".into(),
    });
    s.inventory.adjust(&adj).await.unwrap();
    let want: std::collections::HashSet<ProductId> = ids.iter().copied().collect();
    assert_eq!(
        s.inventory.stocked_products(&a, 3).await.unwrap(),
        Some(want)
    );
    // More than the limit: no set (the caller reads every item instead).
    assert_eq!(s.inventory.stocked_products(&a, 2).await.unwrap(), None);
    assert_eq!(
        s.inventory.stocked_products(&b, 10).await.unwrap(),
        Some(Default::default())
    );
}

async fn unfinished_jobs_are_found_for_the_sweep(s: &Stores) {
    let st = store("sweep");
    let mut open = BTreeSet::new();
    for (i, status) in JobStatus::ALL.into_iter().enumerate() {
        let mut job = CsvJob::new(JobId::new(), st.clone(), "owner", Timestamp::now());
        s.jobs.insert(&job).await.unwrap();
        job.status = status;
        job.version = 2;
        s.jobs.update(&job).await.unwrap();
        if !status.is_final() {
            open.insert(job.job_id);
        }
        assert!(i < 5);
    }
    let found: BTreeSet<JobId> = s
        .jobs
        .unfinished(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.store_id == st)
        .map(|j| j.job_id)
        .collect();
    assert_eq!(found, open);
    assert!(s.jobs.unfinished(1).await.unwrap().len() <= 1);
}

async fn job_checkpoints_and_leases_round_trip(s: &Stores) {
    let mut job = CsvJob::new(JobId::new(), store("jobs-c"), "owner", Timestamp::now());
    job.upload_bytes = 1_000;
    s.jobs.insert(&job).await.unwrap();
    job.status = JobStatus::Processing;
    job.bytes_read = 400;
    job.lease_until = Some(Timestamp::now().plus(time::Duration::minutes(16)));
    job.checkpoint = Some(JobCheckpoint {
        next_row: 501,
        bytes_read: 400,
        counters: JobCounters {
            total_rows: 500,
            processed: 500,
            successful: 490,
            failed: 10,
            duplicates_found: 3,
        },
    });
    job.counters = job.checkpoint.unwrap().counters;
    job.version = 2;
    s.jobs.update(&job).await.unwrap();
    assert_eq!(s.jobs.get(&job.job_id).await.unwrap().unwrap(), job);
}

/// Reads the whole change feed from `after`, `limit` at a time, with changes older than
/// `settle` ready: each page's `(product id, version)` in order, and where it ended.
async fn read_feed(
    s: &Stores,
    mut after: Option<Continuation>,
    limit: u32,
    settle: time::Duration,
) -> (Vec<(ProductId, u64)>, Continuation) {
    let mut seen = Vec::new();
    loop {
        let settled = Timestamp::from_datetime(Timestamp::now().datetime() - settle);
        let page = s
            .products
            .changes(after.as_ref(), settled, limit)
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        seen.extend(page.items.iter().map(|p| (p.product_id, p.version)));
        after = Some(page.next.clone());
        if !page.more {
            return (seen, page.next);
        }
    }
}

/// The change feed while a writer changes products: every change is given once and in order
/// across pages (in the order the writer wrote them; no change twice), and once the writer
/// stops and its changes settle, the feed ends with every product as it last was. Reading on
/// from the end gives nothing until a product changes again.
async fn the_change_feed_gives_each_change_once_in_order(s: &Stores) {
    let settle = time::Duration::milliseconds(1200);
    let mut products = Vec::new();
    for i in 0..12 {
        let p = product(&format!("Feed Product {i}"), None);
        s.products
            .insert(&p, &catalog_tests::created_by_test(&p))
            .await
            .unwrap();
        products.push(p);
    }
    let writer = {
        let store = s.products.clone();
        let mut current = products.clone();
        tokio::spawn(async move {
            let mut written: Vec<(ProductId, u64)> = Vec::new();
            for round in 0..40usize {
                let i = (round * 7 + round / 3) % current.len();
                let mut next = current[i].clone();
                next.name = format!("Feed Product {i} r{round}");
                next.version += 1;
                store
                    .update(
                        &current[i],
                        &next,
                        &catalog_tests::changed_by_test(&current[i], &next),
                    )
                    .await
                    .unwrap();
                written.push((next.product_id, next.version));
                current[i] = next;
                tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            }
            (current, written)
        })
    };
    // Read while the writer writes, then until its last change has settled.
    let mut seen = Vec::new();
    let mut after = None;
    let mut finished_at = None;
    loop {
        let (page, next) = read_feed(s, after.clone(), 3, settle).await;
        seen.extend(page);
        after = Some(next);
        if finished_at.is_none() && writer.is_finished() {
            finished_at = Some(std::time::Instant::now());
        }
        if finished_at.is_some_and(|t| t.elapsed() > std::time::Duration::from_millis(1500)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    let (last, written) = writer.await.unwrap();
    // In the order written: the inserts first, then the writer's updates.
    let mut order: Vec<(ProductId, u64)> = products.iter().map(|p| (p.product_id, 1)).collect();
    order.extend(written);
    let places: Vec<usize> = seen
        .iter()
        .map(|c| {
            order
                .iter()
                .position(|w| w == c)
                .expect("a change that was written")
        })
        .collect();
    assert!(
        places.windows(2).all(|w| w[0] < w[1]),
        "out of order: {seen:?}"
    );
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "a change given twice: {seen:?}");
    for p in &last {
        let versions: Vec<u64> = seen
            .iter()
            .filter(|(id, _)| *id == p.product_id)
            .map(|(_, v)| *v)
            .collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(
            versions.last(),
            Some(&p.version),
            "{}: {versions:?}",
            p.name
        );
    }
    // Caught up: nothing more until something changes.
    let end = after.unwrap();
    let (nothing, same) = read_feed(s, Some(end.clone()), 5, settle).await;
    assert!(nothing.is_empty(), "{nothing:?}");
    assert_eq!(same, end);
    let p = &last[0];
    let mut next = s.products.get(&p.product_id).await.unwrap().unwrap();
    let before = next.clone();
    next.brand = Some("Changed".into());
    next.version += 1;
    s.products
        .update(
            &before,
            &next,
            &catalog_tests::changed_by_test(&before, &next),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (again, _) = read_feed(s, Some(end), 5, settle).await;
    assert_eq!(again, vec![(next.product_id, next.version)]);
    // From the start, each product once, as it is now; a position from elsewhere is refused.
    let (all, _) = read_feed(s, None, 5, settle).await;
    assert_eq!(all.len(), last.len());
    assert!(matches!(
        s.products
            .changes(
                Some(&Continuation("not a position".into())),
                Timestamp::now(),
                5
            )
            .await,
        Err(StorageError::BadContinuation)
    ));
}

/// Every history entry enters the product events' outbox with its change, and leaves it when
/// announced.
async fn history_waits_in_the_outbox_until_announced(s: &Stores) {
    let p = product("Outbox Product", Some(random_gtin()));
    s.products
        .insert(&p, &catalog_tests::created_by_test(&p))
        .await
        .unwrap();
    let mut v2 = p.clone();
    v2.name = "Outbox Product Two".into();
    v2.version = 2;
    s.products
        .update(&p, &v2, &catalog_tests::changed_by_test(&p, &v2))
        .await
        .unwrap();
    let ours = |all: Vec<catalog_core::domain::HistoryEntry>| {
        let mut v: Vec<u64> = all
            .into_iter()
            .filter(|e| e.product_id == p.product_id)
            .map(|e| e.version)
            .collect();
        v.sort();
        v
    };
    let pending = s.products.unannounced_history(1000).await.unwrap();
    assert_eq!(ours(pending.clone()), vec![1, 2]);
    let first: Vec<_> = pending
        .into_iter()
        .filter(|e| e.product_id == p.product_id && e.version == 1)
        .collect();
    assert_eq!(
        first[0].action,
        catalog_core::domain::ProductAction::Created
    );
    s.products.history_announced(&first).await.unwrap();
    assert_eq!(
        ours(s.products.unannounced_history(1000).await.unwrap()),
        vec![2]
    );
    let rest = s.products.unannounced_history(1000).await.unwrap();
    s.products.history_announced(&rest).await.unwrap();
    assert!(ours(s.products.unannounced_history(1000).await.unwrap()).is_empty());
    // The history itself is as it was.
    let page = s
        .products
        .history(
            &p.product_id,
            &PageQuery {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
}

store_cases!(
    embedded:
    history_waits_in_the_outbox_until_announced,
    the_change_feed_gives_each_change_once_in_order,
    product_round_trips_every_field,
    barcode_lookup_is_immediate_and_canonical,
    duplicate_barcode_names_the_holder,
    concurrent_creates_of_one_barcode_make_one_product,
    bulk_inserts_report_each_product_in_order,
    product_updates_are_versioned,
    changing_a_barcode_moves_its_claim,
    listing_by_status_pages_oldest_first,
    pending_products_list_by_quality,
    listing_by_category_matches_whole_segments,
    listing_by_words_needs_every_word,
    listing_everything_pages_without_gaps_or_guards,
    foreign_continuations_are_refused,
    put_creates_then_replaces_under_conditions,
    adjustments_never_go_below_zero,
    adjusting_a_missing_item,
    an_operation_key_applies_once,
    fifty_concurrent_adjustments_all_count,
    concurrent_sales_never_oversell,
    inventory_lists_page_within_one_store,
    deletes_are_conditional,
    every_change_writes_its_movement,
    inventory_sorts_and_searches_within_a_store,
    products_are_read_many_at_once,
    summaries_are_what_whole_products_give,
    every_product_change_has_its_history_entry,
    merging_moves_each_stores_item_once,
    stock_never_lands_on_a_merged_product,
    twenty_concurrent_sales_of_ten,
    alerts_wait_in_the_outbox_until_announced,
    jobs_are_versioned_and_listed_newest_first,
    bulk_inventory_writes_and_reads_in_batches,
    stocked_products_are_the_store_items_only,
    job_checkpoints_and_leases_round_trip,
    unfinished_jobs_are_found_for_the_sweep,
);
