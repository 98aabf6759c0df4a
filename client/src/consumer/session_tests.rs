//! Fetch sessions (KIP-227) against the mock cluster's session model
//! (`mock_fetch.rs`): what incremental requests carry, how pause, resume,
//! seek and reassignment change the session, and that session errors fall
//! back to a full fetch without losing or repeating a message. tansu 0.6.0
//! offers no sessions (tests/README.md), so this is where they are tested.

use std::sync::Arc;
use std::time::Duration;

use super::mock_fetch::{MockFetch, SeenFetch};
use super::{Consumer, ConsumerConfig, StartOffset};
use crate::config::Properties;
use crate::group::TopicPartition;
use crate::mock::MockCluster;
use crate::{Client, ClientConfig};

const WAIT: Duration = Duration::from_secs(10);

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

async fn setup(partitions: i32, extra: &[(&str, &str)]) -> (MockCluster, Arc<MockFetch>, Consumer) {
    let cluster = MockCluster::start(1).await.unwrap();
    cluster.create_topic("t", partitions);
    let fetch = MockFetch::install(&cluster);
    let client = ClientConfig::builder()
        .bootstrap(cluster.bootstrap().split(','))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut props: Properties = [
        ("fetch.max.wait.ms", "10"),
        ("retry.backoff.ms", "20"),
        ("auto.offset.reset", "earliest"),
    ]
    .into_iter()
    .collect();
    for (k, v) in extra {
        props.set(*k, *v);
    }
    let config = ConsumerConfig::from_properties(&mut props).unwrap();
    let consumer = Consumer::with_client(Client::connect(client).await.unwrap(), config);
    (cluster, fetch, consumer)
}

/// Receives `n` messages; returns (partition, offset) in arrival order.
async fn recv(c: &mut Consumer, n: usize) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, c.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {out:?}"))
            .expect("recv");
        out.push((m.partition(), m.offset()));
    }
    out
}

/// Waits until a recorded request satisfies `pred`; returns it.
async fn wait_for(fetch: &MockFetch, what: &str, pred: impl Fn(&SeenFetch) -> bool) -> SeenFetch {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(s) = fetch.seen().into_iter().find(|s| pred(s)) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no request {what}: {:#?}",
            fetch.seen()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Each partition's offsets arrive once each, in order, from `from`.
fn assert_once_in_order(got: &[(i32, i64)], partition: i32, from: i64, to: i64) {
    let offsets: Vec<i64> = got
        .iter()
        .filter(|(p, _)| *p == partition)
        .map(|(_, o)| *o)
        .collect();
    assert_eq!(
        offsets,
        (from..to).collect::<Vec<_>>(),
        "partition {partition}"
    );
}

#[tokio::test]
async fn incremental_fetches_carry_only_partitions_that_changed() {
    let (_cluster, fetch, mut c) = setup(3, &[]).await;
    for p in 0..3 {
        fetch.append("t", p, 4);
    }
    c.assign((0..3).map(|p| (tp(p), StartOffset::At(0))))
        .await
        .unwrap();
    let got = recv(&mut c, 12).await;
    for p in 0..3 {
        assert_once_in_order(&got, p, 0, 4);
    }
    let first = fetch.seen().remove(0);
    assert_eq!((first.session_id, first.epoch), (0, 0), "{first:?}");
    assert_eq!(first.sent(), [0, 1, 2]);
    assert_ne!(first.answered_session, 0);

    // Idle: incremental fetches with no partitions, answered empty.
    let idle = wait_for(&fetch, "idle", |s| {
        s.epoch > 1 && s.partitions.is_empty() && s.answered.is_empty()
    })
    .await;
    assert_eq!(idle.session_id, first.answered_session);

    // New data in partition 1 only: the broker answers it alone, and the
    // next request carries partition 1 alone, at its new offset.
    fetch.clear_seen();
    fetch.append("t", 1, 3);
    let got = recv(&mut c, 3).await;
    assert_once_in_order(&got, 1, 4, 7);
    let after = wait_for(&fetch, "with partition 1's new offset", |s| {
        s.partitions == [("t".to_owned(), 1, 7)]
    })
    .await;
    assert!(after.forgotten.is_empty());
    let seen = fetch.seen();
    assert!(
        seen.iter()
            .all(|s| s.epoch > 0 && s.session_id == first.answered_session),
        "no full fetch while the session lives: {seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|s| s.partitions.iter().all(|p| p.1 == 1) && s.answered.iter().all(|a| a.1 == 1)),
        "unchanged partitions are neither sent nor answered: {seen:#?}"
    );
    assert_eq!(fetch.session_count(), 1);
}

#[tokio::test]
async fn pause_resume_seek_and_reassignment_update_the_session() {
    let (_cluster, fetch, mut c) = setup(3, &[]).await;
    for p in 0..3 {
        fetch.append("t", p, 5);
    }
    c.assign((0..3).map(|p| (tp(p), StartOffset::At(0))))
        .await
        .unwrap();
    recv(&mut c, 15).await;
    wait_for(&fetch, "idle", |s| s.epoch > 1 && s.partitions.is_empty()).await;

    // Pause: the partition leaves the session.
    fetch.clear_seen();
    c.pause(&[tp(0)]).unwrap();
    let paused = wait_for(&fetch, "forgetting partition 0", |s| {
        !s.forgotten.is_empty()
    })
    .await;
    assert_eq!(paused.forgot(), [0]);
    assert!(paused.partitions.is_empty(), "{paused:?}");
    // While paused, new data there is not fetched.
    fetch.append("t", 0, 2);
    fetch.append("t", 2, 2);
    let got = recv(&mut c, 2).await;
    assert_eq!(got, [(2, 5), (2, 6)]);

    // Resume: back in the session at its position.
    fetch.clear_seen();
    c.resume(&[tp(0)]).unwrap();
    let resumed = wait_for(&fetch, "re-adding partition 0", |s| s.sent().contains(&0)).await;
    assert_eq!(resumed.partitions, [("t".to_owned(), 0, 5)]);
    assert_eq!(recv(&mut c, 2).await, [(0, 5), (0, 6)]);

    // Seek: the partition is sent with the new offset.
    fetch.clear_seen();
    c.seek(&tp(1), 2).unwrap();
    let sought = wait_for(&fetch, "partition 1 at 2", |s| {
        s.partitions.contains(&("t".to_owned(), 1, 2))
    })
    .await;
    assert!(sought.epoch > 0, "a seek needs no full fetch: {sought:?}");
    assert_eq!(recv(&mut c, 3).await, [(1, 2), (1, 3), (1, 4)]);

    // Reassignment: a removed partition is forgotten.
    fetch.clear_seen();
    c.incremental_unassign(&[tp(2)]);
    let removed = wait_for(&fetch, "forgetting partition 2", |s| {
        !s.forgotten.is_empty()
    })
    .await;
    assert_eq!(removed.forgot(), [2]);
    fetch.append("t", 2, 1);
    fetch.append("t", 1, 1);
    assert_eq!(recv(&mut c, 1).await, [(1, 5)]);
    assert!(
        fetch
            .seen()
            .iter()
            .all(|s| s.answered.iter().all(|a| a.1 != 2)),
        "a forgotten partition is not answered"
    );
}

#[tokio::test]
async fn session_errors_fall_back_to_a_full_fetch_without_loss_or_repeats() {
    let (_cluster, fetch, mut c) = setup(2, &[]).await;
    c.assign((0..2).map(|p| (tp(p), StartOffset::At(0))))
        .await
        .unwrap();
    let mut got = Vec::new();
    for round in 0..6 {
        for p in 0..2 {
            fetch.append("t", p, 3);
        }
        got.extend(recv(&mut c, 6).await);
        // Alternate the two ways a broker loses track of a session.
        fetch.clear_seen();
        if round % 2 == 0 {
            fetch.evict_sessions();
        } else {
            fetch.skew_epochs();
        }
        let error = wait_for(&fetch, "refused", |s| {
            s.error != klamm_protocol::ErrorCode::None
        })
        .await;
        let expected = if round % 2 == 0 {
            klamm_protocol::ErrorCode::FetchSessionIdNotFound
        } else {
            klamm_protocol::ErrorCode::InvalidFetchSessionEpoch
        };
        assert_eq!(error.error, expected);
        let full = wait_for(&fetch, "full", |s| s.epoch == 0).await;
        assert_eq!(full.sent(), [0, 1], "a full fetch lists every partition");
        if expected == klamm_protocol::ErrorCode::InvalidFetchSessionEpoch {
            // The client names the old session so the broker can drop it.
            assert_eq!(full.session_id, error.session_id);
        } else {
            assert_eq!(full.session_id, 0);
        }
    }
    for p in 0..2 {
        assert_once_in_order(&got, p, 0, 18);
    }
    assert_eq!(fetch.session_count(), 1, "old sessions were replaced");
}

#[tokio::test]
async fn a_broker_without_sessions_gets_full_fetches_every_time() {
    let (_cluster, fetch, mut c) = setup(2, &[]).await;
    fetch.disable_sessions();
    fetch.append("t", 0, 3);
    fetch.append("t", 1, 3);
    c.assign((0..2).map(|p| (tp(p), StartOffset::At(0))))
        .await
        .unwrap();
    recv(&mut c, 6).await;
    wait_for(&fetch, "a few more", |_| fetch.seen().len() > 5).await;
    let seen = fetch.seen();
    assert!(
        seen.iter().all(|s| s.session_id == 0
            && s.epoch == 0
            && s.sent() == [0, 1]
            && s.forgotten.is_empty()),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn close_closes_the_session() {
    let (_cluster, fetch, mut c) = setup(1, &[]).await;
    fetch.append("t", 0, 2);
    c.assign([(tp(0), StartOffset::At(0))]).await.unwrap();
    recv(&mut c, 2).await;
    assert_eq!(fetch.session_count(), 1);
    let id = fetch.seen()[0].answered_session;
    c.close().await.unwrap();
    let closing = wait_for(&fetch, "closing", |s| s.epoch == -1).await;
    assert_eq!(closing.session_id, id);
    assert!(closing.partitions.is_empty());
    assert_eq!(fetch.session_count(), 0);
}
