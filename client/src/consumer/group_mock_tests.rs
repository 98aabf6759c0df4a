//! The consumer in group mode against the mock cluster's one-member
//! coordinator ([`super::mock_group`]): pattern subscriptions following the
//! topic list, the auto-commit timer, rebalance callbacks and the
//! revocation gate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::mock_group::{MockGroup, MockLog, Step, wait_for};
use super::{Consumer, RebalanceFuture, RebalanceListener};
use crate::error::Error;
use crate::group::{GroupEvent, LostReason, RevokeReason, TopicPartition};
use crate::mock::MockCluster;
use klamm_protocol::{ApiKey, ErrorCode};

/// A cluster with a group coordinator and a log, and a consumer of group
/// `g` on it with `extra` properties.
async fn setup(extra: &[(&str, &str)]) -> (MockCluster, MockGroup, MockLog, Consumer) {
    let cluster = MockCluster::start(2).await.unwrap();
    let group = MockGroup::default();
    group.install(&cluster);
    let log = MockLog::default();
    log.install(&cluster);
    let bootstrap = cluster.bootstrap();
    let mut pairs: Vec<(String, String)> = [
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", "g"),
        ("fetch.max.wait.ms", "10"),
        ("retry.backoff.ms", "20"),
        ("auto.offset.reset", "earliest"),
        ("heartbeat.interval.ms", "50"),
        ("session.timeout.ms", "6000"),
        ("request.timeout.ms", "5000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push(((*k).to_owned(), (*v).to_owned()));
    }
    let consumer = Consumer::from_pairs(pairs).await.unwrap();
    (cluster, group, log, consumer)
}

/// Receives until a message of `topic` arrives (ten seconds at most).
async fn recv_from(c: &mut Consumer, topic: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, c.recv())
            .await
            .unwrap_or_else(|_| panic!("no message of {topic}"))
            .expect("recv");
        if m.topic() == topic {
            return String::from_utf8_lossy(m.value().expect("a value")).into_owned();
        }
    }
}

#[tokio::test]
async fn a_pattern_subscription_follows_created_and_deleted_topics() {
    let (cluster, group, log, mut c) = setup(&[("metadata.max.age.ms", "200")]).await;
    cluster.create_topic("orders-a", 2);
    cluster.create_topic("payments", 1);
    // Internal by name: never selected even though the expression matches.
    cluster.create_topic("__orders-internal", 1);
    log.append("orders-a", 1, 3);
    c.subscribe_pattern(".*orders-.*").await.unwrap();
    assert_eq!(recv_from(&mut c, "orders-a").await, "orders-a-1-0");
    assert_eq!(group.last_join(), Some(vec!["orders-a".to_owned()]));
    let mut assigned = c.assignment();
    assigned.sort();
    assert_eq!(
        assigned,
        [
            TopicPartition::new("orders-a", 0),
            TopicPartition::new("orders-a", 1)
        ]
    );

    // Created after subscribing: picked up by a periodic refresh.
    cluster.create_topic("orders-b", 1);
    log.append("orders-b", 0, 2);
    assert_eq!(recv_from(&mut c, "orders-b").await, "orders-b-0-0");
    assert_eq!(
        group.last_join(),
        Some(vec!["orders-a".to_owned(), "orders-b".to_owned()])
    );

    // Deleted: dropped from the subscription and the assignment.
    cluster.delete_topic("orders-a");
    wait_for("orders-a to leave the subscription", || {
        group.last_join() == Some(vec!["orders-b".to_owned()])
    })
    .await;
    wait_for("orders-a to leave the assignment", || {
        c.assignment() == [TopicPartition::new("orders-b", 0)]
    })
    .await;
    // The rebalance may hand out orders-b's first message again (the
    // position commits per chunk: at-least-once); new data still arrives.
    log.append("orders-b", 0, 1);
    while recv_from(&mut c, "orders-b").await != "orders-b-0-1" {}
    for join in group.steps() {
        if let Step::Join(topics) = join {
            assert!(
                !topics
                    .iter()
                    .any(|t| t.starts_with("__") || t == "payments"),
                "{topics:?}"
            );
        }
    }
}

#[tokio::test]
async fn switching_from_a_pattern_to_a_list_stops_following_the_pattern() {
    let (cluster, group, log, mut c) = setup(&[("metadata.max.age.ms", "100")]).await;
    cluster.create_topic("a1", 1);
    cluster.create_topic("b", 1);
    log.append("a1", 0, 1);
    log.append("b", 0, 1);
    c.subscribe_pattern("a[0-9]").await.unwrap();
    assert_eq!(recv_from(&mut c, "a1").await, "a1-0-0");
    c.subscribe(["b"]).await.unwrap();
    assert_eq!(recv_from(&mut c, "b").await, "b-0-0");
    cluster.create_topic("a2", 1);
    // Several refreshes later the list subscription still stands.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(group.last_join(), Some(vec!["b".to_owned()]));
    assert_eq!(c.assignment(), [TopicPartition::new("b", 0)]);
}

#[tokio::test]
async fn an_invalid_pattern_is_refused_before_joining() {
    let (_cluster, group, _log, mut c) = setup(&[]).await;
    let err = c.subscribe_pattern("orders-[").await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("orders-["), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(group.joins(), 0);
    assert!(c.poll_rebalance_event().is_none());
}

#[tokio::test]
async fn an_eager_rebalance_commits_what_was_handed_out_before_rejoining() {
    let (cluster, group, log, mut c) = setup(&[
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "600000"),
        ("partition.assignment.strategy", "range"),
    ])
    .await;
    cluster.create_topic("t", 1);
    log.append("t", 0, 4);
    c.subscribe(["t"]).await.unwrap();
    // Drain the whole chunk, so the position is 4.
    let mut offsets = Vec::new();
    while offsets.len() < 4 {
        let m = tokio::time::timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("no stall")
            .unwrap();
        offsets.push(m.offset());
    }
    assert_eq!(offsets, [0, 1, 2, 3]);
    let _ = tokio::time::timeout(Duration::from_millis(100), c.recv()).await;
    assert_eq!(group.committed("t", 0), None);
    group.start_rebalance();
    wait_for("the second join", || group.joins() == 2).await;
    let steps = group.steps();
    let commit = steps
        .iter()
        .position(|s| matches!(s, Step::Commit(_)))
        .expect("a commit on revoke");
    let second_join = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Join(_)))
        .nth(1)
        .map(|(i, _)| i)
        .unwrap();
    assert!(commit < second_join, "{steps:?}");
    assert_eq!(group.committed("t", 0), Some(4));
}

#[tokio::test]
async fn auto_commit_runs_on_its_timer_and_covers_only_handed_out_messages() {
    let (cluster, group, log, mut c) = setup(&[
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "100"),
    ])
    .await;
    cluster.create_topic("t", 1);
    log.append("t", 0, 4);
    c.subscribe(["t"]).await.unwrap();
    wait_for("the assignment", || !c.assignment().is_empty()).await;
    // Nothing handed out yet: at most the start position (0, as Java's
    // consumer commits resolved positions) is committed, once.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        matches!(group.committed("t", 0), None | Some(0)),
        "{:?}",
        group.steps()
    );
    let commits = |g: &MockGroup| {
        g.steps()
            .iter()
            .filter(|s| matches!(s, Step::Commit(_)))
            .count()
    };
    let before = commits(&group);
    assert!(before <= 1, "{:?}", group.steps());

    // Two of the chunk's four messages handed out, then the application
    // stops calling recv: the timer still commits exactly those two.
    for want in [0, 1] {
        let m = tokio::time::timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("no stall")
            .unwrap();
        assert_eq!(m.offset(), want);
    }
    wait_for("the timer's commit", || group.committed("t", 0) == Some(2)).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        group.committed("t", 0),
        Some(2),
        "never past what was handed"
    );
    assert_eq!(
        commits(&group),
        before + 1,
        "unchanged offsets are not committed again"
    );

    for want in [2, 3] {
        let m = c.recv().await.unwrap();
        assert_eq!(m.offset(), want);
    }
    wait_for("the second commit", || group.committed("t", 0) == Some(4)).await;
    assert_eq!(commits(&group), before + 2);
}

/// A listener that records each callback (name, start, end, partitions);
/// on revocation it commits through the consumer (unless auto-commit does)
/// and then holds the revocation for `hold`; on assignment it seeks to
/// `seek_to` when set.
#[derive(Clone, Default)]
struct Recorder {
    log: Arc<Mutex<Vec<Callback>>>,
    hold: Duration,
    commit_on_revoke: bool,
    seek_to: Option<i64>,
}

#[derive(Debug, Clone)]
struct Callback {
    name: &'static str,
    start: Instant,
    end: Instant,
    partitions: Vec<TopicPartition>,
}

impl Recorder {
    fn calls(&self) -> Vec<Callback> {
        self.log.lock().unwrap().clone()
    }

    fn record(&self, name: &'static str, start: Instant, partitions: &[TopicPartition]) {
        self.log.lock().unwrap().push(Callback {
            name,
            start,
            end: Instant::now(),
            partitions: partitions.to_vec(),
        });
    }
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> RebalanceFuture<'a> {
        Box::pin(async move {
            let start = Instant::now();
            // Still assigned while the callback runs.
            for tp in partitions {
                assert!(consumer.assignment().contains(tp), "{tp} already gone");
            }
            if self.commit_on_revoke {
                consumer.commit().await.expect("commit in the callback");
            }
            tokio::time::sleep(self.hold).await;
            self.record("revoked", start, partitions);
        })
    }

    fn on_partitions_assigned<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> RebalanceFuture<'a> {
        Box::pin(async move {
            let start = Instant::now();
            if let Some(offset) = self.seek_to {
                for tp in partitions {
                    consumer.seek(tp, offset).expect("seek in the callback");
                }
            }
            self.record("assigned", start, partitions);
        })
    }
}

/// Receives (running callbacks) until `cond` holds; each receive call may
/// take a second, longer than any callback here holds.
async fn drive_until(c: &mut Consumer, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        let _ = tokio::time::timeout(Duration::from_secs(1), c.recv()).await;
    }
}

async fn recv_offset(c: &mut Consumer) -> i64 {
    tokio::time::timeout(Duration::from_secs(10), c.recv())
        .await
        .expect("no stall")
        .expect("recv")
        .offset()
}

#[tokio::test]
async fn no_join_group_goes_out_while_the_revocation_callback_runs() {
    let (cluster, group, log, mut c) = setup(&[
        ("enable.auto.commit", "false"),
        ("partition.assignment.strategy", "range"),
    ])
    .await;
    cluster.create_topic("t", 1);
    // Two messages only: nothing more is handed out while driving.
    log.append("t", 0, 2);
    let recorder = Recorder {
        hold: Duration::from_millis(700),
        commit_on_revoke: true,
        ..Recorder::default()
    };
    c.set_rebalance_listener(recorder.clone());
    c.subscribe(["t"]).await.unwrap();
    assert_eq!(recv_offset(&mut c).await, 0);
    assert_eq!(recv_offset(&mut c).await, 1);
    group.start_rebalance();
    drive_until(&mut c, "the rejoin", || group.joins() == 2).await;

    let calls = recorder.calls();
    let revoked = calls
        .iter()
        .find(|c| c.name == "revoked")
        .expect("the revocation callback ran");
    assert_eq!(revoked.partitions, [TopicPartition::new("t", 0)]);
    let steps = group.timed_steps();
    let rejoin = steps
        .iter()
        .filter(|(_, s)| matches!(s, Step::Join(_)))
        .nth(1)
        .map(|(at, _)| *at)
        .unwrap();
    assert!(
        rejoin >= revoked.end,
        "JoinGroup sent {:?} before the callback ended",
        revoked.end - rejoin
    );
    let commit = steps
        .iter()
        .find(|(_, s)| matches!(s, Step::Commit(_)))
        .map(|(at, _)| *at)
        .expect("the callback's commit");
    assert!(commit >= revoked.start && commit <= revoked.end);
    // The callback committed what was handed out mid-chunk: offsets 0, 1.
    assert_eq!(group.committed("t", 0), Some(2));
    // Reassigned, the partition resumes there.
    log.append("t", 0, 1);
    assert_eq!(recv_offset(&mut c).await, 2);
    let events: Vec<GroupEvent> = std::iter::from_fn(|| c.poll_rebalance_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::Revoked { .. })),
        "events as values still arrive: {events:?}"
    );
    assert!(
        events
            .iter()
            .filter(|e| matches!(e, GroupEvent::Assigned { .. }))
            .count()
            >= 2,
        "{events:?}"
    );
}

#[tokio::test]
async fn auto_commit_commits_revoked_partitions_before_the_callback_runs() {
    let (cluster, group, log, mut c) = setup(&[
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "600000"),
        ("partition.assignment.strategy", "range"),
    ])
    .await;
    cluster.create_topic("t", 1);
    log.append("t", 0, 3);
    let recorder = Recorder::default();
    c.set_rebalance_listener(recorder.clone());
    c.subscribe(["t"]).await.unwrap();
    for want in 0..3 {
        assert_eq!(recv_offset(&mut c).await, want);
    }
    group.start_rebalance();
    drive_until(&mut c, "the rejoin", || group.joins() == 2).await;
    let revoked = recorder
        .calls()
        .into_iter()
        .find(|c| c.name == "revoked")
        .expect("the revocation callback ran");
    let steps = group.timed_steps();
    let (commit_at, commit) = steps
        .iter()
        .find(|(_, s)| matches!(s, Step::Commit(_)))
        .cloned()
        .expect("the commit on revoke");
    assert_eq!(commit, Step::Commit(vec![("t".to_owned(), 0, 3)]));
    assert!(
        commit_at <= revoked.start,
        "committed after the callback started"
    );
    log.append("t", 0, 1);
    assert_eq!(recv_offset(&mut c).await, 3);
}

#[tokio::test]
async fn the_assignment_callback_runs_before_any_message_and_may_seek() {
    let (cluster, _group, log, mut c) = setup(&[("enable.auto.commit", "false")]).await;
    cluster.create_topic("t", 1);
    log.append("t", 0, 6);
    let recorder = Recorder {
        seek_to: Some(4),
        ..Recorder::default()
    };
    c.set_rebalance_listener(recorder.clone());
    c.subscribe(["t"]).await.unwrap();
    assert_eq!(recv_offset(&mut c).await, 4);
    let calls = recorder.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].name, "assigned");
    assert_eq!(calls[0].partitions, [TopicPartition::new("t", 0)]);
    // close() runs the revocation callback before leaving.
    c.close().await.unwrap();
    let names: Vec<&str> = recorder.calls().iter().map(|c| c.name).collect();
    assert_eq!(names, ["assigned", "revoked"]);
}

/// Steps the coordinator refused.
fn refused(group: &MockGroup) -> Vec<ErrorCode> {
    group
        .steps()
        .into_iter()
        .filter_map(|s| match s {
            Step::CommitRefused(code) => Some(code),
            _ => None,
        })
        .collect()
}

/// A consumer of `t` (one partition, 3 messages) that has received one.
async fn member_with_one_message() -> (MockCluster, MockGroup, MockLog, Consumer) {
    let (cluster, group, log, mut c) = setup(&[
        ("enable.auto.commit", "false"),
        ("partition.assignment.strategy", "range"),
    ])
    .await;
    cluster.create_topic("t", 1);
    log.append("t", 0, 3);
    c.subscribe(["t"]).await.unwrap();
    assert_eq!(recv_offset(&mut c).await, 0);
    (cluster, group, log, c)
}

#[tokio::test]
async fn a_commit_refused_for_a_stale_generation_fails_with_advice_and_the_member_rejoins() {
    for (code, lost) in [
        (ErrorCode::IllegalGeneration, LostReason::IllegalGeneration),
        (ErrorCode::UnknownMemberId, LostReason::UnknownMemberId),
    ] {
        let (_cluster, group, _log, mut c) = member_with_one_message().await;
        while c.poll_rebalance_event().is_some() {}
        group.fail_next_commit(code);
        let err = c.commit().await.unwrap_err();
        assert!(
            matches!(err, Error::CommitFailed { code: got, .. } if got == code),
            "{err:?}"
        );
        assert_eq!(err.code(), Some(code));
        assert!(!err.is_retriable());
        let text = err.to_string();
        assert!(
            text.contains("rejoining") && text.contains("recv"),
            "{text}"
        );
        // Not retried with the same identity.
        assert_eq!(refused(&group), [code]);
        // Membership acted on it: partitions lost, then a rejoin.
        drive_until(&mut c, "the rejoin", || group.joins() == 2).await;
        let events: Vec<GroupEvent> = std::iter::from_fn(|| c.poll_rebalance_event()).collect();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, GroupEvent::Lost { reason, .. } if *reason == lost)),
            "{code}: {events:?}"
        );
        // In the new generation, commits work again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.assignment() != [TopicPartition::new("t", 0)] {
            assert!(Instant::now() < deadline, "no new assignment");
            let _ = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
        }
        c.commit().await.expect("commit in the new generation");
    }
}

#[tokio::test]
async fn a_commit_refused_during_a_rebalance_makes_the_member_rejoin() {
    let (_cluster, group, _log, mut c) = member_with_one_message().await;
    group.fail_next_commit(ErrorCode::RebalanceInProgress);
    let err = c.commit().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RebalanceInProgress), "{err}");
    assert!(err.to_string().contains("rebalancing"), "{err}");
    assert_eq!(refused(&group), [ErrorCode::RebalanceInProgress]);
    drive_until(&mut c, "the rejoin", || group.joins() == 2).await;
    let events: Vec<GroupEvent> = std::iter::from_fn(|| c.poll_rebalance_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            GroupEvent::Revoked {
                reason: RevokeReason::Rebalance,
                ..
            }
        )),
        "eager members give their partitions up in order: {events:?}"
    );
}

#[tokio::test]
async fn not_coordinator_on_commit_is_retried_and_membership_finds_the_coordinator_again() {
    let (cluster, group, _log, mut c) = member_with_one_message().await;
    let finds = cluster.request_count(ApiKey::FindCoordinator);
    group.fail_next_commit(ErrorCode::NotCoordinator);
    c.commit().await.expect("retried at the coordinator");
    assert_eq!(refused(&group), [ErrorCode::NotCoordinator]);
    assert_eq!(group.committed("t", 0), Some(1));
    assert!(cluster.request_count(ApiKey::FindCoordinator) > finds);
    // Still a member of the same generation: no rejoin.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(group.joins(), 1);
}

#[tokio::test]
async fn a_fenced_static_member_stops_and_says_why() {
    let (_cluster, group, _log, mut c) = member_with_one_message().await;
    group.fail_next_commit(ErrorCode::FencedInstanceId);
    let err = c.commit().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::FencedInstanceId));
    assert!(err.to_string().contains("group.instance.id"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<GroupEvent> = std::iter::from_fn(|| c.poll_rebalance_event()).collect();
        if events.iter().any(|e| matches!(e, GroupEvent::Fatal(_))) {
            break;
        }
        assert!(Instant::now() < deadline, "no fatal event");
        let _ = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
    }
}

#[tokio::test]
async fn a_revocation_callback_cancelled_by_a_timeout_still_gives_the_partitions_up() {
    let (cluster, group, log, mut c) = setup(&[
        ("enable.auto.commit", "false"),
        ("partition.assignment.strategy", "range"),
    ])
    .await;
    cluster.create_topic("t", 1);
    log.append("t", 0, 1);
    let recorder = Recorder {
        hold: Duration::from_secs(30),
        ..Recorder::default()
    };
    c.set_rebalance_listener(recorder.clone());
    c.subscribe(["t"]).await.unwrap();
    assert_eq!(recv_offset(&mut c).await, 0);
    group.start_rebalance();
    // Short receive calls cancel the 30 s callback each time it starts.
    let deadline = Instant::now() + Duration::from_secs(15);
    while group.joins() < 2 {
        assert!(Instant::now() < deadline, "the gate never opened");
        let _ = tokio::time::timeout(Duration::from_millis(100), c.recv()).await;
    }
    assert!(
        !recorder.calls().iter().any(|c| c.name == "revoked"),
        "the revocation callback never completed"
    );
    // The partition was given up and comes back in the new generation.
    log.append("t", 0, 1);
    assert_eq!(recv_offset(&mut c).await, 1);
    assert_eq!(c.assignment(), [TopicPartition::new("t", 0)]);
}
