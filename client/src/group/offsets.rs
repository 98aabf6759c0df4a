//! Offset bookkeeping for at-least-once consumption: per partition, the
//! position handed to the application and the position committed. Commits
//! carry only positions the application has been handed, never positions
//! merely fetched or buffered.
//!
//! ```text
//! fetch ─▶ buffer ─▶ app gets record at offset o ─▶ mark_handed(tp, o + 1)
//!                                                          │
//!           OffsetCommit ◀─ build_commit (handed ≠ committed, not in flight)
//!                │
//!           response ─▶ handle_commit_response: committed = handed-at-send,
//!                       per-partition errors sorted into retry / failed /
//!                       group errors for Membership::handle_commit_error
//! ```

use std::collections::BTreeMap;

use klamm_protocol::generated::offset_commit::request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use klamm_protocol::generated::{OffsetCommitRequest, OffsetCommitResponse};
use klamm_protocol::{ErrorCode, StrBytes};

use super::{CommittedOffset, Generation, TopicPartition};

/// A position: the next offset to consume and the leader epoch of the record
/// before it, if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record.
    pub leader_epoch: Option<i32>,
}

#[derive(Debug, Default, Clone)]
struct Entry {
    handed: Option<Position>,
    committed: Option<Position>,
    in_flight: Option<Position>,
}

/// Handed and committed positions of the partitions this member owns.
#[derive(Debug, Default, Clone)]
pub struct Offsets {
    parts: BTreeMap<TopicPartition, Entry>,
}

/// An OffsetCommit ready to send, and what it commits.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCommit {
    /// The request (valid at every version; a static member needs v7+).
    pub request: OffsetCommitRequest,
    /// The positions it commits.
    pub positions: Vec<(TopicPartition, Position)>,
}

/// How an OffsetCommit went, partition by partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitOutcome {
    /// Committed.
    pub committed: Vec<TopicPartition>,
    /// Failed with a retriable error: they are still uncommitted and the
    /// next [`Offsets::build_commit`] includes them.
    pub retriable: Vec<(TopicPartition, ErrorCode)>,
    /// Failed for good (e.g. `OFFSET_METADATA_TOO_LARGE`, authorization).
    pub failed: Vec<(TopicPartition, ErrorCode)>,
    /// A membership error (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`,
    /// `REBALANCE_IN_PROGRESS`, `FENCED_INSTANCE_ID`, coordinator moved):
    /// pass it to [`Membership::handle_commit_error`](super::Membership::handle_commit_error).
    pub group_error: Option<ErrorCode>,
}

/// Whether a commit error is one membership must act on (rejoin, find the
/// coordinator, stop): [`Membership::handle_commit_error`](super::Membership::handle_commit_error)
/// takes these, whichever path committed.
pub(crate) fn is_group_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownMemberId
            | ErrorCode::IllegalGeneration
            | ErrorCode::RebalanceInProgress
            | ErrorCode::FencedInstanceId
            | ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::GroupAuthorizationFailed
    )
}

/// The first membership error among a commit response's partitions, for
/// [`Membership::handle_commit_error`](super::Membership::handle_commit_error).
pub fn commit_group_error(response: &OffsetCommitResponse) -> Option<ErrorCode> {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| ErrorCode::from_code(p.error_code))
        .find(|code| is_group_error(*code))
}

impl Offsets {
    /// Empty bookkeeping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts tracking newly assigned partitions (nothing handed yet).
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.parts.entry(tp.clone()).or_default();
        }
    }

    /// Stops tracking partitions that were revoked or lost. Commit revoked
    /// partitions *before* calling this.
    pub fn remove(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.parts.remove(tp);
        }
    }

    /// Records committed offsets fetched after an assignment.
    pub fn set_committed(&mut self, offsets: &[CommittedOffset]) {
        for c in offsets {
            if let (Some(e), Some(offset)) = (self.parts.get_mut(&c.partition), c.offset) {
                e.committed = Some(Position {
                    offset,
                    leader_epoch: c.leader_epoch,
                });
            }
        }
    }

    /// The application has been handed every record before `position.offset`
    /// in `tp`. Returns false for a partition this member does not own (the
    /// record must not be handed out then). No allocation.
    pub fn mark_handed(&mut self, tp: &TopicPartition, position: Position) -> bool {
        match self.parts.get_mut(tp) {
            Some(e) => {
                e.handed = Some(position);
                true
            }
            None => false,
        }
    }

    /// The position handed to the application.
    pub fn handed(&self, tp: &TopicPartition) -> Option<Position> {
        self.parts.get(tp).and_then(|e| e.handed)
    }

    /// The committed position, as last fetched or committed.
    pub fn committed(&self, tp: &TopicPartition) -> Option<Position> {
        self.parts.get(tp).and_then(|e| e.committed)
    }

    /// Partitions whose handed position is not committed nor being committed.
    pub fn uncommitted(&self) -> impl Iterator<Item = (&TopicPartition, Position)> + '_ {
        self.parts.iter().filter_map(|(tp, e)| {
            let handed = e.handed?;
            let done = e.committed.map(|c| c.offset) == Some(handed.offset)
                || e.in_flight.map(|c| c.offset) == Some(handed.offset);
            (!done).then_some((tp, handed))
        })
    }

    /// Builds an OffsetCommit for every uncommitted handed position (or only
    /// those in `only`), marking them in flight; `None` if nothing to commit.
    pub fn build_commit(
        &mut self,
        group_id: &str,
        generation: &Generation,
        only: Option<&[TopicPartition]>,
    ) -> Option<PendingCommit> {
        let positions: Vec<(TopicPartition, Position)> = self
            .uncommitted()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .map(|(tp, p)| (tp.clone(), p))
            .collect();
        if positions.is_empty() {
            return None;
        }
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, pos) in &positions {
            if let Some(e) = self.parts.get_mut(tp) {
                e.in_flight = Some(*pos);
            }
            let partition = OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(pos.offset)
                .with_committed_leader_epoch(pos.leader_epoch.unwrap_or(-1));
            // positions are sorted by topic, so the last group is the one to extend.
            match topics.last_mut() {
                Some(t) if t.name.as_str() == &*tp.topic => t.partitions.push(partition),
                _ => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(StrBytes::from(&*tp.topic))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(StrBytes::from(group_id))
            .with_generation_id_or_member_epoch(generation.generation_id)
            .with_member_id(StrBytes::from(generation.member_id.as_str()))
            .with_group_instance_id(generation.group_instance_id.as_deref().map(StrBytes::from))
            .with_topics(topics);
        Some(PendingCommit { request, positions })
    }

    /// Applies the response to `sent`.
    pub fn handle_commit_response(
        &mut self,
        sent: &PendingCommit,
        response: &OffsetCommitResponse,
    ) -> CommitOutcome {
        let mut out = CommitOutcome::default();
        for (tp, pos) in &sent.positions {
            let code = response
                .topics
                .iter()
                .filter(|t| t.name.as_str() == &*tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition)
                .map(|p| ErrorCode::from_code(p.error_code));
            let Some(e) = self.parts.get_mut(tp) else {
                // Revoked while the commit was in flight: nothing to track.
                continue;
            };
            if e.in_flight == Some(*pos) {
                e.in_flight = None;
            }
            match code {
                Some(ErrorCode::None) => {
                    e.committed = Some(*pos);
                    out.committed.push(tp.clone());
                }
                // The broker skipped the partition: try again.
                None => out
                    .retriable
                    .push((tp.clone(), ErrorCode::UnknownServerError)),
                Some(code) if is_group_error(code) => {
                    out.group_error.get_or_insert(code);
                    out.retriable.push((tp.clone(), code));
                }
                Some(code) if code.is_retriable() => out.retriable.push((tp.clone(), code)),
                Some(code) => out.failed.push((tp.clone(), code)),
            }
        }
        out
    }

    /// The commit never got an answer: its positions are uncommitted again.
    pub fn commit_failed(&mut self, sent: &PendingCommit) {
        for (tp, pos) in &sent.positions {
            if let Some(e) = self.parts.get_mut(tp) {
                if e.in_flight == Some(*pos) {
                    e.in_flight = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::generated::offset_commit::response::{
        OffsetCommitResponsePartition, OffsetCommitResponseTopic,
    };

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    fn pos(offset: i64) -> Position {
        Position {
            offset,
            leader_epoch: Some(3),
        }
    }

    fn generation() -> Generation {
        Generation {
            generation_id: 7,
            member_id: "m1".into(),
            group_instance_id: None,
        }
    }

    fn response(rows: &[(&str, i32, ErrorCode)]) -> OffsetCommitResponse {
        let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
        for (t, p, code) in rows {
            let part = OffsetCommitResponsePartition::default()
                .with_partition_index(*p)
                .with_error_code(code.code());
            match topics.iter_mut().find(|x| x.name.as_str() == *t) {
                Some(x) => x.partitions.push(part),
                None => topics.push(
                    OffsetCommitResponseTopic::default()
                        .with_name((*t).into())
                        .with_partitions(vec![part]),
                ),
            }
        }
        OffsetCommitResponse::default().with_topics(topics)
    }

    #[test]
    fn commits_only_what_was_handed_with_member_and_generation() {
        let mut o = Offsets::new();
        o.assign(&[tp("a", 0), tp("a", 1), tp("b", 0)]);
        assert!(
            o.build_commit("g", &generation(), None).is_none(),
            "nothing handed, nothing to commit"
        );
        assert!(o.mark_handed(&tp("a", 1), pos(10)));
        assert!(o.mark_handed(&tp("b", 0), pos(4)));
        assert!(!o.mark_handed(&tp("zz", 0), pos(1)), "not owned");
        let c = o.build_commit("g", &generation(), None).unwrap();
        assert_eq!(c.request.group_id.as_str(), "g");
        assert_eq!(c.request.generation_id_or_member_epoch, 7);
        assert_eq!(c.request.member_id.as_str(), "m1");
        let sent: Vec<(String, i32, i64, i32)> = c
            .request
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.as_str().to_owned(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                    )
                })
            })
            .collect();
        assert_eq!(sent, vec![("a".into(), 1, 10, 3), ("b".into(), 0, 4, 3)]);
        // In flight: not committed twice.
        assert!(o.build_commit("g", &generation(), None).is_none());
        let out = o.handle_commit_response(
            &c,
            &response(&[("a", 1, ErrorCode::None), ("b", 0, ErrorCode::None)]),
        );
        assert_eq!(out.committed, vec![tp("a", 1), tp("b", 0)]);
        assert_eq!(o.committed(&tp("a", 1)), Some(pos(10)));
        assert!(o.build_commit("g", &generation(), None).is_none());
        // More handed after the commit: only that is committed next.
        o.mark_handed(&tp("a", 1), pos(12));
        let c = o.build_commit("g", &generation(), None).unwrap();
        assert_eq!(c.positions, vec![(tp("a", 1), pos(12))]);
    }

    #[test]
    fn per_partition_errors_are_sorted_and_retriable_ones_stay_uncommitted() {
        let mut o = Offsets::new();
        let parts = [tp("a", 0), tp("a", 1), tp("a", 2), tp("a", 3)];
        o.assign(&parts);
        for p in &parts {
            o.mark_handed(p, pos(5));
        }
        let c = o.build_commit("g", &generation(), None).unwrap();
        let out = o.handle_commit_response(
            &c,
            &response(&[
                ("a", 0, ErrorCode::None),
                ("a", 1, ErrorCode::CoordinatorLoadInProgress),
                ("a", 2, ErrorCode::OffsetMetadataTooLarge),
                ("a", 3, ErrorCode::IllegalGeneration),
            ]),
        );
        assert_eq!(out.committed, vec![tp("a", 0)]);
        assert_eq!(
            out.failed,
            vec![(tp("a", 2), ErrorCode::OffsetMetadataTooLarge)]
        );
        assert_eq!(out.group_error, Some(ErrorCode::IllegalGeneration));
        assert_eq!(
            commit_group_error(&response(&[
                ("a", 0, ErrorCode::None),
                ("a", 3, ErrorCode::IllegalGeneration)
            ])),
            Some(ErrorCode::IllegalGeneration)
        );
        assert_eq!(
            out.retriable,
            vec![
                (tp("a", 1), ErrorCode::CoordinatorLoadInProgress),
                (tp("a", 3), ErrorCode::IllegalGeneration)
            ]
        );
        let again: Vec<TopicPartition> = o.uncommitted().map(|(tp, _)| tp.clone()).collect();
        assert_eq!(again, vec![tp("a", 1), tp("a", 2), tp("a", 3)]);
    }

    #[test]
    fn lost_commit_and_revocation_in_flight() {
        let mut o = Offsets::new();
        o.assign(&[tp("a", 0), tp("a", 1)]);
        o.mark_handed(&tp("a", 0), pos(1));
        o.mark_handed(&tp("a", 1), pos(2));
        let c = o
            .build_commit("g", &generation(), Some(&[tp("a", 0)]))
            .unwrap();
        assert_eq!(c.positions.len(), 1);
        o.commit_failed(&c);
        assert_eq!(o.uncommitted().count(), 2);
        let c = o.build_commit("g", &generation(), None).unwrap();
        o.remove(&[tp("a", 1)]);
        let out = o.handle_commit_response(
            &c,
            &response(&[("a", 0, ErrorCode::None), ("a", 1, ErrorCode::None)]),
        );
        assert_eq!(out.committed, vec![tp("a", 0)]);
        assert_eq!(o.committed(&tp("a", 1)), None);
    }

    #[test]
    fn fetched_committed_offsets_suppress_an_identical_commit() {
        let mut o = Offsets::new();
        o.assign(&[tp("a", 0)]);
        o.set_committed(&[CommittedOffset {
            partition: tp("a", 0),
            offset: Some(8),
            leader_epoch: Some(3),
            metadata: None,
        }]);
        o.mark_handed(&tp("a", 0), pos(8));
        assert!(o.build_commit("g", &generation(), None).is_none());
        let static_gen = Generation {
            group_instance_id: Some("i".into()),
            ..generation()
        };
        o.mark_handed(&tp("a", 0), pos(9));
        let c = o.build_commit("g", &static_gen, None).unwrap();
        assert_eq!(c.request.group_instance_id.as_deref(), Some("i"));
    }
}
