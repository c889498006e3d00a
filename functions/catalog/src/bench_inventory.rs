//! `catalog bench-inventory`: what a store's inventory operations cost on DynamoDB, in the
//! capacity units DynamoDB reports for them (ReturnConsumedCapacity), measured against
//! DynamoDB Local through the service calls the API makes (`make bench-inventory`).
//!
//! A store of `--items` items (products with realistic names, brands, barcodes, categories
//! and prices) is seeded, then each operation runs once and prints its read and write units.
//! Signing in ends the table: a store made a record, a code asked for, a sign-in, a refresh,
//! a sign-out.

use std::sync::Arc;

use catalog_core::adapters::dynamo::{DynamoStore, TableNames, Units};
use catalog_core::adapters::s3::S3Blobs;
use catalog_core::auth::{Principal, TokenKeys};
use catalog_core::cursor::CursorKey;
use catalog_core::domain::{
    Gtin, IdempotencyKey, InventoryDetails, InventoryItem, Money, Movement, MovementFacts,
    MovementKind, MovementOrigin, Product, ProductContent, ProductId, ProductSource,
    ProductSummary, Quantity, QuantityDelta, StockChange, StoreId, Timestamp, check_digit,
};
use catalog_core::domain::{KeyScope, Phone, RegionCode};
use catalog_core::ports::{
    BlobStore, CodeSender, Expect, InventoryFilter, InventoryOrder, InventorySort, InventoryStore,
    ProductStore, StockWrite, StorageError,
};
use catalog_core::services::accounts::{Accounts, ClientAddress, Invitee, NewKey, NewStore};
use catalog_core::services::matching::{IndexSource, MatcherState};
use catalog_core::services::{
    AdjustRequest, Catalog, PageRequest, PutRequest, ScanMode, ScanRequest,
};

use crate::bench_import::{Servers, clients};

#[derive(clap::Args)]
pub struct Args {
    /// Items in the measured store.
    #[arg(long, default_value_t = 1000)]
    pub items: usize,
    #[command(flatten)]
    pub servers: Servers,
}

const BRANDS: [&str; 8] = [
    "Tata",
    "Amul",
    "Parle",
    "Britannia",
    "Haldiram's",
    "Aashirvaad",
    "Fortune",
    "Everest",
];
const GOODS: [(&str, &str, &str); 8] = [
    ("Iodised Salt", "Foodgrains > Salt & Sugar", "1 kg"),
    ("Pure Ghee", "Dairy > Ghee", "500 ml"),
    ("Glucose Biscuits", "Snacks > Biscuits", "250 g"),
    ("Milk Bikis Cream Biscuits", "Snacks > Biscuits", "120 g"),
    ("Aloo Bhujia Namkeen", "Snacks > Namkeen", "400 g"),
    ("Whole Wheat Atta", "Foodgrains > Atta & Flours", "5 kg"),
    (
        "Refined Sunflower Oil",
        "Edible Oils > Sunflower Oil",
        "1 L",
    ),
    (
        "Garam Masala Powder",
        "Masalas & Spices > Blended Masalas",
        "100 g",
    ),
];

pub(crate) fn gtin(n: u64) -> Gtin {
    let body = format!("{:012}", 890_500_000_000 + n);
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    Gtin::parse(&format!("{body}{}", check_digit(&digits))).expect("a valid GTIN")
}

pub(crate) fn product(i: usize, now: Timestamp) -> Product {
    let (name, category, size) = GOODS[i % GOODS.len()];
    let brand = BRANDS[(i / GOODS.len()) % BRANDS.len()];
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert("pack_size".to_string(), size.to_string());
    let content = ProductContent {
        name: format!("{brand} {name} {size}"),
        brand: Some(brand.to_string()),
        category: Some(category.to_string()),
        barcode: Some(gtin(i as u64)),
        attributes,
        ..Default::default()
    };
    Product::create(ProductId::new(), content, ProductSource::Api, "bench", now)
}

/// An item as an owner keeps it: a count, both prices, a reorder level, a supplier and shelf.
pub(crate) fn item(store: &StoreId, p: &Product, i: usize, now: Timestamp) -> StockWrite {
    let details = InventoryDetails {
        quantity: Quantity::from_minor((i as i64 % 90 + 10) * Quantity::UNIT).unwrap(),
        selling_price: Money::from_minor(4_500 + i as i64 % 9_000).ok(),
        cost_price: Money::from_minor(4_000 + i as i64 % 8_000).ok(),
        reorder_level: Quantity::from_minor(5 * Quantity::UNIT).ok(),
        supplier: Some("Sharma Traders".into()),
        location: Some(format!("Rack {}", i % 12 + 1)),
        ..Default::default()
    };
    let item = InventoryItem::new(store.clone(), p.product_id, details, 1, now, now)
        .with_product(Some(ProductSummary::of(p)));
    let facts = MovementFacts {
        position_version: 1,
        change: StockChange::Set(item.details.quantity),
        before: None,
        after: item.details.quantity,
        reorder_level: item.details.reorder_level,
    };
    let origin = MovementOrigin::new(MovementKind::Import, "bench");
    let movement = Movement::record(store, &p.product_id, now, facts, &origin, now);
    StockWrite {
        item,
        expect: Expect::Absent,
        movement: Some(movement),
    }
}

/// Stocks `shop` with an item of each of `products`, 500 to a bulk write (as an import
/// writes them). Returns what it wrote.
pub(crate) async fn stock(
    inventory: &dyn InventoryStore,
    shop: &StoreId,
    products: &[Product],
    now: Timestamp,
) -> anyhow::Result<Vec<StockWrite>> {
    let writes: Vec<StockWrite> = products
        .iter()
        .enumerate()
        .map(|(i, p)| item(shop, p, i, now))
        .collect();
    for chunk in writes.chunks(500) {
        inventory.put_many(chunk).await?;
    }
    Ok(writes)
}

/// Runs `f` and prints the units the store consumed meanwhile.
async fn measure<T, F>(store: &DynamoStore, what: &str, f: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = Result<T, catalog_core::services::ServiceError>>,
{
    let before = store.consumed();
    let out = f.await.map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let after = store.consumed();
    let used = Units {
        read: after.read - before.read,
        write: after.write - before.write,
    };
    println!("{what:<58} {:>7.1} {:>7.1}", used.read, used.write);
    Ok(out)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let clients = clients(&args.servers).await;
    let run = format!(
        "bench-inv-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let store = Arc::new(DynamoStore::new(
        clients.ddb.clone(),
        TableNames::with_prefix(&run),
    ));
    store.create_tables().await?;
    let blobs: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(clients.s3.clone(), &run));
    let catalog = Catalog::new(
        store.clone(),
        store.clone(),
        store.clone(),
        blobs.clone(),
        blobs,
        MatcherState::new(IndexSource::Store, std::time::Duration::from_secs(3600)),
        CursorKey::derive(b"bench-inventory-cursor-key-32-bytes"),
    );
    let shop = StoreId::parse("bench-shop").map_err(anyhow::Error::msg)?;
    let now = Timestamp::now();
    let products: Vec<Product> = (0..args.items + 1).map(|i| product(i, now)).collect();
    for chunk in products.chunks(500) {
        store
            .insert_new(
                chunk,
                &catalog_core::domain::Actor {
                    sub: "bench".into(),
                    role: "admin".into(),
                    request_id: None,
                },
            )
            .await?;
    }
    let writes = stock(store.as_ref(), &shop, &products[..args.items], now).await?;
    let who = Principal::operator("bench");
    let list = |order: InventoryOrder, filter: InventoryFilter, limit: u32| {
        let (catalog, who, shop) = (&catalog, &who, &shop);
        async move {
            catalog
                .list_inventory(
                    who,
                    shop,
                    filter,
                    order,
                    &PageRequest {
                        cursor: None,
                        limit: Some(limit),
                    },
                )
                .await
        }
    };
    println!(
        "store of {} items (each ~{} bytes with its product summary); capacity units as DynamoDB Local reports them",
        args.items,
        serde_json::to_string(&writes[0].item)?.len()
    );
    println!("{:<58} {:>7} {:>7}", "operation", "RCU", "WCU");
    let by_name = InventoryOrder {
        by: InventorySort::Name,
        descending: false,
    };
    let all = InventoryFilter::default;
    measure(
        &store,
        "list, 25 items (product id order) + summaries",
        list(InventoryOrder::default(), all(), 25),
    )
    .await?;
    measure(
        &store,
        "list, 100 items (product id order) + summaries",
        list(InventoryOrder::default(), all(), 100),
    )
    .await?;
    measure(
        &store,
        "list, 25 items by name (GSI) + summaries",
        list(by_name, all(), 25),
    )
    .await?;
    measure(
        &store,
        "list, 100 items by name (GSI) + summaries",
        list(by_name, all(), 100),
    )
    .await?;
    let salt = InventoryFilter {
        words: vec!["salt".into()],
        ..Default::default()
    };
    measure(
        &store,
        "list, q=salt (1 in 8 match), 25 items",
        list(by_name, salt, 25),
    )
    .await?;
    let first = products[0].product_id;
    measure(
        &store,
        "get one item + its summary",
        catalog.get_inventory_item(&who, &shop, &first),
    )
    .await?;
    measure(
        &store,
        "adjust -1 (read, item + movement transaction)",
        catalog.adjust_inventory(
            &who,
            &shop,
            &first,
            AdjustRequest {
                delta: QuantityDelta::parse("-1")?,
                reason: catalog_core::domain::AdjustmentReason::Sale,
                key: None,
            },
        ),
    )
    .await?;
    measure(
        &store,
        "adjust -1 with Idempotency-Key (+ marker)",
        catalog.adjust_inventory(
            &who,
            &shop,
            &first,
            AdjustRequest {
                delta: QuantityDelta::parse("-1")?,
                reason: catalog_core::domain::AdjustmentReason::Sale,
                key: Some(IdempotencyKey::parse("bench-1").map_err(anyhow::Error::msg)?),
            },
        ),
    )
    .await?;
    let scan = |barcode: Gtin, mode: ScanMode, id: &str| ScanRequest {
        store_id: shop.clone(),
        barcode,
        quantity: Quantity::one(),
        mode,
        scan_id: IdempotencyKey::parse(id).ok(),
        device_time: None,
    };
    measure(
        &store,
        "scan sell, stocked item (barcode lookup, marker)",
        catalog.scan(&who, scan(gtin(1), ScanMode::Sell, "s-1")),
    )
    .await?;
    measure(
        &store,
        "scan receive, product not yet stocked (new item)",
        catalog.scan(
            &who,
            scan(gtin(args.items as u64), ScanMode::Receive, "s-2"),
        ),
    )
    .await?;
    let mut details = writes[2].item.details.clone();
    details.quantity = Quantity::parse("77")?;
    measure(
        &store,
        "PUT with a new count (product read, item + movement)",
        catalog.put_inventory_item(
            &who,
            &shop,
            &products[2].product_id,
            PutRequest {
                details: details.clone(),
                expect_version: None,
                create_only: false,
            },
        ),
    )
    .await?;
    details.selling_price = Money::parse("99.50").ok();
    measure(
        &store,
        "PUT of a price only (no movement)",
        catalog.put_inventory_item(
            &who,
            &shop,
            &products[2].product_id,
            PutRequest {
                details,
                expect_version: None,
                create_only: false,
            },
        ),
    )
    .await?;
    measure(
        &store,
        "movements, 25 newest",
        catalog.list_movements(&who, &shop, &first, &PageRequest::default()),
    )
    .await?;
    measure(
        &store,
        "DELETE (item removed + delete movement)",
        catalog.delete_inventory_item(&who, &shop, &products[3].product_id, None),
    )
    .await?;
    let reviewed = products[4].product_id;
    measure(
        &store,
        "approve a product (product + history entry)",
        catalog.decide_product(
            &who,
            &reviewed,
            catalog_core::services::Decision::Approve,
            None,
        ),
    )
    .await?;
    measure(
        &store,
        "reject it, with a reason (product + history entry)",
        catalog.decide_product(
            &who,
            &reviewed,
            catalog_core::services::Decision::Reject {
                reason: "a duplicate of another pack".into(),
            },
            None,
        ),
    )
    .await?;
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    measure(
        &store,
        "merge a product one store stocks into one it stocks too",
        catalog.merge_product(
            &who,
            &products[5].product_id,
            &products[6].product_id,
            until,
        ),
    )
    .await?;
    // The shop's item of products[3] was removed above: its item is created from the merged one's.
    measure(
        &store,
        "merge into a product the store does not stock (item created)",
        catalog.merge_product(
            &who,
            &products[8].product_id,
            &products[3].product_id,
            until,
        ),
    )
    .await?;
    measure(
        &store,
        "its history, newest 25",
        catalog.product_history(&who, &reviewed, &PageRequest::default()),
    )
    .await?;
    let mut announced = 0;
    let started = store.consumed();
    loop {
        let n = catalog
            .announce_product_events()
            .await
            .map_err(|e| anyhow::anyhow!("announcing product events: {e}"))?;
        if n == 0 {
            break;
        }
        announced += n;
    }
    let used = store.consumed();
    println!(
        "{:<58} {:>7.1} {:>7.1}",
        format!("product events: the outbox announced ({announced} entries)"),
        used.read - started.read,
        used.write - started.write
    );
    accounts(&store).await
}

/// The SMS a sign-in sends, kept to sign in with.
#[derive(Default)]
struct Inbox(std::sync::Mutex<String>);

#[async_trait::async_trait]
impl CodeSender for Inbox {
    async fn send(&self, _: &Phone, message: &str) -> Result<(), StorageError> {
        *self.0.lock().unwrap() = message.to_string();
        Ok(())
    }
}

/// What signing in costs: the accounts table's units for each step.
async fn accounts(store: &Arc<DynamoStore>) -> anyhow::Result<()> {
    let secret = b"bench-inventory-accounts-secret-32b";
    let inbox = Arc::new(Inbox::default());
    let accounts = Accounts::new(
        store.clone(),
        inbox.clone(),
        TokenKeys::new(secret).map_err(anyhow::Error::msg)?,
        secret,
    );
    let phone = Phone::parse("+919876543210").map_err(anyhow::Error::msg)?;
    let from = ClientAddress(Some(std::net::Ipv4Addr::LOCALHOST.into()));
    measure(
        store,
        "sign-in: an admin makes a store and its owner",
        accounts.create_store(
            &Principal::operator("bench"),
            NewStore {
                store_id: StoreId::parse("bench-signin").map_err(anyhow::Error::msg)?,
                name: "Bench Kirana".into(),
                region: RegionCode::parse("IN-MH").map_err(anyhow::Error::msg)?,
                owner: Invitee {
                    phone: phone.clone(),
                    display_name: "Bench Owner".into(),
                },
            },
        ),
    )
    .await?;
    measure(
        store,
        "sign-in: a code asked for (SMS sent)",
        accounts.request_code(&phone, from),
    )
    .await?;
    let code: String = inbox.0.lock().unwrap().chars().take(6).collect();
    let pair = measure(
        store,
        "sign-in: the code for a token pair",
        accounts.sign_in(&phone, &code, from),
    )
    .await?;
    let next = measure(
        store,
        "sign-in: a refresh (the token rotated)",
        accounts.refresh(&pair.refresh_token),
    )
    .await?;
    measure(
        store,
        "sign-in: sign-out",
        accounts.sign_out(&next.refresh_token),
    )
    .await?;
    let shop = StoreId::parse("bench-signin").map_err(anyhow::Error::msg)?;
    let owner = Principal {
        sub: pair.user_id.map(|u| u.to_string()).unwrap_or_default(),
        role: catalog_core::auth::Role::StoreOwner,
        stores: [shop.clone()].into(),
        request_id: None,
    };
    let pairing = measure(
        store,
        "devices: an owner adds a scanner device",
        accounts.add_device(&owner, &shop, "Counter scanner".into()),
    )
    .await?;
    let device = measure(
        store,
        "devices: the device pairs (its session starts)",
        accounts.pair_device(&pairing.pairing_code, from),
    )
    .await?;
    measure(
        store,
        "devices: the device refreshes",
        accounts.refresh(&device.refresh_token),
    )
    .await?;
    measure(
        store,
        "devices: the owner revokes it",
        accounts.revoke_device(&owner, &shop, &pairing.device.device_id),
    )
    .await?;
    let key = measure(
        store,
        "keys: an owner makes an integration key",
        accounts.create_key(
            &owner,
            &shop,
            NewKey {
                name: "Counter POS".into(),
                scopes: [KeyScope::InventoryRead].into(),
                requests_per_minute: 600,
            },
        ),
    )
    .await?;
    measure(
        store,
        "keys: a request with it (key read, bucket and last use)",
        accounts.authenticate_key(&key.secret, &[KeyScope::InventoryRead]),
    )
    .await?;
    measure(
        store,
        "keys: its next request",
        accounts.authenticate_key(&key.secret, &[KeyScope::InventoryRead]),
    )
    .await?;
    measure(
        store,
        "keys: a request outside its scopes (refused)",
        async {
            match accounts
                .authenticate_key(&key.secret, &[KeyScope::InventoryWrite])
                .await
            {
                Err(catalog_core::services::ServiceError::Forbidden(_)) => Ok(()),
                Err(e) => Err(e),
                Ok(_) => Err(catalog_core::services::ServiceError::Conflict {
                    code: "bench_scope",
                    detail: "a key was let through outside its scopes".into(),
                }),
            }
        },
    )
    .await?;
    measure(
        store,
        "keys: the owner revokes it",
        accounts.revoke_key(&owner, &shop, &key.key.key_id),
    )
    .await?;
    webhooks(store, &owner, &shop).await
}

/// A receiver on loopback answering every request with `status`; its URL.
async fn receiver(status: u16) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || async move {
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// What webhooks cost: a subscription, an event delivered at once, one whose receiver fails
/// and is tried again, and the listing (receivers on loopback, as a test's).
async fn webhooks(
    store: &Arc<DynamoStore>,
    owner: &Principal,
    shop: &StoreId,
) -> anyhow::Result<()> {
    use catalog_core::services::ServiceError;
    use catalog_core::services::webhooks::{NewWebhook, Webhooks};

    let secret = b"bench-inventory-webhooks-secret-32";
    let hooks = Webhooks::new(
        store.clone(),
        Some(catalog_core::adapters::webhook_http::HttpWebhooks::make(
            true,
        )),
        secret,
        CursorKey::derive(secret),
        true,
    );
    let new = |url: String| NewWebhook {
        url,
        events: [catalog_core::domain::EventType::JobCompleted].into(),
        description: "bench".into(),
    };
    let ok = receiver(200).await?;
    let made = measure(
        store,
        "webhooks: an owner subscribes a URL",
        hooks.create(owner, shop, new(ok)),
    )
    .await?;
    let completion = || {
        let mut job = catalog_core::domain::CsvJob::new(
            catalog_core::domain::JobId::new(),
            shop.clone(),
            "bench",
            Timestamp::now(),
        );
        job.completed_at = Some(Timestamp::now());
        catalog_core::domain::Event::job_completed(&job)
    };
    let event = completion();
    measure(
        store,
        "webhooks: an event delivered (fan-out, held, delivered)",
        async {
            hooks
                .deliver_event(&event)
                .await
                .map_err(ServiceError::storage)
        },
    )
    .await?;
    hooks
        .delete(owner, shop, &made.webhook.webhook_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let failing = receiver(500).await?;
    let made = hooks
        .create(owner, shop, new(failing))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let event = completion();
    measure(
        store,
        "webhooks: an event whose receiver fails (its first attempt)",
        async {
            hooks
                .deliver_event(&event)
                .await
                .map_err(ServiceError::storage)
        },
    )
    .await?;
    measure(
        store,
        "webhooks: the sweep's retry of it (read due, held, failed again)",
        async {
            hooks
                .deliver_due(Timestamp::now().plus(time::Duration::seconds(6)), 100)
                .await
                .map_err(ServiceError::storage)
        },
    )
    .await?;
    measure(
        store,
        "webhooks: a page of its deliveries",
        hooks.deliveries(
            owner,
            shop,
            &made.webhook.webhook_id,
            &PageRequest::default(),
        ),
    )
    .await?;
    Ok(())
}
