//! The state the consumer shares with its fetch tasks: one cursor per
//! assigned partition and the buffered-bytes budget. No I/O here; every
//! transition is a method with unit tests.
//!
//! ```text
//! Consumer ──seek/pause/assign──▶ FetchState ◀──take_fetchable/complete── fetch task (per leader)
//!          ◀── Fetched chunks (mpsc) ───────────────────────────────────────┘
//! supervisor ──leaders from metadata, ListOffsets/OffsetFetch──▶ FetchState
//! ```
//!
//! Each cursor has a `version` that every seek, pause and reset bumps: a
//! response or buffered chunk stamped with an older version is dropped, so
//! data fetched before a seek can never reach the application after it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::commit::CommitEntry;
use super::config::OffsetReset;
use crate::group::TopicPartition;

/// Where a partition starts (or moves to with a seek).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartOffset {
    /// The log start offset (ListOffsets earliest).
    Beginning,
    /// The log end offset (ListOffsets latest): only new records.
    End,
    /// An explicit offset.
    At(i64),
    /// The first offset whose timestamp is at or after this one (ms since
    /// the epoch); the end of the log when there is none.
    Timestamp(i64),
    /// The group's committed offset; `auto.offset.reset` when none.
    Committed,
}

/// A cursor version never used before, by any cursor: a partition removed
/// and assigned again must not accept data fetched for its old cursor.
fn fresh_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One assigned partition.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    /// Next offset the application gets; `None` until resolved.
    pub(crate) position: Option<i64>,
    /// Leader epoch of the last message handed out, for commits.
    pub(crate) position_epoch: Option<i32>,
    /// Next offset to fetch; `None` until resolved.
    pub(crate) fetch_offset: Option<i64>,
    /// A start that still needs ListOffsets or OffsetFetch.
    pub(crate) pending: Option<StartOffset>,
    /// Bumped by every seek, pause and reset.
    pub(crate) version: u64,
    pub(crate) paused: bool,
    /// A Fetch (or a resolution) for this partition is outstanding.
    pub(crate) in_flight: bool,
    /// Stopped after an error the application must act on (seek clears it).
    pub(crate) failed: bool,
    /// The leader from metadata, `None` while unknown or after NOT_LEADER.
    pub(crate) leader: Option<i32>,
    /// The leader epoch from metadata (-1 when unknown).
    pub(crate) leader_epoch: i32,
    /// A replica the leader told us to read from (KIP-392
    /// `preferred_read_replica`), until the instant given; fetches go
    /// there instead of the leader. Cleared on any error from it and on a
    /// leader change.
    pub(crate) read_replica: Option<(i32, Instant)>,
    /// Not fetched again before this instant (after a retriable error).
    pub(crate) backoff_until: Option<Instant>,
    /// From the last Fetch response (-1 until one arrives).
    pub(crate) high_watermark: i64,
    pub(crate) last_stable_offset: i64,
    pub(crate) log_start_offset: i64,
}

impl Cursor {
    fn new(start: StartOffset) -> Self {
        let mut c = Self {
            position: None,
            position_epoch: None,
            fetch_offset: None,
            pending: None,
            version: 0,
            paused: false,
            in_flight: false,
            failed: false,
            leader: None,
            leader_epoch: -1,
            read_replica: None,
            backoff_until: None,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
        };
        c.start_at(start);
        c
    }

    /// Moves the cursor; everything in flight or buffered becomes stale.
    pub(crate) fn start_at(&mut self, start: StartOffset) {
        self.version = fresh_version();
        self.failed = false;
        self.in_flight = false;
        self.backoff_until = None;
        self.position_epoch = None;
        match start {
            StartOffset::At(o) => {
                self.position = Some(o);
                self.fetch_offset = Some(o);
                self.pending = None;
            }
            other => {
                self.position = None;
                self.fetch_offset = None;
                self.pending = Some(other);
            }
        }
    }

    /// Sets a resolved offset, if the cursor still waits for it.
    pub(crate) fn resolve(&mut self, version: u64, offset: i64) -> bool {
        if self.version != version || self.pending.is_none() {
            return false;
        }
        self.pending = None;
        self.in_flight = false;
        self.position = Some(offset);
        self.fetch_offset = Some(offset);
        true
    }

    /// OFFSET_OUT_OF_RANGE at the fetch offset: resets per `policy` (true),
    /// or stops the partition for the application to decide (false).
    pub(crate) fn out_of_range(&mut self, policy: OffsetReset) -> bool {
        let start = match policy {
            OffsetReset::Earliest => StartOffset::Beginning,
            OffsetReset::Latest => StartOffset::End,
            _ => {
                self.failed = true;
                self.in_flight = false;
                return false;
            }
        };
        self.start_at(start);
        true
    }

    /// The broker to fetch from now: the read replica while it is valid,
    /// else the leader.
    pub(crate) fn fetch_from(&mut self, now: Instant) -> Option<i32> {
        match self.read_replica {
            Some((broker, until)) if until > now => Some(broker),
            Some(_) => {
                self.read_replica = None;
                self.leader
            }
            None => self.leader,
        }
    }

    /// Consumer lag: high watermark minus position, when both are known.
    pub(crate) fn lag(&self) -> Option<i64> {
        let position = self.position?;
        (self.high_watermark >= 0).then(|| (self.high_watermark - position).max(0))
    }
}

/// A partition a fetch task asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchPlan {
    pub(crate) tp: TopicPartition,
    pub(crate) fetch_offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) version: u64,
}

/// Every cursor and the buffer budget.
#[derive(Debug)]
pub(crate) struct FetchState {
    pub(crate) cursors: BTreeMap<TopicPartition, Cursor>,
    /// Bytes fetched and not yet drained by the application.
    pub(crate) buffered_bytes: usize,
    pub(crate) max_buffered_bytes: usize,
    /// Rotates which partitions go first, so one busy partition cannot
    /// starve the others of a response's byte limit.
    rotation: usize,
    pub(crate) closed: bool,
}

impl FetchState {
    /// Every assigned partition's position, as commit entries (partitions
    /// without a position yet are left out).
    pub(crate) fn positions(&self) -> Vec<CommitEntry> {
        self.cursors
            .iter()
            .filter_map(|(tp, c)| {
                Some(CommitEntry {
                    tp: tp.clone(),
                    offset: c.position?,
                    leader_epoch: c.position_epoch,
                })
            })
            .collect()
    }

    pub(crate) fn new(max_buffered_bytes: usize) -> Self {
        Self {
            cursors: BTreeMap::new(),
            buffered_bytes: 0,
            max_buffered_bytes,
            rotation: 0,
            closed: false,
        }
    }

    /// Replaces the assignment. Partitions that stay keep their cursor
    /// unless a start is given for them; removed ones are dropped (their
    /// buffered data becomes stale).
    pub(crate) fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = (TopicPartition, StartOffset)>,
    ) {
        let mut next = BTreeMap::new();
        for (tp, start) in partitions {
            let cursor = match self.cursors.remove(&tp) {
                Some(mut c) => {
                    c.start_at(start);
                    c
                }
                None => Cursor::new(start),
            };
            next.insert(tp, cursor);
        }
        self.cursors = next;
    }

    /// Adds partitions (group mode, incremental assignment).
    pub(crate) fn add(
        &mut self,
        partitions: impl IntoIterator<Item = (TopicPartition, StartOffset)>,
    ) {
        for (tp, start) in partitions {
            match self.cursors.get_mut(&tp) {
                Some(c) => c.start_at(start),
                None => {
                    self.cursors.insert(tp, Cursor::new(start));
                }
            }
        }
    }

    /// Removes partitions; returns their last positions (for a commit).
    pub(crate) fn remove(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, i64, Option<i32>)> {
        partitions
            .iter()
            .filter_map(|tp| {
                let c = self.cursors.remove(tp)?;
                Some((tp.clone(), c.position?, c.position_epoch))
            })
            .collect()
    }

    /// Moves a partition; false if it is not assigned.
    pub(crate) fn seek(&mut self, tp: &TopicPartition, start: StartOffset) -> bool {
        match self.cursors.get_mut(tp) {
            Some(c) => {
                c.start_at(start);
                true
            }
            None => false,
        }
    }

    /// Pauses fetching; buffered data is dropped and fetching resumes from
    /// the position.
    pub(crate) fn pause(&mut self, tp: &TopicPartition) -> bool {
        let Some(c) = self.cursors.get_mut(tp) else {
            return false;
        };
        if !c.paused {
            c.paused = true;
            c.version = fresh_version();
            c.in_flight = false;
            c.fetch_offset = c.position;
        }
        true
    }

    /// Resumes fetching.
    pub(crate) fn resume(&mut self, tp: &TopicPartition) -> bool {
        match self.cursors.get_mut(tp) {
            Some(c) => {
                c.paused = false;
                true
            }
            None => false,
        }
    }

    /// True while the buffer has room for another response.
    pub(crate) fn has_budget(&self) -> bool {
        self.buffered_bytes < self.max_buffered_bytes
    }

    /// Takes the partitions led by `broker` that can be fetched now and
    /// marks them in flight.
    pub(crate) fn take_fetchable(&mut self, broker: i32, now: Instant) -> Vec<FetchPlan> {
        if !self.has_budget() || self.closed {
            return Vec::new();
        }
        let mut plans: Vec<FetchPlan> = Vec::new();
        for (tp, c) in &mut self.cursors {
            let ready = c.fetch_from(now) == Some(broker)
                && !c.paused
                && !c.in_flight
                && !c.failed
                && c.backoff_until.is_none_or(|t| t <= now);
            if let (true, Some(fetch_offset)) = (ready, c.fetch_offset) {
                c.in_flight = true;
                c.backoff_until = None;
                plans.push(FetchPlan {
                    tp: tp.clone(),
                    fetch_offset,
                    leader_epoch: c.leader_epoch,
                    version: c.version,
                });
            }
        }
        if !plans.is_empty() {
            let k = self.rotation % plans.len();
            plans.rotate_left(k);
            self.rotation = self.rotation.wrapping_add(1);
        }
        plans
    }

    /// The cursor for a response to `plan`, if the response is still
    /// current (no seek, pause or reassignment since). Clears `in_flight`.
    pub(crate) fn current(&mut self, plan: &FetchPlan) -> Option<&mut Cursor> {
        let c = self.cursors.get_mut(&plan.tp)?;
        if c.version != plan.version {
            return None;
        }
        c.in_flight = false;
        Some(c)
    }

    /// The cursor for `plan` if its version is still current, without
    /// touching `in_flight` (for a second look after [`Self::current`]).
    pub(crate) fn current_unchecked(&mut self, plan: &FetchPlan) -> Option<&mut Cursor> {
        self.cursors
            .get_mut(&plan.tp)
            .filter(|c| c.version == plan.version)
    }

    /// Sends partitions that were read from `broker` as a read replica
    /// back to their leader (the replica failed).
    pub(crate) fn leave_read_replica(&mut self, plans: &[FetchPlan], broker: i32) {
        for p in plans {
            if let Some(c) = self.current_unchecked(p) {
                if c.read_replica.is_some_and(|(r, _)| r == broker) {
                    c.read_replica = None;
                }
            }
        }
    }

    /// Releases the in-flight mark of plans whose request failed, backing
    /// them off until `until`.
    pub(crate) fn release(&mut self, plans: &[FetchPlan], until: Instant) {
        for p in plans {
            if let Some(c) = self.current(p) {
                c.backoff_until = Some(until);
            }
        }
    }

    /// Brokers some partition reads from instead of its leader.
    pub(crate) fn read_replicas(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .cursors
            .values()
            .filter_map(|c| c.read_replica.map(|r| r.0))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The earliest instant a backed-off partition becomes fetchable.
    pub(crate) fn next_backoff(&self) -> Option<Instant> {
        self.cursors.values().filter_map(|c| c.backoff_until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn state_with(parts: &[(i32, StartOffset)]) -> FetchState {
        let mut s = FetchState::new(1000);
        s.assign(parts.iter().map(|(p, o)| (tp(*p), *o)));
        for c in s.cursors.values_mut() {
            c.leader = Some(1);
        }
        s
    }

    #[test]
    fn only_resolved_unpaused_idle_partitions_of_the_leader_are_fetched() {
        let mut s = state_with(&[
            (0, StartOffset::At(5)),
            (1, StartOffset::Beginning),
            (2, StartOffset::At(0)),
            (3, StartOffset::At(0)),
        ]);
        s.cursors.get_mut(&tp(3)).unwrap().leader = Some(2);
        s.pause(&tp(2));
        let now = Instant::now();
        let plans = s.take_fetchable(1, now);
        assert_eq!(plans.len(), 1);
        assert_eq!((plans[0].tp.partition, plans[0].fetch_offset), (0, 5));
        // In flight: not handed out twice.
        assert!(s.take_fetchable(1, now).is_empty());
        assert_eq!(s.take_fetchable(2, now).len(), 1);
        // Resolving partition 1 makes it fetchable from the resolved offset.
        let v = s.cursors[&tp(1)].version;
        assert!(s.cursors.get_mut(&tp(1)).unwrap().resolve(v, 42));
        let plans = s.take_fetchable(1, now);
        assert_eq!((plans[0].tp.partition, plans[0].fetch_offset), (1, 42));
    }

    #[test]
    fn a_seek_makes_in_flight_responses_stale() {
        let mut s = state_with(&[(0, StartOffset::At(0))]);
        let plan = s.take_fetchable(1, Instant::now()).remove(0);
        assert!(s.seek(&tp(0), StartOffset::At(100)));
        assert!(s.current(&plan).is_none(), "stale response must be dropped");
        let plan = s.take_fetchable(1, Instant::now()).remove(0);
        assert_eq!(plan.fetch_offset, 100);
        assert!(s.current(&plan).is_some());
        assert!(!s.seek(&tp(9), StartOffset::At(1)));
    }

    #[test]
    fn a_reassigned_partition_never_reuses_a_version() {
        let mut s = state_with(&[(0, StartOffset::At(0))]);
        let old = s.take_fetchable(1, Instant::now()).remove(0);
        s.remove(&[tp(0)]);
        s.add([(tp(0), StartOffset::At(0))]);
        s.cursors.get_mut(&tp(0)).unwrap().leader = Some(1);
        assert!(s.current(&old).is_none(), "data of the old cursor is stale");
        assert_ne!(s.take_fetchable(1, Instant::now())[0].version, old.version);
    }

    #[test]
    fn pause_drops_prefetched_data_and_resume_refetches_from_the_position() {
        let mut s = state_with(&[(0, StartOffset::At(0))]);
        let c = s.cursors.get_mut(&tp(0)).unwrap();
        c.position = Some(10);
        c.fetch_offset = Some(30);
        let v = c.version;
        s.pause(&tp(0));
        assert!(s.cursors[&tp(0)].version > v);
        assert!(s.take_fetchable(1, Instant::now()).is_empty());
        s.resume(&tp(0));
        let plans = s.take_fetchable(1, Instant::now());
        assert_eq!(plans[0].fetch_offset, 10);
    }

    #[test]
    fn a_read_replica_takes_the_partition_until_it_expires() {
        let mut s = state_with(&[(0, StartOffset::At(0)), (1, StartOffset::At(0))]);
        let now = Instant::now();
        let until = now + Duration::from_secs(60);
        s.cursors.get_mut(&tp(0)).unwrap().read_replica = Some((3, until));
        assert_eq!(s.read_replicas(), [3]);
        let leader: Vec<i32> = s
            .take_fetchable(1, now)
            .iter()
            .map(|p| p.tp.partition)
            .collect();
        assert_eq!(leader, [1], "partition 0 is read from broker 3");
        let replica = s.take_fetchable(3, now);
        assert_eq!(replica.len(), 1);
        assert_eq!(replica[0].tp, tp(0));
        // Past its validity the leader serves it again.
        s.cursors.get_mut(&tp(0)).unwrap().in_flight = false;
        assert!(s.take_fetchable(3, until).is_empty());
        assert_eq!(s.take_fetchable(1, until).len(), 1);
        assert!(s.cursors[&tp(0)].read_replica.is_none());
    }

    #[test]
    fn a_full_buffer_stops_fetching() {
        let mut s = state_with(&[(0, StartOffset::At(0))]);
        s.buffered_bytes = 1000;
        assert!(s.take_fetchable(1, Instant::now()).is_empty());
        s.buffered_bytes = 999;
        assert_eq!(s.take_fetchable(1, Instant::now()).len(), 1);
    }

    #[test]
    fn out_of_range_resets_per_policy_or_stops_the_partition() {
        let mut s = state_with(&[(0, StartOffset::At(50))]);
        let plan = s.take_fetchable(1, Instant::now()).remove(0);
        let c = s.current(&plan).unwrap();
        assert!(c.out_of_range(OffsetReset::Earliest));
        assert_eq!(
            (c.pending, c.position),
            (Some(StartOffset::Beginning), None)
        );
        assert!(
            c.version > plan.version,
            "data fetched before the reset is stale"
        );
        let c = s.cursors.get_mut(&tp(0)).unwrap();
        assert!(c.out_of_range(OffsetReset::Latest));
        assert_eq!(c.pending, Some(StartOffset::End));
        c.resolve(c.version, 7);
        assert!(!c.out_of_range(OffsetReset::None));
        assert!(c.failed);
        assert!(
            s.take_fetchable(1, Instant::now()).is_empty(),
            "stopped until a seek"
        );
        s.seek(&tp(0), StartOffset::At(0));
        assert_eq!(s.take_fetchable(1, Instant::now()).len(), 1);
    }

    #[test]
    fn failed_requests_back_off() {
        let mut s = state_with(&[(0, StartOffset::At(0))]);
        let now = Instant::now();
        let plans = s.take_fetchable(1, now);
        let until = now + Duration::from_millis(100);
        s.release(&plans, until);
        assert!(s.take_fetchable(1, now).is_empty());
        assert_eq!(s.next_backoff(), Some(until));
        assert_eq!(s.take_fetchable(1, until).len(), 1);
    }

    #[test]
    fn partitions_take_turns_at_the_front_of_a_request() {
        let mut s = state_with(&[(0, StartOffset::At(0)), (1, StartOffset::At(0))]);
        let first: Vec<i32> = s
            .take_fetchable(1, Instant::now())
            .iter()
            .map(|p| p.tp.partition)
            .collect();
        for p in 0..2 {
            s.cursors.get_mut(&tp(p)).unwrap().in_flight = false;
        }
        let second: Vec<i32> = s
            .take_fetchable(1, Instant::now())
            .iter()
            .map(|p| p.tp.partition)
            .collect();
        assert_eq!(first, [0, 1]);
        assert_eq!(second, [1, 0]);
    }

    #[test]
    fn reassignment_keeps_nothing_of_removed_partitions_and_reports_positions() {
        let mut s = state_with(&[(0, StartOffset::At(3)), (1, StartOffset::At(7))]);
        let removed = s.remove(&[tp(1), tp(5)]);
        assert_eq!(removed, [(tp(1), 7, None)]);
        s.assign([(tp(0), StartOffset::End)]);
        assert_eq!(s.cursors.len(), 1);
        assert_eq!(s.cursors[&tp(0)].pending, Some(StartOffset::End));
        assert_eq!(s.cursors[&tp(0)].lag(), None);
        let c = s.cursors.get_mut(&tp(0)).unwrap();
        c.position = Some(4);
        c.high_watermark = 10;
        assert_eq!(c.lag(), Some(6));
    }
}
