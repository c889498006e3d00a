//! Merging a duplicate product into the one it duplicates: the duplicate becomes `merged`
//! (final; scans of its barcode land on the target), the target takes the regional names and
//! attributes it lacks, and every store's item of the duplicate moves onto the target.
//!
//! Owns the order that makes a merge resumable with nothing lost or counted twice: the product
//! is marked first, then stores are moved one at a time, each in one atomic write that removes
//! the duplicate's item (so a store already moved is never moved again). A merge cut short (a
//! deadline, a crash) is finished by asking for it again.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::time::Instant;

use super::{Catalog, ServiceError, ServiceResult};
use crate::auth::{Principal, REVIEWERS};
use crate::domain::{
    FieldErrors, HistoryEntry, MovementKind, Product, ProductAction, ProductChanges, ProductId,
    ProductSummary, Timestamp, VerificationStatus,
};
use crate::ports::{ItemMerge, StorageError};

/// Stores listed per round of a merge.
const STORES_PER_ROUND: usize = 100;
/// Merges followed from a target to the product it became (a chain longer than this is a bug).
const MAX_CHAIN: usize = 16;
/// Times a merge is tried again when the product changed under it.
const MARK_ATTEMPTS: usize = 3;

/// Where a merge stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MergeReport {
    /// The merged product (`merged`, with `merged_into`).
    pub product: Product,
    /// The product its stock is on, with what it took over: `merged_into`, or, when that one
    /// was merged itself since, the product it became.
    pub into: Product,
    /// Stores whose item moved in this call.
    pub stores_moved: u64,
    /// Every store's item has moved; `false`: ask again to finish (nothing moves twice).
    pub complete: bool,
    /// Stores whose stock of both products together would pass 10,000,000: their items stay
    /// until an owner lowers one count, then the merge is asked for again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overflowed: Vec<crate::domain::StoreId>,
}

/// What a pass over the stores did.
struct Moves {
    moved: u64,
    /// No store is left to move (but those that overflowed).
    done: bool,
    overflowed: Vec<crate::domain::StoreId>,
    /// The target was merged itself meanwhile: it takes no new items.
    target_merged: bool,
}

impl Catalog {
    /// Merges product `id` into `into` (admins), moving every store's stock onto it, until done
    /// or `until` comes (then `complete` is false and a repeat of the call goes on).
    pub async fn merge_product(
        &self,
        who: &Principal,
        id: &ProductId,
        into: &ProductId,
        until: Instant,
    ) -> ServiceResult<MergeReport> {
        who.require_role(REVIEWERS)?;
        if id == into {
            return Err(ServiceError::Conflict {
                code: "merge_into_itself",
                detail: format!("product {id} cannot be merged into itself"),
            });
        }
        let mut attempt = 0;
        let (source, target) = loop {
            attempt += 1;
            match self.merge_records(who, id, into).await {
                // The product changed between the read and the write: decide on it again.
                Err(ServiceError::VersionMismatch { .. }) if attempt < MARK_ATTEMPTS => {}
                other => break other?,
            }
        };
        let target = self.end_of_merges(who, target).await?;
        let (moves, target) = self.move_stores(who, &source, target, until).await?;
        Ok(MergeReport {
            product: source,
            into: target,
            stores_moved: moves.moved,
            complete: moves.done && moves.overflowed.is_empty(),
            overflowed: moves.overflowed,
        })
    }

    /// Reads both products and marks `id` merged into `into` unless it is already (a merge
    /// under way), answering both as they now are.
    async fn merge_records(
        &self,
        who: &Principal,
        id: &ProductId,
        into: &ProductId,
    ) -> ServiceResult<(Product, Product)> {
        let source = self.get_product(who, id).await?;
        let target = match self.get_product(who, into).await {
            Ok(t) => t,
            Err(ServiceError::NotFound { .. }) => {
                return Err(FieldErrors::single(
                    "into",
                    "unknown_product",
                    format!("product {into} does not exist"),
                )
                .into());
            }
            Err(e) => return Err(e),
        };
        let resuming = source.verification_status == VerificationStatus::Merged
            && source.merged_into == Some(*into);
        if resuming {
            // A merge already under way goes on whatever became of its target since (its
            // stock must not stay where no scan reaches it).
            return Ok((source, target));
        }
        if target.verification_status == VerificationStatus::Merged {
            return Err(target_merged(into, target.merged_into));
        }
        if source.verification_status == VerificationStatus::Merged {
            return Err(ServiceError::Conflict {
                code: "product_merged",
                detail: format!("product {id} was merged into another product already"),
            });
        }
        self.mark_merged(who, source, target).await
    }

    /// The product `p` became: itself, or the end of the merges that took it.
    async fn end_of_merges(&self, who: &Principal, mut p: Product) -> ServiceResult<Product> {
        for _ in 0..MAX_CHAIN {
            match (p.verification_status, p.merged_into) {
                (VerificationStatus::Merged, Some(next)) => {
                    p = self.get_product(who, &next).await?
                }
                _ => return Ok(p),
            }
        }
        Err(ServiceError::Internal(StorageError::Corrupt(format!(
            "product {} is at the end of more than {MAX_CHAIN} merges",
            p.product_id
        ))))
    }

    /// Marks `source` merged into `target` and gives `target` the regional names and
    /// attributes it lacks, each with its history entry.
    async fn mark_merged(
        &self,
        who: &Principal,
        source: Product,
        target: Product,
    ) -> ServiceResult<(Product, Product)> {
        let now = Timestamp::now();
        let merged = source.apply(
            ProductChanges {
                verification_status: Some(VerificationStatus::Merged),
                merged_into: Some(Some(target.product_id)),
                ..Default::default()
            },
            now,
        )?;
        let reason = Some(format!("merged into {}", target.product_id));
        let history = HistoryEntry::of(
            Some(&source),
            &merged,
            ProductAction::Merged,
            super::actor(who),
            reason,
        );
        // Only while the target is not merged itself: of two opposite merges, one lands.
        match self
            .products
            .update_merging(&source, &merged, &history, &target.product_id)
            .await
        {
            Ok(()) => {}
            Err(StorageError::ProductMerged { product, into }) => {
                return Err(target_merged(&product, into));
            }
            Err(StorageError::NotFound) => {
                return Err(ServiceError::NotFound {
                    what: "product",
                    id: source.product_id.to_string(),
                });
            }
            Err(e) => return Err(ServiceError::storage(e)),
        }
        let mut names = target.regional_names.clone();
        for (region, list) in &source.regional_names {
            let have = names.entry(region.clone()).or_default();
            for n in list {
                if !have.contains(n) {
                    have.push(n.clone());
                }
            }
        }
        let mut attributes: BTreeMap<String, String> = source.attributes.clone();
        attributes.extend(target.attributes.clone());
        if names == target.regional_names && attributes == target.attributes {
            return Ok((merged, target));
        }
        let took = target.apply(
            ProductChanges {
                regional_names: Some(names),
                attributes: Some(attributes),
                ..Default::default()
            },
            now,
        )?;
        let reason = Some(format!(
            "took the regional names and attributes it lacked from {}",
            source.product_id
        ));
        let target = match self
            .write_update(who, &target, took, ProductAction::Updated, reason)
            .await
        {
            Ok(t) => t,
            // Someone edited the target meanwhile: the merge stands; the names stay offered
            // (the source keeps them).
            Err(ServiceError::VersionMismatch { .. }) => {
                self.get_product(who, &target.product_id).await?
            }
            Err(e) => return Err(e),
        };
        Ok((merged, target))
    }

    /// Moves each store's item of `source` onto `target` until none is left or `until`. When
    /// `target` is merged meanwhile, the stock goes on to the product it became (the answer).
    async fn move_stores(
        &self,
        who: &Principal,
        source: &Product,
        target: Product,
        until: Instant,
    ) -> ServiceResult<(Moves, Product)> {
        let mut target = target;
        let mut moved = 0;
        for _ in 0..MAX_CHAIN {
            let mut moves = self.move_stores_to(who, source, &target, until).await?;
            moved += moves.moved;
            if !moves.target_merged {
                moves.moved = moved;
                return Ok((moves, target));
            }
            let now = self.get_product(who, &target.product_id).await?;
            target = self.end_of_merges(who, now).await?;
        }
        Err(target_merged(&target.product_id, target.merged_into))
    }

    /// [`Self::move_stores`] onto `target` as read, until it is found merged.
    async fn move_stores_to(
        &self,
        who: &Principal,
        source: &Product,
        target: &Product,
        until: Instant,
    ) -> ServiceResult<Moves> {
        let mut out = Moves {
            moved: 0,
            done: false,
            overflowed: Vec::new(),
            target_merged: false,
        };
        let merge = ItemMerge {
            from: source.product_id,
            into: target.product_id,
            into_summary: Some(ProductSummary::of(target)),
            origin: super::inventory::origin(who, MovementKind::Merge)
                .source(format!("merge:{}", source.product_id)),
            at: Timestamp::now(),
        };
        loop {
            let stores = self
                .inventory
                .stores_stocking(&source.product_id, STORES_PER_ROUND)
                .await
                .map_err(ServiceError::storage)?;
            let full_round = stores.len() == STORES_PER_ROUND;
            let mut this_round = 0;
            for store in stores {
                if out.overflowed.contains(&store) {
                    continue;
                }
                if Instant::now() >= until {
                    return Ok(out);
                }
                let merge = ItemMerge {
                    at: Timestamp::now(),
                    ..merge.clone()
                };
                match self.inventory.merge_item(&store, &merge).await {
                    Ok(Some(_)) => this_round += 1,
                    Ok(None) => {}
                    // One store's overflow does not hold the others back.
                    Err(StorageError::QuantityOverflow) => out.overflowed.push(store),
                    Err(StorageError::ProductMerged { .. }) => {
                        out.moved += this_round;
                        out.target_merged = true;
                        return Ok(out);
                    }
                    Err(e) => return Err(ServiceError::storage(e)),
                }
            }
            out.moved += this_round;
            if this_round == 0 {
                // Nothing moved: every store listed had moved already (an index a moment
                // behind) or overflowed. A full round may hide more behind it: ask again.
                out.done = !full_round;
                return Ok(out);
            }
        }
    }
}

/// `409 target_merged`: `into` was merged into `further` itself.
fn target_merged(into: &ProductId, further: Option<ProductId>) -> ServiceError {
    let further = further.map(|t| t.to_string()).unwrap_or_default();
    ServiceError::Conflict {
        code: "target_merged",
        detail: format!("product {into} was itself merged into {further}; merge into that one"),
    }
}
