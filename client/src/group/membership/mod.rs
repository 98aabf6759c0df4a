//! Classic group membership (JoinGroup / SyncGroup / Heartbeat) as a sans-io
//! state machine: no sockets, no clock, no tasks. The caller passes `now`,
//! sends what [`Membership::poll_request`] returns, feeds back responses and
//! failures, wakes at [`Membership::poll_timeout`], and drains
//! [`Membership::poll_event`]. Method kinds follow quinn-proto's connection.
//!
//! ```text
//!            ┌───────────── coordinator lost / error ───────────────┐
//!            ▼                                                      │
//!  Unjoined ──JoinGroup──▶ Joining ──leader──▶ Leader ──Metadata──▶ Syncing ──SyncGroup──▶ Stable
//!     ▲  (FindCoordinator     │ follower ─────────────────────────────▲                     │
//!     │   first if needed)    └─ MEMBER_ID_REQUIRED: retry with the id                     │ Heartbeat
//!     └──────── REBALANCE_IN_PROGRESS, cooperative revocation, subscribe ◀─────────────────┘ every interval
//!  Stable ── app stalls past max.poll.interval ──▶ Stalled ── notify_poll ──▶ Unjoined
//!  any ── close ──▶ Leaving ── LeaveGroup answered / timed out ──▶ Closed
//!  any ── FENCED_INSTANCE_ID, authorization, bad protocol ──▶ Failed
//! ```
//!
//! Every state waits for something named: a response to a request in flight
//! (with a deadline), a timer ([`Membership::poll_timeout`]), or the
//! application ([`MemberState::Stalled`] waits for `notify_poll`, announced by
//! [`GroupEvent::PollIntervalExceeded`]).

mod build;
#[cfg(test)]
mod chaos;
mod handlers;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::TopicPartition;
use super::assignor::{MemberSubscription, PartitionCounts, RebalanceProtocol};
use super::config::{GroupConfig, GroupConfigError};
use super::event::{GroupEvent, GroupFailure, LostReason, RevokeReason};
use super::transmit::{Coordinator, Destination, GroupRequest, RequestId, Transmit};

/// What the member is doing, for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberState {
    /// Will send JoinGroup once the coordinator is known and any backoff is over.
    Unjoined,
    /// JoinGroup sent, waiting for the rebalance to gather the members.
    Joining,
    /// Elected leader: fetching partition counts to run the assignor.
    Leader,
    /// SyncGroup sent (or about to be), waiting for the assignment.
    Syncing,
    /// In the group with an assignment, heartbeating.
    Stable,
    /// Left after the application stalled; waits for `notify_poll`.
    Stalled,
    /// LeaveGroup sent on close.
    Leaving,
    /// Closed.
    Closed,
    /// Stopped on a fatal error.
    Failed,
}

/// The identity commits must carry (OffsetCommit's generation and member id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation id.
    pub generation_id: i32,
    /// This member's id.
    pub member_id: String,
    /// Its static id, if any.
    pub group_instance_id: Option<String>,
}

#[derive(Debug)]
enum State {
    Unjoined {
        at: Instant,
    },
    Joining,
    Leader {
        members: Vec<MemberSubscription>,
        metadata_at: Instant,
        sent: bool,
    },
    Syncing {
        assignments: Vec<(String, Bytes)>,
        sent: bool,
    },
    Stable,
    Stalled,
    Leaving,
    Closed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    FindCoordinator,
    Join,
    Sync,
    Heartbeat,
    Leave,
    OffsetFetch(Vec<TopicPartition>),
    Metadata,
}

#[derive(Debug)]
struct InFlight {
    kind: Kind,
    sent_at: Instant,
    deadline: Instant,
    generation_id: i32,
}

/// One member of a classic consumer group. See the module docs.
#[derive(Debug)]
pub struct Membership {
    config: GroupConfig,
    protocol: RebalanceProtocol,
    topics: Vec<Arc<str>>,
    state: State,
    coordinator: Option<Coordinator>,
    find_after: Instant,
    member_id: String,
    generation_id: i32,
    protocol_name: Option<String>,
    /// As leader: the group's topics and the partition counts the current
    /// assignment was computed from.
    leader_snapshot: Option<(BTreeSet<Arc<str>>, PartitionCounts)>,
    owned: BTreeSet<TopicPartition>,
    in_flight: BTreeMap<RequestId, InFlight>,
    next_id: u64,
    events: VecDeque<GroupEvent>,
    last_poll: Instant,
    heartbeat_due: Instant,
    heartbeat_ok_at: Instant,
    fetch_pending: BTreeSet<TopicPartition>,
    fetch_after: Instant,
    leave_pending: Option<String>,
    rejoin_reason: String,
    /// The application is still handling a revocation: JoinGroup waits.
    join_held: bool,
}

impl Membership {
    /// A member of `config.group_id` subscribed to `topics`, about to join.
    pub fn new<T: Into<Arc<str>>>(
        config: GroupConfig,
        topics: impl IntoIterator<Item = T>,
        now: Instant,
    ) -> Result<Self, GroupConfigError> {
        config.validate()?;
        Ok(Self {
            protocol: config.rebalance_protocol(),
            config,
            topics: normalize(topics),
            state: State::Unjoined { at: now },
            coordinator: None,
            find_after: now,
            member_id: String::new(),
            generation_id: -1,
            protocol_name: None,
            leader_snapshot: None,
            owned: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            next_id: 0,
            events: VecDeque::new(),
            last_poll: now,
            heartbeat_due: now,
            heartbeat_ok_at: now,
            fetch_pending: BTreeSet::new(),
            fetch_after: now,
            leave_pending: None,
            rejoin_reason: "joining".to_owned(),
            join_held: false,
        })
    }

    /// What the member is doing.
    pub fn state(&self) -> MemberState {
        match self.state {
            State::Unjoined { .. } => MemberState::Unjoined,
            State::Joining => MemberState::Joining,
            State::Leader { .. } => MemberState::Leader,
            State::Syncing { .. } => MemberState::Syncing,
            State::Stable => MemberState::Stable,
            State::Stalled => MemberState::Stalled,
            State::Leaving => MemberState::Leaving,
            State::Closed => MemberState::Closed,
            State::Failed => MemberState::Failed,
        }
    }

    /// The partitions this member owns now.
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// The subscribed topics, sorted.
    pub fn subscribed_topics(&self) -> &[Arc<str>] {
        &self.topics
    }

    /// The coordinator, once found.
    pub fn coordinator(&self) -> Option<&Coordinator> {
        self.coordinator.as_ref()
    }

    /// The rebalance protocol this member follows.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// The protocol (assignor) the coordinator chose in the last join.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// The identity to commit offsets with, while the member holds a
    /// generation.
    pub fn generation(&self) -> Option<Generation> {
        (self.generation_id >= 0 && !self.member_id.is_empty()).then(|| Generation {
            generation_id: self.generation_id,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
        })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// The application asked for records: resets the `max.poll.interval.ms`
    /// clock, and rejoins after a stall.
    pub fn notify_poll(&mut self, now: Instant) {
        self.last_poll = now;
        if matches!(self.state, State::Stalled) {
            self.rejoin_reason = "rejoining after the application stalled".to_owned();
            self.state = State::Unjoined { at: now };
        }
    }

    /// Changes the subscription; rejoins if it differs. With the cooperative
    /// protocol, partitions of topics no longer subscribed are revoked now.
    pub fn subscribe<T: Into<Arc<str>>>(
        &mut self,
        topics: impl IntoIterator<Item = T>,
        now: Instant,
    ) {
        let topics = normalize(topics);
        if topics == self.topics {
            return;
        }
        self.topics = topics;
        let gone: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| !self.topics.contains(&tp.topic))
            .cloned()
            .collect();
        if !gone.is_empty() && self.protocol == RebalanceProtocol::Cooperative {
            self.revoke(gone, RevokeReason::Unsubscribed);
        }
        self.request_rejoin("subscription changed", now);
    }

    /// Holds back JoinGroup (`true`) until released (`false`): the
    /// revocation gate. The application's revocation callback runs between
    /// a [`GroupEvent::Revoked`] and the next JoinGroup, so it can commit or
    /// flush before the partitions are given away. Heartbeats (with the
    /// last generation, so the session stays alive), commits and LeaveGroup
    /// are not held; `max.poll.interval.ms` still bounds the wait.
    pub fn hold_join(&mut self, held: bool) {
        self.join_held = held;
    }

    /// Whether JoinGroup is held back ([`Membership::hold_join`]).
    pub fn join_held(&self) -> bool {
        self.join_held
    }

    /// Heartbeats continue while the join is held, for a member the
    /// coordinator knows (it has a member id and a generation).
    fn heartbeats_while_held(&self) -> bool {
        self.join_held && self.generation_id >= 0 && !self.member_id.is_empty()
    }

    /// Asks for a rebalance (e.g. the leader saw partition counts change).
    /// Ignored unless the member is in, or on its way into, the group.
    pub fn request_rejoin(&mut self, reason: &str, now: Instant) {
        if matches!(
            self.state,
            State::Stable | State::Joining | State::Leader { .. } | State::Syncing { .. }
        ) {
            self.rejoin(reason, now, Duration::ZERO);
        } else if let State::Unjoined { .. } = self.state {
            self.rejoin_reason = reason.to_owned();
        }
    }

    /// The topics whose partition counts this member must watch because it
    /// computed the current assignment as leader (all the group's topics).
    pub fn leader_watch_topics(&self) -> Option<&BTreeSet<Arc<str>>> {
        self.leader_snapshot.as_ref().map(|(topics, _)| topics)
    }

    /// Compares fresh partition counts with those the leader assigned from
    /// and rejoins if a watched topic's count changed, so new partitions get
    /// an owner. Topics missing from `counts` are not compared (metadata may
    /// not cover them yet). Returns whether a rebalance was requested.
    pub fn check_partition_counts(&mut self, counts: &PartitionCounts, now: Instant) -> bool {
        let Some((topics, assigned)) = &self.leader_snapshot else {
            return false;
        };
        if !matches!(self.state, State::Stable) {
            return false;
        }
        let changed = topics.iter().any(|t| match counts.get(t) {
            Some(n) => assigned.get(t) != Some(n),
            None => false,
        });
        if changed {
            self.leader_snapshot = None;
            self.request_rejoin("partition counts changed", now);
        }
        changed
    }

    /// Feeds back the group-level error of an OffsetCommit: membership errors
    /// mean the member was expelled or the group is rebalancing.
    pub fn handle_commit_error(&mut self, code: klamm_protocol::ErrorCode, now: Instant) {
        self.handle_membership_error("OffsetCommit", code, now);
    }

    /// Leaves the group: owned partitions are revoked (commit them before the
    /// next request), then a dynamic member sends LeaveGroup; a static member
    /// just stops, so a restart within the session timeout keeps its
    /// partitions. Ends with [`GroupEvent::Closed`].
    pub fn close(&mut self) {
        if matches!(self.state, State::Closed | State::Leaving) {
            return;
        }
        let owned: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
        self.revoke(owned, RevokeReason::Leaving);
        self.fetch_pending.clear();
        self.in_flight.clear();
        let dynamic = self.config.group_instance_id.is_none();
        // A stalled member may still owe the LeaveGroup it queued.
        let leave = self.leave_pending.take().or_else(|| {
            (dynamic && !self.member_id.is_empty()).then(|| std::mem::take(&mut self.member_id))
        });
        match leave {
            Some(member_id)
                if self.coordinator.is_some() && !matches!(self.state, State::Failed) =>
            {
                self.leave_pending = Some(member_id);
                self.state = State::Leaving;
            }
            _ => self.finish_close(),
        }
        self.generation_id = -1;
    }

    /// The next request to send, if any. Call until it returns `None`.
    pub fn poll_request(&mut self, now: Instant) -> Option<Transmit> {
        if matches!(self.state, State::Closed | State::Failed) {
            return None;
        }
        if let State::Leader {
            members,
            metadata_at,
            sent: sent @ false,
        } = &mut self.state
        {
            if now >= *metadata_at {
                *sent = true;
                let request = build::metadata(members);
                return Some(self.send(Kind::Metadata, Destination::AnyBroker, request, now));
            }
        }
        let Some(coordinator) = self.coordinator.clone() else {
            if self.wants_coordinator()
                && now >= self.find_after
                && !self.has_in_flight(|k| *k == Kind::FindCoordinator)
            {
                let request = build::find_coordinator(&self.config.group_id);
                return Some(self.send(
                    Kind::FindCoordinator,
                    Destination::AnyBroker,
                    request,
                    now,
                ));
            }
            return None;
        };
        let to = Destination::Coordinator(coordinator);
        if let Some(member_id) = self.leave_pending.take() {
            let request = build::leave(&self.config, &member_id, &self.rejoin_reason);
            return Some(self.send(Kind::Leave, to, request, now));
        }
        let heartbeat_due =
            now >= self.heartbeat_due && !self.has_in_flight(|k| *k == Kind::Heartbeat);
        let held_heartbeat_due = heartbeat_due && self.heartbeats_while_held();
        match &mut self.state {
            State::Unjoined { at } if now >= *at && !self.join_held => match self.join_request() {
                Ok(request) => {
                    self.state = State::Joining;
                    return Some(self.send(Kind::Join, to, request, now));
                }
                Err(failure) => {
                    self.fail(failure);
                    return None;
                }
            },
            State::Syncing {
                assignments,
                sent: sent @ false,
            } => {
                *sent = true;
                let assignments = std::mem::take(assignments);
                let request = build::sync(
                    &self.config,
                    self.generation_id,
                    &self.member_id,
                    self.protocol_name.as_deref(),
                    assignments,
                );
                return Some(self.send(Kind::Sync, to, request, now));
            }
            State::Stable if heartbeat_due => {
                let request = build::heartbeat(&self.config, self.generation_id, &self.member_id);
                return Some(self.send(Kind::Heartbeat, to, request, now));
            }
            // While the application's revocation callback holds the join,
            // keep the member's session alive as Java's heartbeat thread
            // does: the coordinator answers REBALANCE_IN_PROGRESS, which is
            // expected here, and a callback longer than session.timeout.ms
            // does not get the member expelled.
            State::Unjoined { .. } if held_heartbeat_due => {
                let request = build::heartbeat(&self.config, self.generation_id, &self.member_id);
                return Some(self.send(Kind::Heartbeat, to, request, now));
            }
            _ => {}
        }
        if self.may_fetch()
            && !self.fetch_pending.is_empty()
            && now >= self.fetch_after
            && !self.has_in_flight(|k| matches!(k, Kind::OffsetFetch(_)))
        {
            let partitions: Vec<TopicPartition> = std::mem::take(&mut self.fetch_pending)
                .into_iter()
                .collect();
            let request = build::offset_fetch(&self.config.group_id, &partitions);
            return Some(self.send(Kind::OffsetFetch(partitions), to, request, now));
        }
        None
    }

    /// The next instant at which [`Membership::handle_timeout`] or
    /// [`Membership::poll_request`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for f in self.in_flight.values() {
            at(f.deadline);
        }
        if self.poll_clock_runs() {
            at(self.last_poll + self.config.max_poll_interval);
        }
        let known = self.coordinator.is_some();
        match &self.state {
            State::Closed | State::Failed => return None,
            State::Unjoined { at: when } if known && !self.join_held => at(*when),
            State::Unjoined { .. }
                if known
                    && self.heartbeats_while_held()
                    && !self.has_in_flight(|k| *k == Kind::Heartbeat) =>
            {
                at(self.heartbeat_due)
            }
            State::Leader {
                metadata_at,
                sent: false,
                ..
            } => at(*metadata_at),
            State::Stable => {
                at(self.heartbeat_ok_at + self.config.session_timeout);
                if known && !self.has_in_flight(|k| *k == Kind::Heartbeat) {
                    at(self.heartbeat_due);
                }
            }
            _ => {}
        }
        if !known
            && self.wants_coordinator()
            && !self.has_in_flight(|k| *k == Kind::FindCoordinator)
        {
            at(self.find_after);
        }
        if known
            && self.may_fetch()
            && !self.fetch_pending.is_empty()
            && !self.has_in_flight(|k| matches!(k, Kind::OffsetFetch(_)))
        {
            at(self.fetch_after);
        }
        next
    }

    /// Fires the timers that have expired: request deadlines (treated like a
    /// lost connection), the session timeout, `max.poll.interval.ms`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now >= f.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.handle_error(id, now);
        }
        if self.poll_clock_runs() && now >= self.last_poll + self.config.max_poll_interval {
            self.stall(now);
            return;
        }
        if matches!(self.state, State::Stable)
            && now >= self.heartbeat_ok_at + self.config.session_timeout
        {
            self.lose(LostReason::SessionTimeout, true);
            self.coordinator_lost(now);
            self.rejoin("session timed out", now, Duration::ZERO);
        }
    }

    /// Whether the member has something to do at the coordinator: a stalled
    /// member only to send its LeaveGroup.
    fn wants_coordinator(&self) -> bool {
        match self.state {
            State::Stalled | State::Leaving => self.leave_pending.is_some(),
            State::Closed | State::Failed => false,
            _ => true,
        }
    }

    /// Whether committed offsets may be fetched: while the member owns
    /// partitions in some generation.
    fn may_fetch(&self) -> bool {
        matches!(
            self.state,
            State::Stable
                | State::Unjoined { .. }
                | State::Joining
                | State::Leader { .. }
                | State::Syncing { .. }
        )
    }

    fn poll_clock_runs(&self) -> bool {
        matches!(
            self.state,
            State::Stable
                | State::Unjoined { .. }
                | State::Joining
                | State::Leader { .. }
                | State::Syncing { .. }
        )
    }

    fn has_in_flight(&self, pred: impl Fn(&Kind) -> bool) -> bool {
        self.in_flight.values().any(|f| pred(&f.kind))
    }

    fn send(
        &mut self,
        kind: Kind,
        destination: Destination,
        request: GroupRequest,
        now: Instant,
    ) -> Transmit {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let wait = match kind {
            // JoinGroup (and a follower's SyncGroup) may legitimately wait
            // for the whole rebalance.
            Kind::Join | Kind::Sync => (self.config.rebalance_timeout + Duration::from_secs(5))
                .max(self.config.request_timeout),
            _ => self.config.request_timeout,
        };
        self.in_flight.insert(
            id,
            InFlight {
                kind,
                sent_at: now,
                deadline: now + wait,
                generation_id: self.generation_id,
            },
        );
        Transmit {
            id,
            destination,
            request,
        }
    }

    fn join_request(&self) -> Result<GroupRequest, GroupFailure> {
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        build::join(
            &self.config,
            &self.topics,
            &owned,
            self.generation_id,
            &self.member_id,
            &self.rejoin_reason,
        )
    }

    /// Starts a rebalance from this side: eager members revoke everything
    /// first; cooperative members keep their partitions.
    fn rejoin(&mut self, reason: &str, now: Instant, delay: Duration) {
        if self.protocol == RebalanceProtocol::Eager {
            let owned: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
            self.revoke(owned, RevokeReason::Rebalance);
            self.fetch_pending.clear();
        }
        self.in_flight
            .retain(|_, f| matches!(f.kind, Kind::FindCoordinator | Kind::OffsetFetch(_)));
        self.rejoin_reason = reason.to_owned();
        self.state = State::Unjoined { at: now + delay };
    }

    fn revoke(&mut self, partitions: Vec<TopicPartition>, reason: RevokeReason) {
        if partitions.is_empty() {
            return;
        }
        for tp in &partitions {
            self.owned.remove(tp);
            self.fetch_pending.remove(tp);
        }
        self.forget_fetches(&partitions);
        self.events
            .push_back(GroupEvent::Revoked { partitions, reason });
    }

    /// An OffsetFetch in flight must not report partitions given up since it
    /// was sent: if they come back in a later generation, its answer may
    /// predate the commit made on revocation.
    fn forget_fetches(&mut self, partitions: &[TopicPartition]) {
        for f in self.in_flight.values_mut() {
            if let Kind::OffsetFetch(asked) = &mut f.kind {
                asked.retain(|tp| !partitions.contains(tp));
            }
        }
    }

    /// The membership is gone: owned partitions are lost, the generation is
    /// void, and (for an expelled member) so is the member id.
    fn lose(&mut self, reason: LostReason, reset_member_id: bool) {
        let owned: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
        self.fetch_pending.clear();
        self.forget_fetches(&owned);
        if !owned.is_empty() {
            self.events.push_back(GroupEvent::Lost {
                partitions: owned,
                reason,
            });
        }
        self.generation_id = -1;
        if reset_member_id {
            self.member_id.clear();
        }
    }

    fn coordinator_lost(&mut self, now: Instant) {
        self.coordinator = None;
        self.find_after = now;
        // Requests to the old coordinator no longer matter; re-queue the
        // committed-offset lookups.
        let mut requeue = Vec::new();
        self.in_flight.retain(|_, f| match &f.kind {
            Kind::FindCoordinator | Kind::Metadata => true,
            Kind::OffsetFetch(parts) => {
                requeue.extend(parts.iter().cloned());
                false
            }
            _ => false,
        });
        self.fetch_pending
            .extend(requeue.into_iter().filter(|tp| self.owned.contains(tp)));
        match self.state {
            State::Joining | State::Leader { .. } | State::Syncing { .. } => {
                self.in_flight.retain(|_, f| f.kind != Kind::Metadata);
                self.state = State::Unjoined { at: now };
            }
            State::Stable => self.heartbeat_due = now,
            State::Leaving => self.finish_close(),
            _ => {}
        }
    }

    fn stall(&mut self, now: Instant) {
        let since_last_poll = now.saturating_duration_since(self.last_poll);
        self.events
            .push_back(GroupEvent::PollIntervalExceeded { since_last_poll });
        let dynamic = self.config.group_instance_id.is_none();
        self.lose(LostReason::PollIntervalExceeded, false);
        self.in_flight
            .retain(|_, f| f.kind == Kind::FindCoordinator);
        if dynamic && !self.member_id.is_empty() {
            self.rejoin_reason = "consumer poll timeout has expired".to_owned();
            self.leave_pending = Some(std::mem::take(&mut self.member_id));
        }
        self.state = State::Stalled;
    }

    fn fail(&mut self, failure: GroupFailure) {
        self.lose(LostReason::Failed, false);
        self.in_flight.clear();
        self.leave_pending = None;
        self.state = State::Failed;
        self.events.push_back(GroupEvent::Fatal(failure));
    }

    fn finish_close(&mut self) {
        self.in_flight.clear();
        self.leave_pending = None;
        self.state = State::Closed;
        self.events.push_back(GroupEvent::Closed);
    }
}

fn normalize<T: Into<Arc<str>>>(topics: impl IntoIterator<Item = T>) -> Vec<Arc<str>> {
    let mut v: Vec<Arc<str>> = topics.into_iter().map(Into::into).collect();
    v.sort();
    v.dedup();
    v
}
