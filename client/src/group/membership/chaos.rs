//! Property test: membership under random responses, errors, timeouts,
//! reordering and application behaviour. After every step the member's own
//! account of what it owns matches the events it emitted, it never asks to be
//! woken in the past (no busy loop), every waiting state has a timer; and
//! once the broker behaves, it always gets back to a stable assignment.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use klamm_protocol::generated::join_group::response::JoinGroupResponseMember;
use klamm_protocol::generated::metadata::response::{
    MetadataResponsePartition, MetadataResponseTopic,
};
use klamm_protocol::generated::offset_fetch::response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use klamm_protocol::generated::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse,
    MetadataResponse, OffsetFetchResponse, SyncGroupResponse,
};
use klamm_protocol::{ErrorCode, StrBytes};
use proptest::prelude::*;

use super::*;
use crate::group::assignor::{Assignor, CooperativeStickyAssignor, RoundRobinAssignor};
use crate::group::consumer_protocol::encode_assignment;
use crate::group::transmit::GroupResponse;

const CODES: [ErrorCode; 10] = [
    ErrorCode::None,
    ErrorCode::None,
    ErrorCode::NotCoordinator,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::RebalanceInProgress,
    ErrorCode::UnknownMemberId,
    ErrorCode::IllegalGeneration,
    ErrorCode::MemberIdRequired,
    ErrorCode::UnknownServerError,
];

#[derive(Debug, Clone)]
enum Step {
    Advance(u64),
    Answer {
        pick: usize,
        code: usize,
        leader: bool,
        parts: u8,
    },
    Fail {
        pick: usize,
    },
    Poll,
    Subscribe(bool),
    CommitError(usize),
    Disconnect,
    Fence {
        pick: usize,
    },
    Close,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u64..12_000).prop_map(Step::Advance),
        10 => (any::<usize>(), 0..CODES.len(), any::<bool>(), any::<u8>())
            .prop_map(|(pick, code, leader, parts)| Step::Answer { pick, code, leader, parts }),
        2 => any::<usize>().prop_map(|pick| Step::Fail { pick }),
        3 => Just(Step::Poll),
        1 => any::<bool>().prop_map(Step::Subscribe),
        1 => (0..CODES.len()).prop_map(Step::CommitError),
        1 => Just(Step::Disconnect),
        // Rare: fatal errors and close end the run's interesting part.
        1 => any::<usize>().prop_map(|pick| Step::Fence { pick }),
        1 => Just(Step::Close),
    ]
}

struct World {
    m: Membership,
    now: Instant,
    outstanding: Vec<Transmit>,
    owned: BTreeSet<TopicPartition>,
    generation: i32,
    protocol: &'static str,
}

impl World {
    fn new(cooperative: bool, static_member: bool) -> Self {
        let assignors: Vec<Arc<dyn Assignor>> = if cooperative {
            vec![Arc::new(CooperativeStickyAssignor)]
        } else {
            vec![Arc::new(RoundRobinAssignor)]
        };
        let config = GroupConfig::new("g")
            .with_session_timeout(Duration::from_secs(10))
            .with_heartbeat_interval(Duration::from_secs(1))
            .with_max_poll_interval(Duration::from_secs(30))
            .with_retry_backoff(Duration::from_millis(100))
            .with_request_timeout(Duration::from_secs(5))
            .with_group_instance_id(static_member.then(|| "instance".to_owned()))
            .with_assignors(assignors);
        let now = Instant::now();
        Self {
            m: Membership::new(config, ["t"], now).unwrap(),
            now,
            outstanding: Vec::new(),
            owned: BTreeSet::new(),
            generation: 0,
            protocol: if cooperative {
                "cooperative-sticky"
            } else {
                "roundrobin"
            },
        }
    }

    /// Drains requests and events, checking the invariants.
    fn settle(&mut self) {
        while let Some(t) = self.m.poll_request(self.now) {
            self.outstanding.push(t);
        }
        while let Some(event) = self.m.poll_event() {
            match event {
                GroupEvent::Assigned { partitions, .. } => {
                    for p in partitions {
                        assert!(self.owned.insert(p.clone()), "{p} assigned while owned");
                    }
                }
                GroupEvent::Revoked { partitions, .. } | GroupEvent::Lost { partitions, .. } => {
                    for p in &partitions {
                        assert!(self.owned.remove(p), "{p} revoked or lost but not owned");
                    }
                }
                _ => {}
            }
        }
        assert_eq!(
            &self.owned,
            self.m.assignment(),
            "events and state disagree"
        );
        match self.m.poll_timeout() {
            Some(at) => assert!(
                at > self.now,
                "wake-up in the past in {:?}: busy loop",
                self.m.state()
            ),
            None => assert!(
                matches!(
                    self.m.state(),
                    MemberState::Stalled | MemberState::Closed | MemberState::Failed
                ),
                "{:?} waits without a timer",
                self.m.state()
            ),
        }
    }

    fn take(&mut self, pick: usize) -> Option<Transmit> {
        if self.outstanding.is_empty() {
            None
        } else {
            let i = pick % self.outstanding.len();
            Some(self.outstanding.swap_remove(i))
        }
    }

    fn answer(&mut self, t: &Transmit, code: ErrorCode, leader: bool, parts: u8) {
        let c = code.code();
        let response = match &t.request {
            GroupRequest::FindCoordinator(_) => GroupResponse::FindCoordinator(
                FindCoordinatorResponse::default()
                    .with_error_code(c)
                    .with_node_id(i32::from(parts % 2) + 1)
                    .with_host("h".into())
                    .with_port(9092),
            ),
            GroupRequest::JoinGroup(j) => {
                self.generation += 1;
                let me = if j.member_id.is_empty() {
                    StrBytes::from("m1")
                } else {
                    j.member_id.clone()
                };
                let metadata = j.protocols[0].metadata.clone();
                let mut r = JoinGroupResponse::default()
                    .with_error_code(c)
                    .with_generation_id(self.generation)
                    .with_protocol_name(Some(self.protocol.into()))
                    .with_member_id(me.clone())
                    .with_leader(if leader { me.clone() } else { "other".into() });
                if leader {
                    r = r.with_members(vec![
                        JoinGroupResponseMember::default()
                            .with_member_id(me)
                            .with_metadata(metadata),
                    ]);
                }
                GroupResponse::JoinGroup(r)
            }
            GroupRequest::SyncGroup(_) => {
                let assigned: Vec<TopicPartition> = (0..4)
                    .filter(|i| parts & (1 << i) != 0)
                    .map(|i| TopicPartition::new("t", i))
                    .collect();
                GroupResponse::SyncGroup(
                    SyncGroupResponse::default()
                        .with_error_code(c)
                        .with_assignment(encode_assignment(&assigned, None).unwrap()),
                )
            }
            GroupRequest::Heartbeat(_) => {
                GroupResponse::Heartbeat(HeartbeatResponse::default().with_error_code(c))
            }
            GroupRequest::LeaveGroup(_) => {
                GroupResponse::LeaveGroup(LeaveGroupResponse::default().with_error_code(c))
            }
            GroupRequest::OffsetFetch(f) => {
                let topics = f
                    .topics
                    .iter()
                    .flatten()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(i64::from(parts))
                                            .with_error_code(if parts % 3 == 0 { c } else { 0 })
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                GroupResponse::OffsetFetch(OffsetFetchResponse::default().with_topics(topics))
            }
            GroupRequest::Metadata(_) => GroupResponse::Metadata(
                MetadataResponse::default().with_topics(
                    ["t", "u"]
                        .into_iter()
                        .map(|name| {
                            MetadataResponseTopic::default()
                                .with_name(Some(name.into()))
                                .with_partitions(
                                    (0..4)
                                        .map(|p| {
                                            MetadataResponsePartition::default()
                                                .with_partition_index(p)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            ),
        };
        self.m.handle_response(t.id, response, self.now);
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                self.m.handle_timeout(self.now);
            }
            Step::Answer {
                pick,
                code,
                leader,
                parts,
            } => {
                if let Some(t) = self.take(pick) {
                    self.answer(&t, CODES[code % CODES.len()], leader, parts);
                }
            }
            Step::Fail { pick } => {
                if let Some(t) = self.take(pick) {
                    self.m.handle_error(t.id, self.now);
                }
            }
            Step::Poll => self.m.notify_poll(self.now),
            Step::Subscribe(both) => {
                let topics: &[&str] = if both { &["t", "u"] } else { &["t"] };
                self.m.subscribe(topics.iter().copied(), self.now);
            }
            Step::CommitError(code) => self
                .m
                .handle_commit_error(CODES[code % CODES.len()], self.now),
            Step::Disconnect => self.m.handle_coordinator_disconnect(self.now),
            Step::Fence { pick } => {
                if let Some(t) = self.take(pick) {
                    self.answer(&t, ErrorCode::FencedInstanceId, false, 0);
                }
            }
            Step::Close => self.m.close(),
        }
        self.settle();
    }

    /// The broker behaves from now on: answer everything with success and
    /// follow the timers until the member is stable (or has ended).
    fn heal(&mut self) {
        for _ in 0..200 {
            if matches!(self.m.state(), MemberState::Closed | MemberState::Failed) {
                return;
            }
            self.m.notify_poll(self.now);
            self.settle();
            if self.m.state() == MemberState::Stable && self.outstanding.is_empty() {
                return;
            }
            if let Some(t) = self.take(0) {
                self.answer(&t, ErrorCode::None, true, 0b0011);
            } else if let Some(at) = self.m.poll_timeout() {
                self.now = at;
                self.m.handle_timeout(self.now);
            }
            self.settle();
        }
        panic!("no stable assignment after healing: {:?}", self.m.state());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn membership_survives_any_sequence_and_recovers(
        cooperative in any::<bool>(),
        static_member in any::<bool>(),
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let mut w = World::new(cooperative, static_member);
        w.settle();
        for s in steps {
            w.apply(s);
        }
        w.heal();
    }
}
