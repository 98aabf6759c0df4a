//! Membership driven by scripted responses and a fake clock.

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
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupResponse, MetadataResponse, OffsetFetchResponse,
    SyncGroupResponse,
};
use klamm_protocol::{ErrorCode, StrBytes};

use super::*;
use crate::group::assignor::{Assignor, CooperativeStickyAssignor, RoundRobinAssignor};
use crate::group::consumer_protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use crate::group::event::CommittedOffset;
use crate::group::transmit::GroupResponse;

const SESSION: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(60);
const BACKOFF: Duration = Duration::from_millis(100);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn config(assignors: Vec<Arc<dyn Assignor>>) -> GroupConfig {
    GroupConfig::new("g")
        .with_session_timeout(SESSION)
        .with_heartbeat_interval(HEARTBEAT)
        .with_max_poll_interval(MAX_POLL)
        .with_retry_backoff(BACKOFF)
        .with_request_timeout(REQUEST_TIMEOUT)
        .with_assignors(assignors)
}

fn eager() -> GroupConfig {
    config(vec![Arc::new(RoundRobinAssignor)])
}

fn cooperative() -> GroupConfig {
    config(vec![Arc::new(CooperativeStickyAssignor)])
}

/// A member and its clock.
struct Test {
    m: Membership,
    now: Instant,
}

impl Test {
    fn new(config: GroupConfig) -> Self {
        let now = Instant::now();
        Self {
            m: Membership::new(config, ["t"], now).unwrap(),
            now,
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.m.handle_timeout(self.now);
    }

    fn request(&mut self) -> Transmit {
        self.m
            .poll_request(self.now)
            .unwrap_or_else(|| panic!("expected a request in {:?}", self.m.state()))
    }

    fn no_request(&mut self) {
        if let Some(t) = self.m.poll_request(self.now) {
            panic!("unexpected request {t:?}");
        }
    }

    fn respond(&mut self, t: &Transmit, r: GroupResponse) {
        self.m.handle_response(t.id, r, self.now);
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.m.poll_event()).collect()
    }

    /// Every state but the terminal ones and `Stalled` has a timer.
    fn assert_waits_for_something(&self) {
        match self.m.state() {
            MemberState::Stalled | MemberState::Closed | MemberState::Failed => {}
            s => assert!(self.m.poll_timeout().is_some(), "{s:?} has no timeout"),
        }
    }

    fn find(&mut self, node: i32) {
        let t = self.request();
        assert!(
            matches!(t.request, GroupRequest::FindCoordinator(_)),
            "{t:?}"
        );
        assert_eq!(t.destination, Destination::AnyBroker);
        self.respond(&t, find_ok(node));
        assert_eq!(self.m.coordinator().map(|c| c.node_id), Some(node));
    }

    fn join(&mut self) -> (Transmit, JoinGroupRequest) {
        let t = self.request();
        let GroupRequest::JoinGroup(j) = &t.request else {
            panic!("expected JoinGroup, got {t:?}")
        };
        let j = j.clone();
        (t, j)
    }

    /// Joins as a follower (with the MEMBER_ID_REQUIRED round) and syncs
    /// `partitions` in generation `generation`.
    fn join_as_follower(&mut self, partitions: &[TopicPartition], generation: i32) {
        self.find(1);
        let (t, j) = self.join();
        assert_eq!(j.member_id, StrBytes::from(""));
        self.respond(
            &t,
            GroupResponse::JoinGroup(
                join_err(ErrorCode::MemberIdRequired).with_member_id("m1".into()),
            ),
        );
        let (t, j) = self.join();
        assert_eq!(j.member_id, StrBytes::from("m1"));
        self.respond(&t, join_follower("m1", generation, "roundrobin"));
        self.sync(partitions);
    }

    fn sync(&mut self, partitions: &[TopicPartition]) {
        let t = self.request();
        let GroupRequest::SyncGroup(s) = &t.request else {
            panic!("expected SyncGroup, got {t:?}")
        };
        assert_eq!(s.member_id, StrBytes::from("m1"));
        self.respond(&t, sync_ok(partitions));
    }

    fn heartbeat(&mut self) -> (Transmit, HeartbeatRequest) {
        let t = self.request();
        let GroupRequest::Heartbeat(h) = &t.request else {
            panic!("expected Heartbeat, got {t:?}")
        };
        let h = h.clone();
        (t, h)
    }

    /// Answers the OffsetFetch that follows an assignment with no commits.
    fn fetch_offsets(&mut self) {
        let t = self.request();
        let GroupRequest::OffsetFetch(f) = &t.request else {
            panic!("expected OffsetFetch, got {t:?}")
        };
        let asked: Vec<(String, Vec<i32>)> = f
            .topics
            .iter()
            .flatten()
            .map(|t| (t.name.as_str().to_owned(), t.partition_indexes.clone()))
            .collect();
        let topics = asked
            .into_iter()
            .map(|(name, parts)| {
                OffsetFetchResponseTopic::default()
                    .with_name(name.into())
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                            })
                            .collect(),
                    )
            })
            .collect();
        self.respond(
            &t,
            GroupResponse::OffsetFetch(OffsetFetchResponse::default().with_topics(topics)),
        );
    }
}

fn find_ok(node: i32) -> GroupResponse {
    GroupResponse::FindCoordinator(
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(format!("broker{node}").into())
            .with_port(9092),
    )
}

fn join_err(code: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse::default().with_error_code(code.code())
}

fn join_follower(member: &str, generation: i32, protocol: &str) -> GroupResponse {
    GroupResponse::JoinGroup(
        JoinGroupResponse::default()
            .with_generation_id(generation)
            .with_protocol_name(Some(protocol.into()))
            .with_leader("someone-else".into())
            .with_member_id(member.into()),
    )
}

fn sync_ok(partitions: &[TopicPartition]) -> GroupResponse {
    GroupResponse::SyncGroup(
        SyncGroupResponse::default().with_assignment(encode_assignment(partitions, None).unwrap()),
    )
}

fn sync_err(code: ErrorCode) -> GroupResponse {
    GroupResponse::SyncGroup(SyncGroupResponse::default().with_error_code(code.code()))
}

fn hb(code: ErrorCode) -> GroupResponse {
    GroupResponse::Heartbeat(HeartbeatResponse::default().with_error_code(code.code()))
}

fn member(id: &str, owned: &[TopicPartition], generation: i32) -> JoinGroupResponseMember {
    let topics: Vec<Arc<str>> = vec!["t".into()];
    JoinGroupResponseMember::default()
        .with_member_id(id.into())
        .with_metadata(encode_subscription(&topics, owned, generation, None, None).unwrap())
}

fn metadata(partitions: i32) -> GroupResponse {
    GroupResponse::Metadata(MetadataResponse::default().with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some("t".into()))
                .with_partitions(
                    (0..partitions)
                        .map(|p| MetadataResponsePartition::default().with_partition_index(p))
                        .collect(),
                ),
        ]))
}

fn assigned(partitions: &[TopicPartition], generation_id: i32) -> GroupEvent {
    GroupEvent::Assigned {
        partitions: partitions.to_vec(),
        generation_id,
    }
}

#[test]
fn follower_joins_syncs_fetches_offsets_and_heartbeats_on_its_timer() {
    let mut t = Test::new(eager());
    assert_eq!(t.m.state(), MemberState::Unjoined);
    t.join_as_follower(&[tp(0), tp(1)], 5);
    assert_eq!(t.m.state(), MemberState::Stable);
    assert_eq!(t.events(), vec![assigned(&[tp(0), tp(1)], 5)]);
    assert_eq!(t.m.generation().map(|g| g.generation_id), Some(5));

    // Committed offsets of the new partitions are fetched at once.
    t.fetch_offsets();
    let offsets = t.events();
    assert_eq!(
        offsets,
        vec![GroupEvent::CommittedOffsets {
            offsets: vec![
                CommittedOffset {
                    partition: tp(0),
                    offset: None,
                    leader_epoch: None,
                    metadata: None
                },
                CommittedOffset {
                    partition: tp(1),
                    offset: None,
                    leader_epoch: None,
                    metadata: None
                },
            ],
            failed: vec![],
        }]
    );

    // Nothing more until the heartbeat interval.
    t.no_request();
    assert_eq!(t.m.poll_timeout(), Some(t.now + HEARTBEAT));
    t.advance(HEARTBEAT);
    let (req, h) = t.heartbeat();
    assert_eq!((h.generation_id, h.member_id.as_str()), (5, "m1"));
    assert!(matches!(&req.destination, Destination::Coordinator(c) if c.node_id == 1));
    t.no_request(); // one heartbeat at a time
    t.advance(Duration::from_millis(200));
    t.respond(&req, hb(ErrorCode::None));
    // The next one is due an interval after the previous was sent.
    assert_eq!(
        t.m.poll_timeout(),
        Some(t.now + HEARTBEAT - Duration::from_millis(200))
    );
    t.advance(HEARTBEAT);
    t.heartbeat();
    t.assert_waits_for_something();
}

#[test]
fn leader_runs_the_chosen_assignor_on_fetched_metadata() {
    let mut t = Test::new(config(vec![
        Arc::new(crate::group::RangeAssignor),
        Arc::new(RoundRobinAssignor),
    ]));
    t.find(1);
    let (req, j) = t.join();
    assert_eq!(
        j.protocols
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["range", "roundrobin"]
    );
    let sub = decode_subscription("x", None, j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.topics, vec![Arc::<str>::from("t")]);
    t.respond(
        &req,
        GroupResponse::JoinGroup(
            JoinGroupResponse::default()
                .with_generation_id(1)
                .with_protocol_name(Some("roundrobin".into()))
                .with_leader("m1".into())
                .with_member_id("m1".into())
                .with_members(vec![member("m1", &[], -1), member("m2", &[], -1)]),
        ),
    );
    assert_eq!(t.m.state(), MemberState::Leader);
    let meta = t.request();
    assert_eq!(meta.destination, Destination::AnyBroker);
    assert!(matches!(meta.request, GroupRequest::Metadata(_)));
    t.respond(&meta, metadata(4));
    let sync = t.request();
    let GroupRequest::SyncGroup(s) = &sync.request else {
        panic!("{sync:?}")
    };
    assert_eq!(s.protocol_name.as_deref(), Some("roundrobin"));
    let got: Vec<(String, Vec<TopicPartition>)> = s
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.as_str().to_owned(),
                decode_assignment(a.assignment.clone()).unwrap().0,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("m1".to_owned(), vec![tp(0), tp(2)]),
            ("m2".to_owned(), vec![tp(1), tp(3)])
        ]
    );
    t.respond(&sync, sync_ok(&[tp(0), tp(2)]));
    assert_eq!(t.events(), vec![assigned(&[tp(0), tp(2)], 1)]);
}

#[test]
fn leader_metadata_failure_is_retried_after_backoff() {
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(
        &req,
        GroupResponse::JoinGroup(
            JoinGroupResponse::default()
                .with_generation_id(1)
                .with_protocol_name(Some("roundrobin".into()))
                .with_leader("m1".into())
                .with_member_id("m1".into())
                .with_members(vec![member("m1", &[], -1)]),
        ),
    );
    let meta = t.request();
    t.m.handle_error(meta.id, t.now);
    t.no_request();
    t.assert_waits_for_something();
    t.advance(BACKOFF);
    assert!(matches!(t.request().request, GroupRequest::Metadata(_)));
}

#[test]
fn unknown_protocol_and_fatal_join_errors_stop_the_member() {
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 1, "range"));
    assert_eq!(t.m.state(), MemberState::Failed);
    assert_eq!(
        t.events(),
        vec![GroupEvent::Fatal(GroupFailure::UnknownProtocol(
            "range".into()
        ))]
    );
    t.no_request();

    for code in [
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::InconsistentGroupProtocol,
        ErrorCode::InvalidSessionTimeout,
    ] {
        let mut t = Test::new(eager());
        t.find(1);
        let (req, _) = t.join();
        t.respond(&req, GroupResponse::JoinGroup(join_err(code)));
        assert_eq!(t.m.state(), MemberState::Failed);
        assert_eq!(
            t.events(),
            vec![GroupEvent::Fatal(GroupFailure::Refused {
                api: "JoinGroup",
                code
            })]
        );
        assert_eq!(t.m.poll_timeout(), None);
    }
}

#[test]
fn coordinator_errors_on_join_rediscover_or_back_off() {
    for code in [
        ErrorCode::NotCoordinator,
        ErrorCode::CoordinatorNotAvailable,
    ] {
        let mut t = Test::new(eager());
        t.find(1);
        let (req, _) = t.join();
        t.respond(&req, GroupResponse::JoinGroup(join_err(code)));
        assert!(t.m.coordinator().is_none());
        t.find(2);
        let (req, _) = t.join();
        assert!(matches!(&req.destination, Destination::Coordinator(c) if c.node_id == 2));
    }
    for code in [
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::RebalanceInProgress,
    ] {
        let mut t = Test::new(eager());
        t.find(1);
        let (req, _) = t.join();
        t.respond(&req, GroupResponse::JoinGroup(join_err(code)));
        assert_eq!(t.m.coordinator().map(|c| c.node_id), Some(1));
        t.no_request();
        assert_eq!(t.m.poll_timeout(), Some(t.now + BACKOFF));
        t.advance(BACKOFF);
        t.join();
    }
}

#[test]
fn find_coordinator_errors_and_failures_back_off() {
    let mut t = Test::new(eager());
    let req = t.request();
    t.respond(
        &req,
        GroupResponse::FindCoordinator(
            FindCoordinatorResponse::default()
                .with_error_code(ErrorCode::CoordinatorNotAvailable.code()),
        ),
    );
    t.no_request();
    assert_eq!(t.m.poll_timeout(), Some(t.now + BACKOFF));
    t.advance(BACKOFF);
    let req = t.request();
    t.m.handle_error(req.id, t.now);
    t.no_request();
    t.advance(BACKOFF);
    t.find(3);
}

#[test]
fn find_coordinator_v4_answer_is_read_from_the_coordinators_list() {
    use klamm_protocol::generated::find_coordinator::response::Coordinator as Entry;
    let mut t = Test::new(eager());
    let req = t.request();
    t.respond(
        &req,
        GroupResponse::FindCoordinator(FindCoordinatorResponse::default().with_coordinators(vec![
                Entry::default()
                    .with_key("g".into())
                    .with_node_id(7)
                    .with_host("h".into())
                    .with_port(1234),
            ])),
    );
    assert_eq!(
        t.m.coordinator(),
        Some(&Coordinator {
            node_id: 7,
            host: "h".into(),
            port: 1234
        })
    );
}

#[test]
fn heartbeat_rebalance_in_progress_revokes_everything_then_rejoins_when_eager() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0), tp(1)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    t.advance(HEARTBEAT);
    let (req, _) = t.heartbeat();
    t.respond(&req, hb(ErrorCode::RebalanceInProgress));
    assert_eq!(
        t.events(),
        vec![GroupEvent::Revoked {
            partitions: vec![tp(0), tp(1)],
            reason: RevokeReason::Rebalance
        }]
    );
    assert!(t.m.assignment().is_empty());
    let (_, j) = t.join();
    assert_eq!(j.member_id.as_str(), "m1");
    let sub = decode_subscription("m1", None, j.protocols[0].metadata.clone()).unwrap();
    assert!(sub.owned_partitions.is_empty());
}

#[test]
fn a_held_join_waits_for_the_revocation_gate_and_keeps_heartbeating() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0), tp(1)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    t.advance(HEARTBEAT);
    let (req, _) = t.heartbeat();
    t.respond(&req, hb(ErrorCode::RebalanceInProgress));
    assert!(matches!(t.events()[..], [GroupEvent::Revoked { .. }]));
    // The application's revocation callback runs now: no JoinGroup.
    t.m.hold_join(true);
    assert!(t.m.join_held());
    t.no_request();
    let wake = t.m.poll_timeout();
    assert!(
        wake.is_none_or(|w| w > t.now),
        "a held join must not wake at once: {wake:?}"
    );
    // The callback outlasts several heartbeat intervals (and the session):
    // heartbeats with the last generation keep the member alive, and the
    // coordinator's REBALANCE_IN_PROGRESS neither releases the join nor
    // loses anything.
    for _ in 0..(SESSION.as_secs() / HEARTBEAT.as_secs() + 2) {
        t.advance(HEARTBEAT);
        let (req, h) = t.heartbeat();
        assert_eq!(h.generation_id, 5);
        assert_eq!(h.member_id.as_str(), "m1");
        t.respond(&req, hb(ErrorCode::RebalanceInProgress));
        t.no_request();
        assert!(t.events().is_empty());
        assert_eq!(t.m.state(), MemberState::Unjoined);
    }
    // Released: the JoinGroup goes out.
    t.m.hold_join(false);
    let (_, j) = t.join();
    assert_eq!(j.member_id.as_str(), "m1");
}

#[test]
fn heartbeat_unknown_member_loses_partitions_and_resets_the_member_id() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    t.advance(HEARTBEAT);
    let (req, _) = t.heartbeat();
    t.respond(&req, hb(ErrorCode::UnknownMemberId));
    assert_eq!(
        t.events(),
        vec![GroupEvent::Lost {
            partitions: vec![tp(0)],
            reason: LostReason::UnknownMemberId
        }]
    );
    assert_eq!(t.m.generation(), None);
    let (_, j) = t.join();
    assert_eq!(j.member_id.as_str(), "");
}

#[test]
fn heartbeat_illegal_generation_loses_partitions_but_keeps_the_member_id() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    t.advance(HEARTBEAT);
    let (req, _) = t.heartbeat();
    t.respond(&req, hb(ErrorCode::IllegalGeneration));
    assert_eq!(
        t.events(),
        vec![GroupEvent::Lost {
            partitions: vec![tp(0)],
            reason: LostReason::IllegalGeneration
        }]
    );
    let (_, j) = t.join();
    assert_eq!(j.member_id.as_str(), "m1");
}

#[test]
fn fenced_static_member_loses_partitions_and_stops() {
    let mut t = Test::new(eager().with_group_instance_id(Some("instance-1".into())));
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    t.advance(HEARTBEAT);
    let (req, h) = t.heartbeat();
    assert_eq!(h.group_instance_id.as_deref(), Some("instance-1"));
    t.respond(&req, hb(ErrorCode::FencedInstanceId));
    assert_eq!(
        t.events(),
        vec![
            GroupEvent::Lost {
                partitions: vec![tp(0)],
                reason: LostReason::Fenced
            },
            GroupEvent::Fatal(GroupFailure::Refused {
                api: "Heartbeat",
                code: ErrorCode::FencedInstanceId
            }),
        ]
    );
    assert_eq!(t.m.state(), MemberState::Failed);
    t.advance(SESSION);
    t.no_request();
}

#[test]
fn heartbeat_not_coordinator_keeps_the_assignment_and_heartbeats_the_new_coordinator() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    t.advance(HEARTBEAT);
    let (req, _) = t.heartbeat();
    t.respond(&req, hb(ErrorCode::NotCoordinator));
    assert_eq!(t.m.state(), MemberState::Stable);
    assert!(t.events().is_empty());
    t.find(2);
    let (req, h) = t.heartbeat();
    assert!(matches!(&req.destination, Destination::Coordinator(c) if c.node_id == 2));
    assert_eq!(h.generation_id, 5);
    t.respond(&req, hb(ErrorCode::None));
    assert_eq!(t.m.assignment().len(), 1);
}

#[test]
fn sync_errors_rejoin_as_each_requires() {
    // REBALANCE_IN_PROGRESS: rejoin at once with the same id.
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 2, "roundrobin"));
    let s = t.request();
    t.respond(&s, sync_err(ErrorCode::RebalanceInProgress));
    assert_eq!(t.join().1.member_id.as_str(), "m1");

    // UNKNOWN_MEMBER_ID: rejoin without an id.
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 2, "roundrobin"));
    let s = t.request();
    t.respond(&s, sync_err(ErrorCode::UnknownMemberId));
    assert_eq!(t.join().1.member_id.as_str(), "");

    // ILLEGAL_GENERATION: rejoin keeping the id.
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 2, "roundrobin"));
    let s = t.request();
    t.respond(&s, sync_err(ErrorCode::IllegalGeneration));
    assert_eq!(t.join().1.member_id.as_str(), "m1");

    // NOT_COORDINATOR: find the coordinator, then rejoin.
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 2, "roundrobin"));
    let s = t.request();
    t.respond(&s, sync_err(ErrorCode::NotCoordinator));
    t.find(2);
    t.join();
}

#[test]
fn coordinator_move_mid_rebalance_rejoins_at_the_new_coordinator_and_ignores_late_answers() {
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 2, "roundrobin"));
    let sync = t.request();
    assert!(matches!(sync.request, GroupRequest::SyncGroup(_)));
    // The coordinator's connection drops with SyncGroup in flight.
    t.m.handle_error(sync.id, t.now);
    assert_eq!(t.m.state(), MemberState::Unjoined);
    t.find(2);
    let (join2, j) = t.join();
    assert_eq!(j.member_id.as_str(), "m1");
    assert!(matches!(&join2.destination, Destination::Coordinator(c) if c.node_id == 2));
    // The old coordinator's answer arrives late: ignored.
    t.respond(&sync, sync_ok(&[tp(9)]));
    assert!(t.events().is_empty());
    assert_eq!(t.m.state(), MemberState::Joining);
    t.respond(&join2, join_follower("m1", 3, "roundrobin"));
    t.sync(&[tp(0)]);
    assert_eq!(t.events(), vec![assigned(&[tp(0)], 3)]);
}

#[test]
fn join_that_never_answers_times_out_into_rediscovery() {
    let mut t = Test::new(eager());
    t.find(1);
    let (_req, _) = t.join();
    // JoinGroup may take the whole rebalance timeout (= max poll interval here).
    t.advance(MAX_POLL - Duration::from_secs(1));
    t.m.notify_poll(t.now);
    assert_eq!(t.m.coordinator().map(|c| c.node_id), Some(1));
    assert_eq!(t.m.state(), MemberState::Joining);
    t.advance(Duration::from_secs(6));
    assert!(t.m.coordinator().is_none());
    assert_eq!(t.m.state(), MemberState::Unjoined);
    t.find(1);
    t.join();
}

#[test]
fn session_timeout_without_heartbeat_answers_loses_the_partitions() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    let joined_at = t.now;
    t.advance(HEARTBEAT);
    let _hb = t.heartbeat(); // never answered
    // Its deadline passes: the coordinator is presumed gone.
    t.advance(REQUEST_TIMEOUT);
    assert!(t.m.coordinator().is_none());
    assert_eq!(t.m.state(), MemberState::Stable);
    let _find = t.request(); // never answered either
    t.assert_waits_for_something();
    t.advance(joined_at + SESSION - t.now);
    assert_eq!(
        t.events(),
        vec![GroupEvent::Lost {
            partitions: vec![tp(0)],
            reason: LostReason::SessionTimeout
        }]
    );
    assert_eq!(t.m.state(), MemberState::Unjoined);
    assert_eq!(t.m.generation(), None);
}

#[test]
fn poll_interval_exceeded_is_reported_leaves_and_rejoins_on_next_poll() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.fetch_offsets();
    t.events();
    // Keep heartbeating while the application stalls.
    let start = t.now;
    while t.now + HEARTBEAT < start + MAX_POLL {
        t.advance(HEARTBEAT);
        let (req, _) = t.heartbeat();
        t.respond(&req, hb(ErrorCode::None));
    }
    assert!(t.events().is_empty());
    t.advance(start + MAX_POLL - t.now);
    assert_eq!(
        t.events(),
        vec![
            GroupEvent::PollIntervalExceeded {
                since_last_poll: MAX_POLL
            },
            GroupEvent::Lost {
                partitions: vec![tp(0)],
                reason: LostReason::PollIntervalExceeded
            },
        ]
    );
    assert_eq!(t.m.state(), MemberState::Stalled);
    let leave = t.request();
    let GroupRequest::LeaveGroup(l) = &leave.request else {
        panic!("{leave:?}")
    };
    assert_eq!(l.members[0].member_id.as_str(), "m1");
    t.respond(
        &leave,
        GroupResponse::LeaveGroup(LeaveGroupResponse::default()),
    );
    t.advance(SESSION);
    t.no_request();
    assert_eq!(
        t.m.poll_timeout(),
        None,
        "stalled waits for the application only"
    );
    t.m.notify_poll(t.now);
    let (_, j) = t.join();
    assert_eq!(j.member_id.as_str(), "");
}

#[test]
fn static_member_stalling_does_not_send_leave_group() {
    let mut t = Test::new(eager().with_group_instance_id(Some("i".into())));
    t.join_as_follower(&[tp(0)], 5);
    t.fetch_offsets();
    t.events();
    t.m.notify_poll(t.now);
    let deadline = t.now + MAX_POLL;
    // Heartbeat answers keep coming; only the poll clock expires.
    while t.now + HEARTBEAT < deadline {
        t.advance(HEARTBEAT);
        let (req, _) = t.heartbeat();
        t.respond(&req, hb(ErrorCode::None));
    }
    t.advance(deadline - t.now);
    assert!(matches!(
        t.events()[0],
        GroupEvent::PollIntervalExceeded { .. }
    ));
    t.no_request();
    t.m.notify_poll(t.now);
    let (_, j) = t.join();
    assert_eq!(j.member_id.as_str(), "m1");
    assert_eq!(j.group_instance_id.as_deref(), Some("i"));
}

#[test]
fn cooperative_member_keeps_partitions_through_the_rebalance_and_revokes_only_moved_ones() {
    let mut t = Test::new(cooperative());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 1, "cooperative-sticky"));
    t.sync(&[tp(0), tp(1), tp(2), tp(3)]);
    t.fetch_offsets();
    t.events();

    t.advance(HEARTBEAT);
    let (req, _) = t.heartbeat();
    t.respond(&req, hb(ErrorCode::RebalanceInProgress));
    assert!(t.events().is_empty(), "nothing is revoked up front");
    assert_eq!(t.m.assignment().len(), 4);
    let (req, j) = t.join();
    let sub = decode_subscription("m1", None, j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.owned_partitions, vec![tp(0), tp(1), tp(2), tp(3)]);
    assert_eq!(sub.generation_id, 1);

    // Phase one: the leader withheld 2 and 3 for another member.
    t.respond(&req, join_follower("m1", 2, "cooperative-sticky"));
    t.sync(&[tp(0), tp(1)]);
    assert_eq!(
        t.events(),
        vec![
            GroupEvent::Revoked {
                partitions: vec![tp(2), tp(3)],
                reason: RevokeReason::Reassigned
            },
            assigned(&[], 2),
        ]
    );
    // Phase two starts at once, still owning 0 and 1.
    let (req, j) = t.join();
    let sub = decode_subscription("m1", None, j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.owned_partitions, vec![tp(0), tp(1)]);
    t.respond(&req, join_follower("m1", 3, "cooperative-sticky"));
    t.sync(&[tp(0), tp(1)]);
    assert_eq!(t.events(), vec![assigned(&[], 3)]);
    assert_eq!(t.m.state(), MemberState::Stable);
}

#[test]
fn cooperative_leader_withholds_partitions_that_change_owner() {
    let mut t = Test::new(cooperative());
    t.find(1);
    let (req, _) = t.join();
    let owned = [tp(0), tp(1), tp(2), tp(3)];
    t.respond(
        &req,
        GroupResponse::JoinGroup(
            JoinGroupResponse::default()
                .with_generation_id(2)
                .with_protocol_name(Some("cooperative-sticky".into()))
                .with_leader("m1".into())
                .with_member_id("m1".into())
                .with_members(vec![member("m1", &owned, 1), member("m2", &[], -1)]),
        ),
    );
    let meta = t.request();
    t.respond(&meta, metadata(4));
    let sync = t.request();
    let GroupRequest::SyncGroup(s) = &sync.request else {
        panic!("{sync:?}")
    };
    let got: Vec<(String, Vec<TopicPartition>)> = s
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.as_str().to_owned(),
                decode_assignment(a.assignment.clone()).unwrap().0,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("m1".to_owned(), vec![tp(0), tp(1)]),
            ("m2".to_owned(), vec![])
        ]
    );
}

#[test]
fn subscription_change_with_cooperative_revokes_unsubscribed_topics_and_rejoins() {
    let mut t = Test::new(cooperative());
    t.find(1);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 1, "cooperative-sticky"));
    t.sync(&[tp(0), TopicPartition::new("u", 0)]);
    t.events();
    t.m.subscribe(["u"], t.now);
    assert_eq!(
        t.events(),
        vec![GroupEvent::Revoked {
            partitions: vec![tp(0)],
            reason: RevokeReason::Unsubscribed
        }]
    );
    let (_, j) = t.join();
    let sub = decode_subscription("m1", None, j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.topics, vec![Arc::<str>::from("u")]);
    assert_eq!(sub.owned_partitions, vec![TopicPartition::new("u", 0)]);
}

#[test]
fn close_revokes_then_dynamic_member_leaves() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.m.close();
    assert_eq!(
        t.events(),
        vec![GroupEvent::Revoked {
            partitions: vec![tp(0)],
            reason: RevokeReason::Leaving
        }]
    );
    assert_eq!(t.m.state(), MemberState::Leaving);
    let leave = t.request();
    assert!(matches!(leave.request, GroupRequest::LeaveGroup(_)));
    t.no_request();
    t.respond(
        &leave,
        GroupResponse::LeaveGroup(LeaveGroupResponse::default()),
    );
    assert_eq!(t.events(), vec![GroupEvent::Closed]);
    assert_eq!(t.m.state(), MemberState::Closed);

    // A LeaveGroup that never returns is bounded by the request timeout.
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.m.close();
    let _leave = t.request();
    t.advance(REQUEST_TIMEOUT);
    assert_eq!(t.m.state(), MemberState::Closed);
}

#[test]
fn close_of_a_static_member_sends_no_leave_group() {
    let mut t = Test::new(eager().with_group_instance_id(Some("i".into())));
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.m.close();
    assert_eq!(
        t.events(),
        vec![
            GroupEvent::Revoked {
                partitions: vec![tp(0)],
                reason: RevokeReason::Leaving
            },
            GroupEvent::Closed
        ]
    );
    t.no_request();
}

#[test]
fn offset_fetch_retries_unstable_partitions_and_follows_the_coordinator() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0), tp(1)], 5);
    t.events();
    let f = t.request();
    assert!(matches!(f.request, GroupRequest::OffsetFetch(_)));
    let part = |p: i32, off: i64, code: ErrorCode| {
        OffsetFetchResponsePartition::default()
            .with_partition_index(p)
            .with_committed_offset(off)
            .with_committed_leader_epoch(4)
            .with_error_code(code.code())
    };
    t.respond(
        &f,
        GroupResponse::OffsetFetch(OffsetFetchResponse::default().with_topics(vec![
                OffsetFetchResponseTopic::default()
                    .with_name("t".into())
                    .with_partitions(vec![
                        part(0, 42, ErrorCode::None),
                        part(1, -1, ErrorCode::UnstableOffsetCommit),
                    ]),
            ])),
    );
    assert_eq!(
        t.events(),
        vec![GroupEvent::CommittedOffsets {
            offsets: vec![CommittedOffset {
                partition: tp(0),
                offset: Some(42),
                leader_epoch: Some(4),
                metadata: None
            }],
            failed: vec![],
        }]
    );
    t.no_request();
    t.m.notify_poll(t.now);
    t.advance(BACKOFF);
    let f = t.request();
    let GroupRequest::OffsetFetch(req) = &f.request else {
        panic!("{f:?}")
    };
    assert_eq!(req.topics.as_ref().unwrap()[0].partition_indexes, vec![1]);
    // The coordinator moved: find it again and ask again.
    t.respond(
        &f,
        GroupResponse::OffsetFetch(
            OffsetFetchResponse::default().with_error_code(ErrorCode::NotCoordinator.code()),
        ),
    );
    t.find(2);
    let mut saw_fetch = false;
    while let Some(next) = t.m.poll_request(t.now) {
        saw_fetch |= matches!(next.request, GroupRequest::OffsetFetch(_));
    }
    assert!(saw_fetch);
}

#[test]
fn commit_errors_feed_back_into_membership() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.m.handle_commit_error(ErrorCode::RebalanceInProgress, t.now);
    assert_eq!(
        t.events(),
        vec![GroupEvent::Revoked {
            partitions: vec![tp(0)],
            reason: RevokeReason::Rebalance
        }]
    );
    assert_eq!(t.m.state(), MemberState::Unjoined);
}

#[test]
fn responses_to_unknown_or_stale_requests_change_nothing() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    t.m.handle_response(RequestId(999), hb(ErrorCode::UnknownMemberId), t.now);
    t.m.handle_error(RequestId(999), t.now);
    assert_eq!(t.m.state(), MemberState::Stable);
    assert!(t.events().is_empty());
}

#[test]
fn bad_config_is_rejected() {
    let bad = eager().with_heartbeat_interval(SESSION);
    assert!(Membership::new(bad, ["t"], Instant::now()).is_err());
}

#[test]
fn leader_rejoins_when_a_watched_topic_gains_partitions() {
    let mut t = Test::new(eager());
    t.find(1);
    let (req, _) = t.join();
    t.respond(
        &req,
        GroupResponse::JoinGroup(
            JoinGroupResponse::default()
                .with_generation_id(1)
                .with_protocol_name(Some("roundrobin".into()))
                .with_leader("m1".into())
                .with_member_id("m1".into())
                .with_members(vec![member("m1", &[], -1)]),
        ),
    );
    let meta = t.request();
    t.respond(&meta, metadata(4));
    let sync = t.request();
    t.respond(&sync, sync_ok(&[tp(0), tp(1), tp(2), tp(3)]));
    t.events();
    let watched: Vec<&str> =
        t.m.leader_watch_topics()
            .unwrap()
            .iter()
            .map(|s| &**s)
            .collect();
    assert_eq!(watched, ["t"]);
    let counts = |n: i32| -> crate::group::PartitionCounts { [(Arc::from("t"), n)].into() };
    assert!(!t.m.check_partition_counts(&counts(4), t.now));
    assert!(
        !t.m.check_partition_counts(&Default::default(), t.now),
        "unknown topics are not compared"
    );
    assert_eq!(t.m.state(), MemberState::Stable);
    assert!(t.m.check_partition_counts(&counts(6), t.now));
    assert!(matches!(
        t.events()[0],
        GroupEvent::Revoked {
            reason: RevokeReason::Rebalance,
            ..
        }
    ));
    t.join();
}

#[test]
fn followers_do_not_watch_partition_counts() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    assert!(t.m.leader_watch_topics().is_none());
    let counts: crate::group::PartitionCounts = [(Arc::from("t"), 9)].into();
    assert!(!t.m.check_partition_counts(&counts, t.now));
    assert_eq!(t.m.state(), MemberState::Stable);
}

#[test]
fn offset_fetch_answer_from_before_a_revocation_is_not_reported() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.events();
    let old_fetch = t.request();
    assert!(matches!(old_fetch.request, GroupRequest::OffsetFetch(_)));
    // A rebalance revokes t-0 (the app commits offset 10 now) and gives it back.
    t.m.handle_commit_error(ErrorCode::RebalanceInProgress, t.now);
    let (req, _) = t.join();
    t.respond(&req, join_follower("m1", 6, "roundrobin"));
    t.sync(&[tp(0)]);
    t.events();
    // The fetch sent before the commit answers with the old offset: dropped.
    t.respond(
        &old_fetch,
        GroupResponse::OffsetFetch(OffsetFetchResponse::default().with_topics(vec![
                OffsetFetchResponseTopic::default()
                    .with_name("t".into())
                    .with_partitions(vec![
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(3),
                    ]),
            ])),
    );
    assert!(t.events().is_empty());
    // The new generation's own fetch follows.
    let f = t.request();
    assert!(matches!(f.request, GroupRequest::OffsetFetch(_)));
}

#[test]
fn closing_a_stalled_member_still_sends_its_leave_group() {
    let mut t = Test::new(eager());
    t.join_as_follower(&[tp(0)], 5);
    t.fetch_offsets();
    t.events();
    let start = t.now;
    while t.now + HEARTBEAT < start + MAX_POLL {
        t.advance(HEARTBEAT);
        let (req, _) = t.heartbeat();
        t.respond(&req, hb(ErrorCode::None));
    }
    t.advance(start + MAX_POLL - t.now);
    assert_eq!(t.m.state(), MemberState::Stalled);
    t.m.close();
    assert_eq!(t.m.state(), MemberState::Leaving);
    let leave = t.request();
    let GroupRequest::LeaveGroup(l) = &leave.request else {
        panic!("{leave:?}")
    };
    assert_eq!(l.members[0].member_id.as_str(), "m1");
    t.respond(
        &leave,
        GroupResponse::LeaveGroup(LeaveGroupResponse::default()),
    );
    assert_eq!(t.m.state(), MemberState::Closed);
}
