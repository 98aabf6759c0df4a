//! Fetching from the closest replica (KIP-392) against the mock cluster:
//! `client.rack` goes out as the Fetch rack id, the partition follows the
//! leader's `preferred_read_replica`, and goes back to the leader when the
//! replica answers an error or `metadata.max.age.ms` passes. tansu 0.6.0
//! has one broker, so there is no other replica to read from there.

use std::sync::Arc;
use std::time::Duration;

use super::mock_fetch::MockFetch;
use super::{Consumer, ConsumerConfig, StartOffset};
use crate::config::Properties;
use crate::group::TopicPartition;
use crate::mock::MockCluster;
use crate::{Client, ClientConfig};

const WAIT: Duration = Duration::from_secs(10);

/// Three brokers; partition 0 of `t` is led by broker 1.
async fn setup(rack: Option<&str>, max_age: Duration) -> (MockCluster, Arc<MockFetch>, Consumer) {
    let cluster = MockCluster::start(3).await.unwrap();
    cluster.create_topic("t", 1);
    let fetch = MockFetch::install(&cluster);
    let client = ClientConfig::builder()
        .bootstrap(cluster.bootstrap().split(','))
        .request_timeout(Duration::from_secs(5))
        .metadata_max_age(max_age)
        .build()
        .unwrap();
    let mut props: Properties = [
        ("fetch.max.wait.ms", "10"),
        ("retry.backoff.ms", "20"),
        ("auto.offset.reset", "earliest"),
    ]
    .into_iter()
    .collect();
    if let Some(r) = rack {
        props.set("client.rack", r);
    }
    let config = ConsumerConfig::from_properties(&mut props).unwrap();
    let consumer = Consumer::with_client(Client::connect(client).await.unwrap(), config);
    (cluster, fetch, consumer)
}

async fn offsets(c: &mut Consumer, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, c.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {out:?}"))
            .expect("recv");
        out.push(m.offset());
    }
    out
}

/// Fetches of partition 0 answered with records or an error, per broker.
fn answered_by(fetch: &MockFetch, broker: i32) -> usize {
    fetch
        .seen()
        .iter()
        .filter(|s| s.broker == broker && s.answered.iter().any(|a| a.1 == 0))
        .count()
}

#[tokio::test]
async fn the_rack_is_sent_and_the_preferred_replica_serves_the_partition() {
    let (_cluster, fetch, mut c) = setup(Some("rack-2"), Duration::from_secs(300)).await;
    fetch.set_preferred_replica("t", 0, 2);
    fetch.append("t", 0, 5);
    c.assign([(TopicPartition::new("t", 0), StartOffset::At(0))])
        .await
        .unwrap();
    assert_eq!(offsets(&mut c, 5).await, [0, 1, 2, 3, 4]);
    fetch.append("t", 0, 3);
    assert_eq!(offsets(&mut c, 3).await, [5, 6, 7]);

    let seen = fetch.seen();
    assert!(seen.iter().all(|s| s.rack_id == "rack-2"), "{seen:#?}");
    // The leader redirected once; every record came from broker 2.
    assert_eq!(
        seen.iter()
            .filter(|s| s.broker == 1 && s.sent().contains(&0))
            .count(),
        1,
        "{seen:#?}"
    );
    assert!(answered_by(&fetch, 2) >= 2, "{seen:#?}");
    assert!(seen.iter().all(|s| s.broker != 3));
}

#[tokio::test]
async fn without_a_rack_the_leader_serves() {
    let (_cluster, fetch, mut c) = setup(None, Duration::from_secs(300)).await;
    fetch.set_preferred_replica("t", 0, 2);
    fetch.append("t", 0, 4);
    c.assign([(TopicPartition::new("t", 0), StartOffset::At(0))])
        .await
        .unwrap();
    assert_eq!(offsets(&mut c, 4).await, [0, 1, 2, 3]);
    let seen = fetch.seen();
    assert!(
        seen.iter().all(|s| s.broker == 1 && s.rack_id.is_empty()),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn an_error_from_the_replica_sends_the_partition_back_to_the_leader() {
    let (_cluster, fetch, mut c) = setup(Some("rack-2"), Duration::from_secs(300)).await;
    fetch.set_preferred_replica("t", 0, 2);
    fetch.append("t", 0, 3);
    c.assign([(TopicPartition::new("t", 0), StartOffset::At(0))])
        .await
        .unwrap();
    assert_eq!(offsets(&mut c, 3).await, [0, 1, 2]);
    assert!(answered_by(&fetch, 2) >= 1);

    // Broker 2 no longer hosts the partition: NOT_LEADER_OR_FOLLOWER from
    // it, and the leader serves again (and prefers nobody now).
    fetch.set_preferred_replica("t", 0, -1);
    fetch.clear_seen();
    fetch.append("t", 0, 3);
    assert_eq!(offsets(&mut c, 3).await, [3, 4, 5]);
    let seen = fetch.seen();
    assert!(
        seen.iter()
            .any(|s| s.broker == 2 && s.answered.iter().any(|a| a.1 == 0)),
        "the replica answered its error: {seen:#?}"
    );
    assert!(answered_by(&fetch, 1) >= 1, "{seen:#?}");
}

#[tokio::test]
async fn the_replica_is_used_only_until_metadata_max_age() {
    let (_cluster, fetch, mut c) = setup(Some("rack-2"), Duration::from_millis(300)).await;
    fetch.set_preferred_replica("t", 0, 2);
    fetch.append("t", 0, 2);
    c.assign([(TopicPartition::new("t", 0), StartOffset::At(0))])
        .await
        .unwrap();
    assert_eq!(offsets(&mut c, 2).await, [0, 1]);
    // After the validity the leader is asked again (and redirects again).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    fetch.append("t", 0, 2);
    assert_eq!(offsets(&mut c, 2).await, [2, 3]);
    let leader_fetches = fetch
        .seen()
        .iter()
        .filter(|s| s.broker == 1 && s.sent().contains(&0))
        .count();
    assert!(leader_fetches >= 2, "{:#?}", fetch.seen());
}
