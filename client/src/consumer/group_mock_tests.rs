//! The consumer in group mode against the mock cluster's one-member
//! coordinator ([`super::mock_group`]): pattern subscriptions following the
//! topic list.

use std::time::Duration;

use super::Consumer;
use super::mock_group::{MockGroup, MockLog, wait_for};
use crate::error::Error;
use crate::group::TopicPartition;
use crate::mock::MockCluster;

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
        if let super::mock_group::Step::Join(topics) = join {
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
        .position(|s| matches!(s, super::mock_group::Step::Commit(_)))
        .expect("a commit on revoke");
    let second_join = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, super::mock_group::Step::Join(_)))
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
            .filter(|s| matches!(s, super::mock_group::Step::Commit(_)))
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
