//! Fetch sessions (KIP-227), one per fetch task (= per broker), sans-io.
//!
//! ```text
//!            full fetch (id 0 or old id, epoch 0): every partition
//! NoSession ─────────────────────────────────────────▶ answer: session id ≠ 0 ─▶ Open(id, epoch 1)
//!    ▲   ▲                                                     │ answer: session id 0 (broker offers none):
//!    │   └─────────────────────────────────────────────────────┘ stay sessionless, every fetch full
//!    │ FETCH_SESSION_ID_NOT_FOUND (id 0) · INVALID_FETCH_SESSION_EPOCH,
//!    │ any other failure (same id, epoch 0: the broker replaces it)
//! Open(id, n) ── incremental fetch: only partitions new or changed since
//!                they were last sent, plus the ones to forget ──▶ Open(id, n + 1)
//! close: (id, epoch -1), no partitions
//! ```
//!
//! The broker keeps, per session, each partition's fetch offset, leader
//! epoch and byte limit as last sent, and answers an incremental fetch with
//! only the partitions that have records or changed (error, watermarks);
//! the fetcher treats a partition left out as "nothing new". A fetch task
//! sends one Fetch at a time, so epochs never race.

use std::collections::HashMap;

use klamm_protocol::ErrorCode;

use super::state::FetchPlan;
use crate::group::TopicPartition;

/// Fetch v7 introduced sessions.
pub(crate) const MIN_SESSION_VERSION: i16 = 7;

/// What the broker holds for one partition of the session: what it was
/// last sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    fetch_offset: i64,
    leader_epoch: i32,
}

/// The next request's session fields and partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRequest {
    pub(crate) session_id: i32,
    pub(crate) epoch: i32,
    /// Indexes into the plans of the partitions to put in the request.
    pub(crate) send: Vec<usize>,
    /// Partitions the session drops (incremental requests only).
    pub(crate) forgotten: Vec<TopicPartition>,
}

impl SessionRequest {
    /// A full fetch: every partition is in the request.
    pub(crate) fn is_full(&self) -> bool {
        self.epoch <= 0
    }
}

/// The session with one broker.
#[derive(Debug, Default)]
pub(crate) struct FetchSession {
    /// 0: none.
    id: i32,
    /// Epoch of the next request: 0 asks for a new session (full fetch).
    epoch: i32,
    /// The partitions in the session, as last sent.
    partitions: HashMap<TopicPartition, Sent>,
}

impl FetchSession {
    /// True while the next request is incremental.
    pub(crate) fn is_open(&self) -> bool {
        self.id != 0 && self.epoch > 0
    }

    /// The request for `plans` (the partitions to fetch now) at Fetch
    /// `version`. Below v7, or with no session open, every plan is sent.
    pub(crate) fn build(&self, plans: &[FetchPlan], version: i16) -> SessionRequest {
        let all = || (0..plans.len()).collect();
        if version < MIN_SESSION_VERSION {
            // Sessionless full fetch, the only kind old brokers know.
            return SessionRequest {
                session_id: 0,
                epoch: -1,
                send: all(),
                forgotten: Vec::new(),
            };
        }
        if !self.is_open() {
            return SessionRequest {
                session_id: self.id,
                epoch: 0,
                send: all(),
                forgotten: Vec::new(),
            };
        }
        let send = plans
            .iter()
            .enumerate()
            .filter(|(_, p)| self.partitions.get(&p.tp) != Some(&sent(p)))
            .map(|(i, _)| i)
            .collect();
        let wanted: std::collections::HashSet<&TopicPartition> =
            plans.iter().map(|p| &p.tp).collect();
        let mut forgotten: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !wanted.contains(tp))
            .cloned()
            .collect();
        forgotten.sort();
        SessionRequest {
            session_id: self.id,
            epoch: self.epoch,
            send,
            forgotten,
        }
    }

    /// The broker answered `request` (built for `plans`) with this
    /// top-level error and session id.
    pub(crate) fn handle_response(
        &mut self,
        request: &SessionRequest,
        plans: &[FetchPlan],
        error: ErrorCode,
        session_id: i32,
    ) {
        if request.epoch < 0 {
            return; // sessionless (old version)
        }
        match error {
            ErrorCode::None => {}
            ErrorCode::FetchSessionIdNotFound => {
                tracing::debug!(session = self.id, "fetch session not found; starting anew");
                *self = Self::default();
                return;
            }
            other => {
                tracing::debug!(session = self.id, error = %other, "fetch session reset");
                self.reset();
                return;
            }
        }
        if request.is_full() {
            self.partitions.clear();
            if session_id == 0 {
                // The broker offers no session: keep asking with each full
                // fetch (it may have room later), never send incrementals.
                self.id = 0;
                self.epoch = 0;
                return;
            }
            self.id = session_id;
            self.epoch = 1;
        } else {
            for tp in &request.forgotten {
                self.partitions.remove(tp);
            }
            self.epoch = next_epoch(self.epoch);
        }
        for &i in &request.send {
            if let Some(p) = plans.get(i) {
                self.partitions.insert(p.tp.clone(), sent(p));
            }
        }
    }

    /// The request failed without an answer (connection lost, timeout): the
    /// broker may or may not have moved the epoch, so the next fetch is a
    /// full one that replaces the session.
    pub(crate) fn reset(&mut self) {
        self.epoch = 0;
        self.partitions.clear();
    }

    /// The fields of the request that closes the session, if one is open.
    pub(crate) fn close(&mut self) -> Option<(i32, i32)> {
        let id = std::mem::take(&mut self.id);
        self.reset();
        (id != 0).then_some((id, -1))
    }
}

fn sent(p: &FetchPlan) -> Sent {
    Sent {
        fetch_offset: p.fetch_offset,
        leader_epoch: p.leader_epoch,
    }
}

/// Epochs run 1..=i32::MAX and wrap to 1 (0 creates, -1 closes).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(p: i32, offset: i64) -> FetchPlan {
        FetchPlan {
            tp: TopicPartition::new("t", p),
            fetch_offset: offset,
            leader_epoch: 0,
            version: 1,
        }
    }

    fn open(plans: &[FetchPlan], id: i32) -> FetchSession {
        let mut s = FetchSession::default();
        let r = s.build(plans, 12);
        assert!(r.is_full());
        s.handle_response(&r, plans, ErrorCode::None, id);
        s
    }

    #[test]
    fn a_full_fetch_opens_the_session_and_the_next_sends_only_changes() {
        let plans = [plan(0, 10), plan(1, 20), plan(2, 30)];
        let mut s = FetchSession::default();
        let r = s.build(&plans, 12);
        assert_eq!((r.session_id, r.epoch, r.send.len()), (0, 0, 3));
        s.handle_response(&r, &plans, ErrorCode::None, 77);
        assert!(s.is_open());

        // Partition 1 received data (offset moved): only it is sent.
        let plans = [plan(0, 10), plan(1, 25), plan(2, 30)];
        let r = s.build(&plans, 12);
        assert_eq!((r.session_id, r.epoch), (77, 1));
        assert_eq!(r.send, [1]);
        assert!(r.forgotten.is_empty());
        s.handle_response(&r, &plans, ErrorCode::None, 77);

        // Nothing changed: an empty incremental fetch.
        let r = s.build(&plans, 12);
        assert_eq!((r.epoch, r.send.len()), (2, 0));
    }

    #[test]
    fn dropped_partitions_are_forgotten_and_come_back_as_new() {
        let plans = [plan(0, 10), plan(1, 20)];
        let mut s = open(&plans, 5);
        // Partition 1 paused: forgotten.
        let r = s.build(&plans[..1], 12);
        assert_eq!(r.forgotten, [TopicPartition::new("t", 1)]);
        assert!(r.send.is_empty());
        s.handle_response(&r, &plans[..1], ErrorCode::None, 5);
        // Resumed: sent again, even at the same offset.
        let r = s.build(&plans, 12);
        assert_eq!(r.send, [1]);
        assert!(r.forgotten.is_empty());
        // A new leader epoch is a change too.
        s.handle_response(&r, &plans, ErrorCode::None, 5);
        let mut moved = plans.clone();
        moved[0].leader_epoch = 3;
        assert_eq!(s.build(&moved, 12).send, [0]);
    }

    #[test]
    fn session_errors_and_failures_make_the_next_fetch_full() {
        let plans = [plan(0, 10), plan(1, 20)];
        let mut s = open(&plans, 9);
        let r = s.build(&plans, 12);
        s.handle_response(&r, &plans, ErrorCode::InvalidFetchSessionEpoch, 0);
        let r = s.build(&plans, 12);
        // Same id, epoch 0: the broker replaces the old session.
        assert_eq!((r.session_id, r.epoch, r.send.len()), (9, 0, 2));

        let mut s = open(&plans, 9);
        let r = s.build(&plans, 12);
        s.handle_response(&r, &plans, ErrorCode::FetchSessionIdNotFound, 0);
        let r = s.build(&plans, 12);
        assert_eq!((r.session_id, r.epoch, r.send.len()), (0, 0, 2));

        let mut s = open(&plans, 9);
        s.reset();
        assert_eq!(s.build(&plans, 12).send.len(), 2);
    }

    #[test]
    fn a_broker_without_sessions_gets_full_fetches() {
        let plans = [plan(0, 10)];
        let mut s = open(&plans, 0);
        assert!(!s.is_open());
        let r = s.build(&plans, 12);
        assert_eq!((r.session_id, r.epoch, r.send.len()), (0, 0, 1));
        assert_eq!(s.close(), None);
        // Below v7 there are no sessions at all.
        let r = FetchSession::default().build(&plans, 6);
        assert_eq!((r.session_id, r.epoch), (0, -1));
    }

    #[test]
    fn close_sends_the_final_epoch_once() {
        let plans = [plan(0, 10)];
        let mut s = open(&plans, 4);
        assert_eq!(s.close(), Some((4, -1)));
        assert_eq!(s.close(), None);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(1), 2);
        assert_eq!(next_epoch(i32::MAX), 1);
    }
}
