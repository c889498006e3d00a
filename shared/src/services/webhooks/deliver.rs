//! Delivering events to webhooks: an event becomes one delivery per webhook that wants it
//! ([`fan_out`]), and each delivery is attempted when due until its receiver accepts it or the
//! schedule gives up ([`Webhooks::attempt`]).
//!
//! Owns the at-least-once promise: a delivery is written before its first attempt, an attempt
//! holds it by a conditional write that also counts it (two runs never attempt it at once; a
//! run that dies mid-attempt lets go when its lease ends, its turn used), and each outcome is
//! written over the version the attempt held. In AWS the event arrives through the webhooks' queue and a schedule sweeps
//! the due retries; locally the bus fans out and the server's loop sweeps.

use futures::StreamExt;

use super::{Webhooks, sign};
use crate::domain::{Delivery, DeliveryStatus, Event, Timestamp};
use crate::error_chain::ErrorChain;
use crate::metrics::Unit;
use crate::ports::{StorageError, StorageResult, WebhookAnswer, WebhookRequest, WebhookStore};

/// Attempts a run makes at once.
const PARALLEL_ATTEMPTS: usize = 8;

/// Writes `event`'s deliveries: one for each of its store's webhooks that wants its type.
/// Returns those new here (a delivery written by an earlier announcement of the same event
/// is left as it is: its attempts are under way).
pub async fn fan_out(store: &dyn WebhookStore, event: &Event) -> StorageResult<Vec<Delivery>> {
    let now = Timestamp::now();
    let mut new = Vec::new();
    for webhook in store.webhooks_of(&event.store_id).await? {
        if !webhook.events.contains(&event.kind) {
            continue;
        }
        let delivery = Delivery::new(&webhook, event, now);
        match store.insert_delivery(&delivery).await {
            Ok(()) => new.push(delivery),
            Err(StorageError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(new)
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attempted {
    Delivered,
    /// Failed; due again later.
    Retrying,
    /// Failed for the last time, or its webhook is gone: parked.
    Parked,
    /// Not attempted: not due, or another run holds it.
    Skipped,
}

impl Attempted {
    pub fn as_str(self) -> &'static str {
        match self {
            Attempted::Delivered => "delivered",
            Attempted::Retrying => "retrying",
            Attempted::Parked => "parked",
            Attempted::Skipped => "skipped",
        }
    }
}

impl Webhooks {
    /// Fans `event` out and attempts each new delivery now (the webhooks' queue in AWS).
    pub async fn deliver_event(&self, event: &Event) -> StorageResult<Vec<Attempted>> {
        let new = fan_out(self.store.as_ref(), event).await?;
        self.attempt_all(new, Timestamp::now()).await
    }

    /// Attempts the deliveries due at `now`, up to `limit` of them (the sweep: AWS's schedule,
    /// the local server's loop). Returns what came of each.
    pub async fn deliver_due(&self, now: Timestamp, limit: usize) -> StorageResult<Vec<Attempted>> {
        let due = self.store.due_deliveries(now, limit).await?;
        self.attempt_all(due, now).await
    }

    async fn attempt_all(
        &self,
        deliveries: Vec<Delivery>,
        now: Timestamp,
    ) -> StorageResult<Vec<Attempted>> {
        let results: Vec<StorageResult<Attempted>> = futures::stream::iter(deliveries)
            .map(|d| self.attempt(d, now))
            .buffer_unordered(PARALLEL_ATTEMPTS)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One attempt of `delivery`, if it is due at `now`: held, signed, sent, and its outcome
    /// written. The hold and the signature take the later of `now` and the clock (a sweep's
    /// page is attempted over a while, and tests move `now` ahead).
    pub async fn attempt(&self, delivery: Delivery, now: Timestamp) -> StorageResult<Attempted> {
        // Before anything is claimed or counted.
        let Some(sender) = self.sender.clone() else {
            return Err(StorageError::backend(
                "this process does not deliver webhooks (its route or trigger names no sender)",
            ));
        };
        if !delivery.is_due(now) {
            return Ok(Attempted::Skipped);
        }
        let now = now.max(Timestamp::now());
        if delivery.attempts_spent() {
            // Its last attempt was held and never written back: the run died mid-attempt.
            return match self
                .store
                .update_delivery(&delivery.abandoned("its last attempt did not finish"))
                .await
            {
                Ok(()) => Ok(self.count(Attempted::Parked)),
                Err(StorageError::VersionConflict { .. } | StorageError::NotFound) => {
                    Ok(Attempted::Skipped)
                }
                Err(e) => Err(e),
            };
        }
        let held = delivery.claimed(now);
        match self.store.update_delivery(&held).await {
            Ok(()) => {}
            // Another run holds it, or it expired: theirs, or nobody's.
            Err(StorageError::VersionConflict { .. } | StorageError::NotFound) => {
                return Ok(Attempted::Skipped);
            }
            Err(e) => return Err(e),
        }
        let Some(webhook) = self
            .store
            .get_webhook(&held.store_id, &held.webhook_id)
            .await?
        else {
            self.record(&held.abandoned("the webhook was deleted"))
                .await?;
            return Ok(self.count(Attempted::Parked));
        };
        let timestamp = now.unix_seconds();
        // The message's id (Standard Webhooks): the same on every attempt of this delivery,
        // another for the same event at another webhook. The body's `id` is the event's.
        let msg_id = format!("msg_{}", held.delivery_id.simple());
        let secret = self.key.secret(&held.store_id, &held.webhook_id);
        let request = WebhookRequest {
            url: webhook.url.clone(),
            headers: vec![
                ("webhook-id", msg_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                (
                    "webhook-signature",
                    sign::signature(&secret, &msg_id, timestamp, &held.body),
                ),
            ],
            body: held.body.clone(),
        };
        let answer = sender.send(&request).await;
        let after = match &answer {
            WebhookAnswer::Status(s) if (200..300).contains(s) => held.delivered(now, *s),
            WebhookAnswer::Status(s) => {
                held.attempt_failed(now, Some(*s), &format!("the receiver answered {s}"))
            }
            WebhookAnswer::NoAnswer(why) => held.attempt_failed(now, None, why),
        };
        let outcome = match after.status {
            DeliveryStatus::Delivered => Attempted::Delivered,
            DeliveryStatus::Pending => Attempted::Retrying,
            DeliveryStatus::Failed => Attempted::Parked,
        };
        tracing::info!(
            store = %after.store_id,
            webhook = %after.webhook_id,
            event = %after.event_id,
            attempt = after.attempts,
            answer = ?answer,
            outcome = outcome.as_str(),
            "webhook attempt"
        );
        self.record(&after).await?;
        Ok(self.count(outcome))
    }

    /// Writes an attempt's outcome over the version it held. A conflict means the attempt
    /// outlived its lease and another run took the delivery: that run's outcome stands.
    async fn record(&self, after: &Delivery) -> StorageResult<()> {
        match self.store.update_delivery(after).await {
            Ok(()) => Ok(()),
            Err(StorageError::VersionConflict { .. } | StorageError::NotFound) => {
                tracing::warn!(delivery = %after.delivery_id, "an attempt outlived its hold; another run's outcome stands");
                Ok(())
            }
            Err(e) => {
                tracing::error!(delivery = %after.delivery_id, error = %ErrorChain(&e), "an attempt's outcome was not written; it is attempted again when its hold ends");
                Err(e)
            }
        }
    }

    /// Counts an outcome in the metrics (`WebhookDeliveries` by `Outcome`).
    fn count(&self, outcome: Attempted) -> Attempted {
        self.metrics.put(
            &[("Outcome", outcome.as_str())],
            &[("WebhookDeliveries", Unit::Count, 1.0)],
        );
        outcome
    }
}
