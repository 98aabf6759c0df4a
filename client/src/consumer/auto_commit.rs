//! When `enable.auto.commit` commits, and what: a sans-io clock the
//! committer task consults, so the timing is tested with explicit instants.
//!
//! The committer task wakes at [`AutoCommitClock::deadline`] whether or not
//! the application is receiving (a slow handler must not keep handed-out
//! offsets uncommitted), commits the positions of messages already handed
//! out (at-least-once), and skips partitions whose offset did not move
//! since the last successful commit, so an idle consumer sends nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::commit::CommitEntry;
use crate::group::TopicPartition;

/// The auto-commit schedule and the offsets last committed.
#[derive(Debug)]
pub(crate) struct AutoCommitClock {
    interval: Duration,
    next: Instant,
    committed: BTreeMap<TopicPartition, i64>,
}

impl AutoCommitClock {
    /// First commit one `interval` after `now`.
    pub(crate) fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            next: now + interval,
            committed: BTreeMap::new(),
        }
    }

    /// When the next commit is due.
    pub(crate) fn deadline(&self) -> Instant {
        self.next
    }

    /// Whether a commit is due at `now`; if so the next one is scheduled
    /// one interval later (not catching up on missed ticks: one commit
    /// covers everything handed out so far).
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.interval;
        true
    }

    /// The entries whose offset differs from the last one committed.
    pub(crate) fn changed(&self, positions: Vec<CommitEntry>) -> Vec<CommitEntry> {
        positions
            .into_iter()
            .filter(|e| self.committed.get(&e.tp) != Some(&e.offset))
            .collect()
    }

    /// Records a successful commit (automatic or not).
    pub(crate) fn committed(&mut self, entries: &[CommitEntry]) {
        for e in entries {
            self.committed.insert(e.tp.clone(), e.offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: i32, offset: i64) -> CommitEntry {
        CommitEntry {
            tp: TopicPartition::new("t", p),
            offset,
            leader_epoch: None,
        }
    }

    #[test]
    fn commits_fall_due_every_interval_without_catching_up() {
        let t0 = Instant::now();
        let mut c = AutoCommitClock::new(Duration::from_millis(100), t0);
        assert_eq!(c.deadline(), t0 + Duration::from_millis(100));
        assert!(!c.due(t0));
        assert!(!c.due(t0 + Duration::from_millis(99)));
        assert!(c.due(t0 + Duration::from_millis(100)));
        assert!(!c.due(t0 + Duration::from_millis(150)));
        assert_eq!(c.deadline(), t0 + Duration::from_millis(200));
        // Woken late (a busy runtime): one commit, then a full interval.
        assert!(c.due(t0 + Duration::from_millis(750)));
        assert!(!c.due(t0 + Duration::from_millis(800)));
        assert_eq!(c.deadline(), t0 + Duration::from_millis(850));
    }

    #[test]
    fn only_moved_offsets_are_committed_again() {
        let mut c = AutoCommitClock::new(Duration::from_secs(5), Instant::now());
        let first = c.changed(vec![entry(0, 10), entry(1, 3)]);
        assert_eq!(first, [entry(0, 10), entry(1, 3)]);
        // A failed commit records nothing: the same entries come again.
        assert_eq!(c.changed(first.clone()), first);
        c.committed(&first);
        assert!(c.changed(vec![entry(0, 10), entry(1, 3)]).is_empty());
        assert_eq!(
            c.changed(vec![entry(0, 12), entry(1, 3), entry(2, 0)]),
            [entry(0, 12), entry(2, 0)]
        );
    }
}
