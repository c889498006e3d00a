//! One chunk of an Open Food Facts export loaded into the catalog.
//!
//! Per chunk: records not sold in the chosen country, without a valid GTIN or without a name
//! are skipped (counted); the barcodes are looked up in one batched read; a barcode the
//! catalog does not know becomes a new pending product (`source: openfoodfacts`, its id
//! derived from the barcode), written in bulk with its barcode guard and history entry; one it
//! knows is enriched as a lookup would (only what it lacks is filled, with OFF's attribution,
//! never a second product). A product that already says what this record would make it say
//! is not written: a second run of the same export writes nothing, so a run cut short is
//! simply run again (the CLI also keeps its place in the file).

use std::collections::HashMap;

use super::{OffImportOptions, OffImportStats};
use crate::domain::enrichment::{EnrichmentStatus, OFF_IMPORTER};
use crate::domain::{
    Actor, Gtin, HistoryEntry, OffFacts, Product, ProductAction, Timestamp, VerificationStatus,
};
use crate::off::{OffProduct, product_url};
use crate::ports::{MAX_BULK_READ, StorageError};
use crate::services::{Catalog, ServiceError, ServiceResult};

/// Times an enrichment of an existing product is written again when it changed meanwhile.
const WRITE_ATTEMPTS: usize = 5;

fn importer() -> Actor {
    Actor::system(OFF_IMPORTER)
}

/// Whether enriching `p` changes it: it fills a field (`filled`), or records a lookup that
/// was not yet recorded as found.
fn changes(p: &Product, filled: &[String]) -> bool {
    let found_before = p
        .enrichment
        .as_ref()
        .is_some_and(|e| e.status == EnrichmentStatus::Found);
    !found_before || !filled.is_empty()
}

impl Catalog {
    /// Loads one chunk of an export's records (see the module's docs); `skipped` lines the
    /// reader could not read count as invalid.
    pub async fn load_off_chunk(
        &self,
        records: &[OffProduct],
        skipped: u64,
        opts: &OffImportOptions,
    ) -> ServiceResult<OffImportStats> {
        let mut stats = OffImportStats {
            records: records.len() as u64 + skipped,
            invalid: skipped,
            ..Default::default()
        };
        // The usable records, the first of each barcode.
        let mut wanted: Vec<(Gtin, OffFacts)> = Vec::with_capacity(records.len());
        let mut seen = std::collections::HashSet::new();
        for r in records {
            if let Some(country) = &opts.country
                && !r.sold_in(country)
            {
                stats.other_country += 1;
                continue;
            }
            let Some(gtin) = r.gtin() else {
                stats.invalid += 1;
                continue;
            };
            let facts = r.facts(product_url(gtin.as_str()));
            if facts.name.is_none() {
                stats.invalid += 1;
                continue;
            }
            if !seen.insert(gtin.clone()) {
                stats.repeated += 1;
                continue;
            }
            wanted.push((gtin, facts));
        }
        let now = Timestamp::now();
        // Which barcodes the catalog knows: batched reads, all at once.
        let reads = wanted.chunks(MAX_BULK_READ).map(|part| {
            let barcodes: Vec<Gtin> = part.iter().map(|(g, _)| g.clone()).collect();
            async move { self.products.find_by_barcodes(&barcodes).await }
        });
        let existing: HashMap<Gtin, Product> = futures::future::try_join_all(reads)
            .await
            .map_err(ServiceError::storage)?
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.barcode.clone()?, p)))
            .collect();
        let facts_of: HashMap<&Gtin, &OffFacts> = wanted.iter().map(|(g, f)| (g, f)).collect();
        let mut new = Vec::new();
        let mut known = Vec::new();
        for (gtin, facts) in &wanted {
            match existing.get(gtin) {
                Some(p) => known.push((p.clone(), facts)),
                None => new.extend(Product::from_open_food_facts(gtin.clone(), facts, now)),
            }
        }
        // The new ones in one bulk insert (grouped writes, several in flight).
        let done = self
            .products
            .insert_new(&new, &importer())
            .await
            .map_err(ServiceError::storage)?;
        stats.write_units += done.write_units.unwrap_or(0.0);
        for (p, r) in new.iter().zip(done.results) {
            match r {
                Ok(true) => stats.created += 1,
                // Made by an earlier run (its guard not yet readable): nothing to add.
                Ok(false) => stats.unchanged += 1,
                // Created meanwhile by someone else: that product is enriched instead.
                Err(StorageError::BarcodeTaken { existing, .. }) => {
                    let holder = self
                        .products
                        .get(&existing)
                        .await
                        .map_err(ServiceError::storage)?;
                    let facts = p.barcode.as_ref().and_then(|b| facts_of.get(b));
                    if let (Some(holder), Some(facts)) = (holder, facts) {
                        known.push((holder, facts));
                    }
                }
                Err(e) => return Err(ServiceError::storage(e)),
            }
        }
        for (p, facts) in known {
            if self.enrich_from_export(p, facts).await? {
                stats.enriched += 1;
            } else {
                stats.unchanged += 1;
            }
        }
        Ok(stats)
    }

    /// Fills `p` from its export record where that changes it; whether it was written.
    async fn enrich_from_export(&self, mut p: Product, facts: &OffFacts) -> ServiceResult<bool> {
        for _ in 0..WRITE_ATTEMPTS {
            // A merged product stands for another: that one holds the barcode's facts.
            if p.verification_status == VerificationStatus::Merged {
                return Ok(false);
            }
            let (next, filled) = p.enriched(facts, Timestamp::now());
            if !changes(&p, &filled) {
                return Ok(false);
            }
            let history = HistoryEntry::of(
                Some(&p),
                &next,
                ProductAction::Enriched,
                importer(),
                Some("filled from an Open Food Facts export".into()),
            );
            match self.products.update(&p, &next, &history).await {
                Ok(()) => return Ok(true),
                Err(StorageError::VersionConflict { .. }) => {
                    let Some(current) = self
                        .products
                        .get(&p.product_id)
                        .await
                        .map_err(ServiceError::storage)?
                    else {
                        return Ok(false);
                    };
                    p = current;
                }
                Err(e) => return Err(ServiceError::storage(e)),
            }
        }
        Err(ServiceError::Unavailable(StorageError::Unavailable(
            "a product kept changing during the load; run it again".into(),
        )))
    }
}
