//! The domain: parsed types and the rules of products, inventory and import jobs.
//!
//! Nothing here knows about HTTP, DynamoDB, S3 or SQLite. Values are built by `parse` functions
//! that reject bad input with a reason, so code past the edge trusts them ("parse, don't
//! validate").

#[macro_use]
mod schema;
pub mod account;
mod amount;
pub mod enrichment;
pub mod event;
mod gtin;
pub mod history;
mod ids;
pub mod inventory;
pub mod job;
pub mod key;
pub mod movement;
pub mod product;
mod timestamp;
mod validation;
pub mod webhook;

pub use account::{
    Device, GlobalRole, Holder, Membership, Phone, Session, SignInCode, Store, StoreRole, User,
};
pub use amount::{AmountError, DecimalText, Money, Quantity, QuantityDelta};
pub use enrichment::{Attribution, Enrichment, EnrichmentStatus, OffFacts};
pub use event::{Event, EventType};
pub use gtin::{Gtin, GtinError, check_digit};
pub use history::{Actor, FieldChange, HistoryEntry, ProductAction};
pub use ids::{
    DeviceId, IdError, IdempotencyKey, JobId, KeyId, ProductId, SessionId, StoreId, UserId,
    WebhookId,
};
pub use inventory::{
    Adjustment, AdjustmentReason, InventoryDetails, InventoryItem, ItemPhoto, Operation,
    ProductSummary,
};
pub use job::{
    ColumnUse, CsvJob, JOB_LEASE, JobCheckpoint, JobCounters, JobKind, JobStatus, export_key,
    parse_upload_key, report_key, state_key, upload_key,
};
pub use key::{ApiKey, KeyBucket, KeyScope, Take};
pub use movement::{
    LedgerPosition, Movement, MovementFacts, MovementKind, MovementOrigin, StockAlert, StockChange,
};
pub use product::{
    ImageState, ImageUrls, MAX_REVIEW_CANDIDATES, MatchReview, NewImage, Product, ProductChanges,
    ProductContent, ProductSource, QualityPart, RegionCode, ReviewCandidate, VerificationStatus,
};
pub use timestamp::Timestamp;
pub use validation::{Coded, FieldError, FieldErrors, TextError, clean_text};
pub use webhook::{Delivery, DeliveryStatus, Webhook};
