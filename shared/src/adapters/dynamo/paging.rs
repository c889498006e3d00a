//! Paging over Query and Scan: continuations, and filling a page when a filter drops items.
//!
//! DynamoDB applies `Limit` before `FilterExpression`, so one call can return few or no matches
//! with more to come. [`collect_page`] keeps reading (within a budget) until it has `limit`
//! items, and when it has read more than it can return it resumes from the last item returned,
//! rebuilding that item's key, so no match is skipped.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::{Item, s};
use crate::ports::{Continuation, StorageError};

/// Reads at most this many Query/Scan calls for one page of a filtered listing; after that the
/// page is returned short, with a cursor.
const MAX_CALLS_PER_PAGE: usize = 5;

/// One Query or Scan call: the start key and `Limit` in, the items and LastEvaluatedKey out.
pub(crate) type Fetch<'a> = Box<
    dyn FnMut(Option<Item>, i32) -> BoxFuture<'a, Result<(Vec<Item>, Option<Item>), StorageError>>
        + Send
        + 'a,
>;

/// Encodes a key (all our key attributes are strings) as a continuation.
pub(crate) fn encode(key: &Item) -> Result<Continuation, StorageError> {
    let mut map = BTreeMap::new();
    for (k, v) in key {
        let v = v
            .as_s()
            .map_err(|_| StorageError::Corrupt(format!("key attribute {k} is not a string")))?;
        map.insert(k.clone(), v.clone());
    }
    serde_json::to_string(&map)
        .map(Continuation)
        .map_err(StorageError::backend)
}

/// Decodes a continuation, which must name exactly `attrs`.
pub(crate) fn decode(c: &Continuation, attrs: &[&str]) -> Result<Item, StorageError> {
    let map: BTreeMap<String, String> =
        serde_json::from_str(&c.0).map_err(|_| StorageError::BadContinuation)?;
    if map.len() != attrs.len() || !attrs.iter().all(|a| map.contains_key(*a)) {
        return Err(StorageError::BadContinuation);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// The key of `item` for an index whose key (with the table key) is `attrs`.
fn key_of(item: &Item, attrs: &[&str]) -> Result<Item, StorageError> {
    attrs
        .iter()
        .map(|a| {
            item.get(*a)
                .cloned()
                .map(|v| (a.to_string(), v))
                .ok_or_else(|| StorageError::Corrupt(format!("item without key attribute {a}")))
        })
        .collect()
}

/// Reads up to `limit` items. `filtered` says whether the call has a FilterExpression (then
/// more is read per call, and several calls may be made).
pub(crate) async fn collect_page(
    mut fetch: Fetch<'_>,
    after: Option<Item>,
    attrs: &[&str],
    limit: u32,
    filtered: bool,
) -> Result<(Vec<Item>, Option<Continuation>), StorageError> {
    let limit = limit as usize;
    let mut items: Vec<Item> = Vec::with_capacity(limit);
    let mut start = after;
    for _ in 0..if filtered { MAX_CALLS_PER_PAGE } else { 1 } {
        let want = limit - items.len();
        // One more than wanted tells, without another call, whether there is more.
        let read = if filtered {
            ((want + 1) * 4).clamp(50, 1000)
        } else {
            want + 1
        };
        let (got, last_evaluated) = fetch(start.take(), read as i32).await?;
        for item in got {
            if items.len() == limit {
                let next = encode(&key_of(items.last().expect("limit >= 1"), attrs)?)?;
                return Ok((items, Some(next)));
            }
            items.push(item);
        }
        match last_evaluated {
            None => return Ok((items, None)),
            Some(k) => start = Some(k),
        }
        if items.len() == limit {
            break;
        }
    }
    let next = start.as_ref().map(encode).transpose()?;
    Ok((items, next))
}
