//! Counters the out-of-band paths report to (`GET /stats` shows them).
//!
//! Plain relaxed atomics: they are counts for people and tests, not
//! synchronization.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Shared counters, updated from callbacks, the error hook and the
/// application's outcome task.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records the callback endpoint saw delivered.
    pub callback_delivered: AtomicU64,
    /// Records the callback endpoint saw fail (each one logged).
    pub callback_failed: AtomicU64,
    /// Outcomes the application task received as delivered.
    pub task_delivered: AtomicU64,
    /// Outcomes the application task received as failed.
    pub task_failed: AtomicU64,
    /// Outcomes lost because the task's channel was full (counted, logged).
    pub task_dropped: AtomicU64,
    /// Records in batches reported to the producer's error hook (every
    /// endpoint's failures end up here, fire-and-forget's only here).
    pub hook_failed_records: AtomicU64,
    /// Requests answered 503 because the producer could not take the record.
    pub rejected_busy: AtomicU64,
    /// The last request number handed out as a record's tag (callback
    /// endpoint), for its log lines.
    pub tags: AtomicU64,
}

/// A point-in-time copy of [`Stats`] plus the producer's own counters.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::callback_delivered`].
    pub callback_delivered: u64,
    /// See [`Stats::callback_failed`].
    pub callback_failed: u64,
    /// See [`Stats::task_delivered`].
    pub task_delivered: u64,
    /// See [`Stats::task_failed`].
    pub task_failed: u64,
    /// See [`Stats::task_dropped`].
    pub task_dropped: u64,
    /// See [`Stats::hook_failed_records`].
    pub hook_failed_records: u64,
    /// See [`Stats::rejected_busy`].
    pub rejected_busy: u64,
    /// The producer's `records_sent` (acknowledged by the broker).
    pub producer_records_sent: u64,
    /// The producer's `records_failed`.
    pub producer_records_failed: u64,
    /// Bytes queued in the producer right now (bounded by `buffer.memory`).
    pub producer_queued_bytes: u64,
}

impl Stats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A new request number for a record's tag.
    pub fn next_tag(&self) -> u64 {
        self.tags.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The counters now, with the producer's.
    pub fn snapshot(&self, producer: &klamm::producer::ProducerMetrics) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            callback_delivered: get(&self.callback_delivered),
            callback_failed: get(&self.callback_failed),
            task_delivered: get(&self.task_delivered),
            task_failed: get(&self.task_failed),
            task_dropped: get(&self.task_dropped),
            hook_failed_records: get(&self.hook_failed_records),
            rejected_busy: get(&self.rejected_busy),
            producer_records_sent: producer.records_sent,
            producer_records_failed: producer.records_failed,
            producer_queued_bytes: producer.queued_bytes,
        }
    }
}
