//! The supervisor task: keeps each cursor's leader in step with metadata,
//! starts a fetch task per leader, and resolves starts that need a request
//! (beginning, end, timestamp through ListOffsets; committed offsets
//! through OffsetFetch).
//!
//! ```text
//! loop: leaders from metadata ─▶ spawn fetch task for new leaders
//!       pending starts ─▶ OffsetFetch (group) / ListOffsets (per leader) ─▶ cursor.resolve
//!       partitions without leader ─▶ refresh metadata
//!       wait for a change (or 1 s, to notice refreshed metadata)
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::commit::fetch_committed;
use super::config::OffsetReset;
use super::fetcher;
use super::list_offsets::{EARLIEST, LATEST, OffsetQuery, list_offsets};
use super::shared::{Fetched, Shared};
use super::state::StartOffset;
use crate::error::Error;
use crate::group::TopicPartition;

/// How often the supervisor looks at metadata when nothing else wakes it.
const TICK: Duration = Duration::from_secs(1);

/// Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut changes = shared.subscribe();
    let mut fetchers: HashSet<i32> = HashSet::new();
    loop {
        changes.borrow_and_update();
        if shared.lock().closed {
            return;
        }
        let missing_leader = assign_leaders(&shared, &mut fetchers);
        resolve_committed(&shared).await;
        resolve_list_offsets(&shared).await;
        if missing_leader {
            if let Err(e) = shared.client.refresh_metadata().await {
                tracing::debug!(error = %e, "metadata refresh failed");
            }
            tokio::time::sleep(shared.config.retry_backoff).await;
            continue;
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Sets each cursor's leader from metadata and spawns missing fetch tasks;
/// true when some partition has no known leader.
fn assign_leaders(shared: &Arc<Shared>, fetchers: &mut HashSet<i32>) -> bool {
    let meta = shared.client.metadata();
    let mut missing = false;
    let mut leaders = Vec::new();
    {
        let mut state = shared.lock();
        let now = Instant::now();
        for (tp, c) in state.cursors.iter_mut() {
            // After NOT_LEADER the fetch task cleared the leader and backed
            // off; wait for that before trusting metadata again.
            if c.leader.is_none() && c.backoff_until.is_some_and(|t| t > now) {
                missing = true;
                continue;
            }
            match meta.leader(&tp.topic, tp.partition) {
                Some((broker, epoch)) => {
                    if c.leader != Some(broker.addr.id) || c.leader_epoch != epoch {
                        // A new leader may prefer another replica.
                        c.read_replica = None;
                    }
                    c.leader = Some(broker.addr.id);
                    c.leader_epoch = epoch;
                    leaders.push(broker.addr.id);
                }
                None => {
                    c.leader = None;
                    missing = true;
                }
            }
        }
    }
    // Replicas the leaders sent some partitions to (KIP-392) need a fetch
    // task too.
    leaders.extend(shared.lock().read_replicas());
    let mut spawned = false;
    for id in leaders {
        if fetchers.insert(id) {
            tokio::spawn(fetcher::run(shared.clone(), id));
            spawned = true;
        }
    }
    if spawned {
        shared.wake();
    }
    missing
}

/// Takes the pending starts of one kind, marking them in flight.
fn take_pending(
    shared: &Shared,
    want: impl Fn(StartOffset) -> bool,
) -> Vec<(TopicPartition, StartOffset, u64, Option<i32>, i32)> {
    let mut state = shared.lock();
    state
        .cursors
        .iter_mut()
        .filter(|(_, c)| !c.in_flight && c.pending.is_some_and(&want))
        .filter_map(|(tp, c)| {
            let start = c.pending?;
            c.in_flight = true;
            Some((tp.clone(), start, c.version, c.leader, c.leader_epoch))
        })
        .collect()
}

/// Marks a resolution as done without a result; retried later.
fn unmark(shared: &Shared, tp: &TopicPartition, version: u64) {
    if let Some(c) = shared.lock().cursors.get_mut(tp) {
        if c.version == version {
            c.in_flight = false;
        }
    }
}

/// Stops a partition with an error the application sees.
fn fail(shared: &Shared, tp: &TopicPartition, version: u64, error: Error) {
    let mut state = shared.lock();
    if let Some(c) = state.cursors.get_mut(tp) {
        if c.version == version {
            c.in_flight = false;
            c.failed = true;
            c.pending = None;
            let _ = shared.tx.send(Fetched::Error {
                tp: tp.clone(),
                version,
                error,
            });
        }
    }
}

/// Resolves `StartOffset::Committed` through OffsetFetch; partitions the
/// group never committed follow `auto.offset.reset`.
async fn resolve_committed(shared: &Shared) {
    let pending = take_pending(shared, |s| s == StartOffset::Committed);
    if pending.is_empty() {
        return;
    }
    let Some(group) = shared.config.group_id.clone() else {
        for (tp, _, version, _, _) in &pending {
            fail(
                shared,
                tp,
                *version,
                Error::config(
                    "group.id",
                    "starting from the committed offset needs a group.id",
                ),
            );
        }
        return;
    };
    let tps: Vec<TopicPartition> = pending.iter().map(|p| p.0.clone()).collect();
    let result = fetch_committed(&shared.client, &group, &tps, shared.config.retry_backoff).await;
    let committed = match result {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(group, error = %e, "fetching committed offsets failed");
            let retry = e.is_retriable();
            for (tp, _, version, _, _) in &pending {
                if retry {
                    unmark(shared, tp, *version);
                } else {
                    fail(shared, tp, *version, e.clone());
                }
            }
            return;
        }
    };
    let mut woke = false;
    for (tp, _, version, _, _) in pending {
        let found = committed.get(&tp).copied().flatten();
        let mut state = shared.lock();
        let Some(c) = state.cursors.get_mut(&tp) else {
            continue;
        };
        if c.version != version {
            continue;
        }
        match (found, shared.config.auto_offset_reset) {
            (Some(found), _) => {
                c.resolve(version, found.offset);
                c.position_epoch = found.leader_epoch;
            }
            (None, OffsetReset::Earliest) => {
                c.pending = Some(StartOffset::Beginning);
                c.in_flight = false;
            }
            (None, OffsetReset::Latest) => {
                c.pending = Some(StartOffset::End);
                c.in_flight = false;
            }
            (None, OffsetReset::None) => {
                drop(state);
                fail(
                    shared,
                    &tp,
                    version,
                    Error::config(
                        "auto.offset.reset",
                        format!("{tp} has no committed offset and auto.offset.reset is none"),
                    ),
                );
                continue;
            }
        }
        woke = true;
    }
    if woke {
        shared.wake();
    }
}

/// Resolves beginning, end and timestamp starts through ListOffsets.
async fn resolve_list_offsets(shared: &Shared) {
    let pending = take_pending(shared, |s| {
        matches!(
            s,
            StartOffset::Beginning | StartOffset::End | StartOffset::Timestamp(_)
        )
    });
    if pending.is_empty() {
        return;
    }
    let mut by_leader: BTreeMap<i32, Vec<(OffsetQuery, u64)>> = BTreeMap::new();
    for (tp, start, version, leader, epoch) in pending {
        let Some(leader) = leader else {
            unmark(shared, &tp, version);
            continue;
        };
        let timestamp = match start {
            StartOffset::Beginning => EARLIEST,
            StartOffset::Timestamp(t) => t,
            _ => LATEST,
        };
        by_leader.entry(leader).or_default().push((
            OffsetQuery {
                tp,
                timestamp,
                leader_epoch: epoch,
            },
            version,
        ));
    }
    let isolation = shared.config.isolation_level;
    let mut woke = false;
    for (leader, entries) in by_leader {
        let queries: Vec<OffsetQuery> = entries.iter().map(|(q, _)| q.clone()).collect();
        let answers = match list_offsets(&shared.client, leader, isolation, &queries).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(leader, error = %e, "ListOffsets failed");
                for (q, version) in &entries {
                    if e.is_retriable() {
                        unmark(shared, &q.tp, *version);
                    } else {
                        fail(shared, &q.tp, *version, e.clone());
                    }
                }
                continue;
            }
        };
        for (q, version) in entries {
            match answers.get(&q.tp) {
                Some(Ok(Some(offset))) => {
                    if let Some(c) = shared.lock().cursors.get_mut(&q.tp) {
                        woke |= c.resolve(version, *offset);
                    }
                }
                // No record at or after the timestamp: start at the end.
                Some(Ok(None)) => {
                    if let Some(c) = shared.lock().cursors.get_mut(&q.tp) {
                        if c.version == version {
                            c.pending = Some(StartOffset::End);
                            c.in_flight = false;
                            woke = true;
                        }
                    }
                }
                Some(Err(e)) if !e.is_retriable() => fail(shared, &q.tp, version, e.clone()),
                _ => {
                    if let Some(c) = shared.lock().cursors.get_mut(&q.tp) {
                        if c.version == version {
                            c.in_flight = false;
                            c.leader = None;
                            c.backoff_until = Some(Instant::now() + shared.config.retry_backoff);
                        }
                    }
                }
            }
        }
    }
    if woke {
        shared.wake();
    }
}
