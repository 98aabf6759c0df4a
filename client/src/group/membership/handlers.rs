//! What membership does with each response or failure.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use klamm_protocol::ErrorCode;
use klamm_protocol::generated::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, MetadataResponse,
    OffsetFetchResponse, SyncGroupResponse,
};

use super::{InFlight, Kind, Membership, State};
use crate::group::assignor::{
    MemberSubscription, PartitionCounts, RebalanceProtocol, validate_assignment,
    withhold_moving_partitions,
};
use crate::group::consumer_protocol::{decode_assignment, decode_subscription, encode_assignment};
use crate::group::event::{CommittedOffset, GroupEvent, GroupFailure, LostReason, RevokeReason};
use crate::group::transmit::{Coordinator, GroupResponse, RequestId};
use crate::group::{TopicPartition, offset_fetch_rows};

/// One partition of an OffsetFetch answer, whichever version's shape:
/// topic, partition, offset, leader epoch, metadata, error code.
/// Errors after which nothing this member can do will help.
fn is_fatal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::FencedInstanceId
            | ErrorCode::GroupAuthorizationFailed
            | ErrorCode::InconsistentGroupProtocol
            | ErrorCode::InvalidSessionTimeout
            | ErrorCode::GroupMaxSizeReached
            | ErrorCode::InvalidGroupId
            | ErrorCode::UnsupportedVersion
            | ErrorCode::UnreleasedInstanceId
    )
}

fn moved(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

impl Membership {
    /// A response to request `id`. Responses to requests membership has given
    /// up on (coordinator moved, deadline passed) are ignored.
    pub fn handle_response(&mut self, id: RequestId, response: GroupResponse, now: Instant) {
        let Some(sent) = self.in_flight.remove(&id) else {
            return;
        };
        match (&sent.kind, response) {
            (Kind::FindCoordinator, GroupResponse::FindCoordinator(r)) => self.on_find(&r, now),
            (Kind::Join, GroupResponse::JoinGroup(r)) => self.on_join(r, now),
            (Kind::Sync, GroupResponse::SyncGroup(r)) => self.on_sync(r, &sent, now),
            (Kind::Heartbeat, GroupResponse::Heartbeat(r)) => self.on_heartbeat(&r, &sent, now),
            (Kind::Leave, GroupResponse::LeaveGroup(_)) => {
                // Whatever the answer, the member is gone from our side.
                if matches!(self.state, State::Leaving) {
                    self.finish_close();
                }
            }
            (Kind::OffsetFetch(parts), GroupResponse::OffsetFetch(r)) => {
                let parts = parts.clone();
                self.on_offset_fetch(&r, parts, now);
            }
            (Kind::Metadata, GroupResponse::Metadata(r)) => self.on_metadata(&r, &sent),
            // A response of the wrong API: the connection layer is confused;
            // treat it like a failure of the request.
            (_, _) => {
                self.in_flight.insert(id, sent);
                self.handle_error(id, now);
            }
        }
    }

    /// Request `id` failed without a response (connection lost, timed out).
    /// A failure on the coordinator's connection sends the member looking for
    /// the coordinator again.
    pub fn handle_error(&mut self, id: RequestId, now: Instant) {
        let Some(sent) = self.in_flight.remove(&id) else {
            return;
        };
        match sent.kind {
            Kind::FindCoordinator => self.find_after = now + self.config.retry_backoff,
            Kind::Metadata => {
                if let State::Leader {
                    metadata_at,
                    sent: was_sent,
                    ..
                } = &mut self.state
                {
                    *metadata_at = now + self.config.retry_backoff;
                    *was_sent = false;
                }
            }
            Kind::Leave => {
                if matches!(self.state, State::Leaving) {
                    self.finish_close();
                }
            }
            Kind::OffsetFetch(parts) => {
                self.fetch_pending
                    .extend(parts.into_iter().filter(|tp| self.owned.contains(tp)));
                self.coordinator_lost(now);
            }
            Kind::Join | Kind::Sync | Kind::Heartbeat => self.coordinator_lost(now),
        }
    }

    /// The coordinator's connection dropped: every request on it is lost and
    /// the coordinator must be found again.
    pub fn handle_coordinator_disconnect(&mut self, now: Instant) {
        if self.coordinator.is_some() {
            self.coordinator_lost(now);
        }
    }

    fn on_find(&mut self, r: &FindCoordinatorResponse, now: Instant) {
        let (code, node_id, host, port) = match r.coordinators.first() {
            Some(c) => (c.error_code, c.node_id, &c.host, c.port),
            None => (r.error_code, r.node_id, &r.host, r.port),
        };
        let code = ErrorCode::from_code(code);
        match (code, u16::try_from(port)) {
            (ErrorCode::None, Ok(port)) if !host.is_empty() && node_id >= 0 => {
                self.coordinator = Some(Coordinator {
                    node_id,
                    host: host.as_str().to_owned(),
                    port,
                });
                if matches!(self.state, State::Stable) {
                    self.heartbeat_due = now;
                }
            }
            (ErrorCode::GroupAuthorizationFailed, _) => {
                self.fail(GroupFailure::Refused {
                    api: "FindCoordinator",
                    code,
                });
            }
            // COORDINATOR_NOT_AVAILABLE (group topic not ready), a nonsense
            // address, anything else: ask again after the backoff.
            _ => self.find_after = now + self.config.retry_backoff,
        }
    }

    fn on_join(&mut self, r: JoinGroupResponse, now: Instant) {
        if !matches!(self.state, State::Joining) {
            return;
        }
        let code = ErrorCode::from_code(r.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::MemberIdRequired => {
                // KIP-394: the coordinator hands out the id and waits for us
                // to join again with it.
                self.member_id = r.member_id.as_str().to_owned();
                self.state = State::Unjoined { at: now };
                return;
            }
            _ => {
                self.handle_membership_error("JoinGroup", code, now);
                if matches!(self.state, State::Joining) {
                    self.state = State::Unjoined {
                        at: now + self.config.retry_backoff,
                    };
                }
                return;
            }
        }
        let protocol = r
            .protocol_name
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        if !self.config.assignors.iter().any(|a| a.name() == protocol) {
            self.fail(GroupFailure::UnknownProtocol(protocol));
            return;
        }
        self.member_id = r.member_id.as_str().to_owned();
        self.generation_id = r.generation_id;
        self.protocol_name = Some(protocol);
        if r.leader.as_str() == self.member_id && !r.skip_assignment {
            let mut members: Vec<MemberSubscription> = r
                .members
                .into_iter()
                .map(|m| {
                    let instance = m.group_instance_id.as_ref().map(|s| s.as_str());
                    decode_subscription(&m.member_id, instance, m.metadata).unwrap_or_else(|e| {
                        // One member's garbage must not stop the group: it
                        // gets nothing until it sends a readable subscription.
                        tracing::warn!(member = %m.member_id, error = %e, "unreadable subscription");
                        MemberSubscription::new(m.member_id.as_str(), Vec::<Arc<str>>::new())
                    })
                })
                .collect();
            members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
            self.state = State::Leader {
                members,
                metadata_at: now,
                sent: false,
            };
        } else {
            self.leader_snapshot = None;
            self.state = State::Syncing {
                assignments: Vec::new(),
                sent: false,
            };
        }
    }

    fn on_metadata(&mut self, r: &MetadataResponse, sent: &InFlight) {
        let State::Leader { members, .. } = &self.state else {
            return;
        };
        if sent.generation_id != self.generation_id {
            return;
        }
        // Topics that do not exist (yet) are left out: nobody gets them.
        let counts: PartitionCounts = r
            .topics
            .iter()
            .filter(|t| ErrorCode::from_code(t.error_code) == ErrorCode::None)
            .filter_map(|t| {
                let name = t.name.as_ref()?;
                let n = i32::try_from(t.partitions.len()).ok()?;
                Some((Arc::from(name.as_str()), n))
            })
            .collect();
        let members = members.clone();
        match self.leader_assign(&members, &counts) {
            Ok(assignments) => {
                let topics: BTreeSet<Arc<str>> = members
                    .iter()
                    .flat_map(|m| m.topics.iter().cloned())
                    .collect();
                let counts = counts
                    .into_iter()
                    .filter(|(t, _)| topics.contains(t))
                    .collect();
                self.leader_snapshot = Some((topics, counts));
                self.state = State::Syncing {
                    assignments,
                    sent: false,
                }
            }
            Err(failure) => self.fail(failure),
        }
    }

    fn leader_assign(
        &self,
        members: &[MemberSubscription],
        counts: &PartitionCounts,
    ) -> Result<Vec<(String, bytes::Bytes)>, GroupFailure> {
        let name = self.protocol_name.as_deref().unwrap_or_default();
        let assignor = self
            .config
            .assignors
            .iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| GroupFailure::UnknownProtocol(name.to_owned()))?;
        let mut assignment = assignor.assign(members, counts)?;
        validate_assignment(&assignment, members, counts)?;
        if self.protocol == RebalanceProtocol::Cooperative {
            let withheld = withhold_moving_partitions(&mut assignment, members);
            if !withheld.is_empty() {
                tracing::debug!(
                    count = withheld.len(),
                    "partitions withheld until their owners revoke them"
                );
            }
        }
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let parts = assignment.get(&m.member_id).map_or(&[][..], Vec::as_slice);
            let bytes = encode_assignment(parts, None)
                .map_err(|e| GroupFailure::Subscription(e.to_string()))?;
            out.push((m.member_id.clone(), bytes));
        }
        Ok(out)
    }

    fn on_sync(&mut self, r: SyncGroupResponse, sent: &InFlight, now: Instant) {
        if !matches!(self.state, State::Syncing { .. }) || sent.generation_id != self.generation_id
        {
            return;
        }
        let code = ErrorCode::from_code(r.error_code);
        if code != ErrorCode::None {
            self.handle_membership_error("SyncGroup", code, now);
            if matches!(self.state, State::Syncing { .. }) {
                self.state = State::Unjoined {
                    at: now + self.config.retry_backoff,
                };
            }
            return;
        }
        match decode_assignment(r.assignment) {
            Ok((partitions, _)) => self.apply_assignment(partitions, now),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable assignment from the leader; rejoining");
                self.rejoin("unreadable assignment", now, self.config.retry_backoff);
            }
        }
    }

    fn apply_assignment(&mut self, partitions: Vec<TopicPartition>, now: Instant) {
        let new: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&self.owned).cloned().collect();
        let must_rejoin = !revoked.is_empty() && self.protocol == RebalanceProtocol::Cooperative;
        self.revoke(revoked, RevokeReason::Reassigned);
        self.owned.extend(added.iter().cloned());
        self.fetch_pending.extend(added.iter().cloned());
        self.events.push_back(GroupEvent::Assigned {
            partitions: added,
            generation_id: self.generation_id,
        });
        self.heartbeat_ok_at = now;
        self.heartbeat_due = now + self.config.heartbeat_interval;
        self.state = State::Stable;
        if must_rejoin {
            // KIP-429: the partitions we gave up go to their new owner in
            // the next rebalance, which we start now.
            self.rejoin(
                "revoked partitions in a cooperative rebalance",
                now,
                Duration::ZERO,
            );
        }
    }

    fn on_heartbeat(&mut self, r: &HeartbeatResponse, sent: &InFlight, now: Instant) {
        if sent.generation_id != self.generation_id {
            return;
        }
        let code = ErrorCode::from_code(r.error_code);
        if matches!(self.state, State::Unjoined { .. }) && self.heartbeats_while_held() {
            // A heartbeat sent while the revocation callback holds the join:
            // REBALANCE_IN_PROGRESS is the expected answer and still proves
            // the session alive; anything else is handled as usual.
            self.heartbeat_due = (sent.sent_at + self.config.heartbeat_interval).max(now);
            if matches!(code, ErrorCode::None | ErrorCode::RebalanceInProgress) {
                self.heartbeat_ok_at = now;
                return;
            }
            self.handle_membership_error("Heartbeat", code, now);
            return;
        }
        if !matches!(self.state, State::Stable) {
            return;
        }
        match code {
            ErrorCode::None => {
                self.heartbeat_ok_at = now;
                self.heartbeat_due = (sent.sent_at + self.config.heartbeat_interval).max(now);
            }
            ErrorCode::CoordinatorLoadInProgress => {
                self.heartbeat_due = now + self.config.retry_backoff
            }
            _ => {
                self.handle_membership_error("Heartbeat", code, now);
                self.heartbeat_due = if matches!(self.state, State::Stable) {
                    now + self.config.retry_backoff
                } else {
                    // Used only if the join gets held: heartbeats then go on
                    // at the usual interval.
                    (sent.sent_at + self.config.heartbeat_interval).max(now)
                };
            }
        }
    }

    /// The errors JoinGroup, SyncGroup, Heartbeat and OffsetCommit share.
    pub(super) fn handle_membership_error(
        &mut self,
        api: &'static str,
        code: ErrorCode,
        now: Instant,
    ) {
        if matches!(
            self.state,
            State::Stalled | State::Leaving | State::Closed | State::Failed
        ) {
            // Out of the group already: a late commit error changes nothing.
            return;
        }
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => {
                if !matches!(self.state, State::Unjoined { .. } | State::Joining) {
                    self.rejoin("group is rebalancing", now, Duration::ZERO);
                }
            }
            ErrorCode::UnknownMemberId => {
                self.lose(LostReason::UnknownMemberId, true);
                self.rejoin("member id unknown to the coordinator", now, Duration::ZERO);
            }
            ErrorCode::IllegalGeneration => {
                self.lose(LostReason::IllegalGeneration, false);
                self.rejoin("stale generation", now, Duration::ZERO);
            }
            code if moved(code) => {
                self.coordinator_lost(now);
                if matches!(self.state, State::Joining | State::Syncing { .. }) {
                    self.state = State::Unjoined { at: now };
                }
            }
            ErrorCode::FencedInstanceId => {
                self.lose(LostReason::Fenced, false);
                self.fail(GroupFailure::Refused { api, code });
            }
            code if is_fatal(code) => self.fail(GroupFailure::Refused { api, code }),
            // COORDINATOR_LOAD_IN_PROGRESS and anything unexpected: the caller
            // retries after the backoff.
            _ => tracing::debug!(api, %code, "retrying after group error"),
        }
    }

    fn on_offset_fetch(
        &mut self,
        r: &OffsetFetchResponse,
        asked: Vec<TopicPartition>,
        now: Instant,
    ) {
        // v8+ answers per group; older versions at the top level.
        let per_group = !r.groups.is_empty();
        let Some((top, rows)) = offset_fetch_rows(r, per_group, &self.config.group_id) else {
            // A per-group answer that leaves this group out: ask again.
            self.fetch_pending
                .extend(asked.into_iter().filter(|tp| self.owned.contains(tp)));
            self.fetch_after = now + self.config.retry_backoff;
            return;
        };
        let top = ErrorCode::from_code(top);
        let asked: BTreeSet<TopicPartition> = asked
            .into_iter()
            .filter(|tp| self.owned.contains(tp))
            .collect();
        match top {
            ErrorCode::None => {}
            code if moved(code) => {
                self.fetch_pending.extend(asked);
                self.coordinator_lost(now);
                return;
            }
            ErrorCode::GroupAuthorizationFailed => {
                self.fail(GroupFailure::Refused {
                    api: "OffsetFetch",
                    code: top,
                });
                return;
            }
            code if code.is_retriable() => {
                self.fetch_pending.extend(asked);
                self.fetch_after = now + self.config.retry_backoff;
                return;
            }
            code => {
                let failed = asked.into_iter().map(|tp| (tp, code)).collect();
                self.events.push_back(GroupEvent::CommittedOffsets {
                    offsets: Vec::new(),
                    failed,
                });
                return;
            }
        }
        let mut offsets = Vec::new();
        let mut failed = Vec::new();
        let mut answered = BTreeSet::new();
        let mut retry = Vec::new();
        for f in rows {
            let (offset, epoch, metadata, code) =
                (f.offset, f.leader_epoch, f.metadata, f.error_code);
            let tp = TopicPartition::new(f.topic, f.partition);
            if !asked.contains(&tp) || !answered.insert(tp.clone()) {
                continue;
            }
            let code = ErrorCode::from_code(code);
            if code == ErrorCode::None {
                offsets.push(CommittedOffset {
                    partition: tp,
                    offset: (offset >= 0).then_some(offset),
                    leader_epoch: (epoch >= 0).then_some(epoch),
                    metadata: metadata.filter(|m| !m.is_empty()).map(str::to_owned),
                });
            } else if code.is_retriable() {
                // UNSTABLE_OFFSET_COMMIT: a transaction is still open.
                retry.push(tp);
            } else {
                failed.push((tp, code));
            }
        }
        // Partitions the broker did not mention: ask again.
        retry.extend(asked.into_iter().filter(|tp| !answered.contains(tp)));
        if !retry.is_empty() {
            self.fetch_pending.extend(retry);
            self.fetch_after = now + self.config.retry_backoff;
        }
        if !offsets.is_empty() || !failed.is_empty() {
            self.events
                .push_back(GroupEvent::CommittedOffsets { offsets, failed });
        }
    }
}
