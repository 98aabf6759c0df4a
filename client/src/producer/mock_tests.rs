//! The producer against the in-process mock cluster: routing over several
//! brokers, idempotent retries, and every failure case with a defined
//! outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use klamm_protocol::{ApiKey, ErrorCode, VersionRange};

use super::mock_log::MockLog;
use super::{Delivery, ProduceError, Producer, ProducerRecord, key_partition};
use crate::mock::{Fault, FaultRule, MockCluster};

async fn cluster(brokers: usize, topic: &str, partitions: i32) -> (MockCluster, Arc<MockLog>) {
    let cluster = MockCluster::start(brokers).await.unwrap();
    cluster.create_topic(topic, partitions);
    let log = MockLog::install(&cluster);
    (cluster, log)
}

async fn producer(cluster: &MockCluster, extra: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap();
    let mut pairs = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "2"),
        ("retry.backoff.ms", "10"),
        ("retry.backoff.max.ms", "50"),
        ("reconnect.backoff.ms", "5"),
        ("reconnect.backoff.max.ms", "20"),
        ("request.timeout.ms", "2000"),
    ];
    pairs.extend_from_slice(extra);
    Producer::from_pairs(pairs).await.unwrap()
}

fn key(i: usize) -> String {
    format!("key-{i}")
}

/// Sends `n` keyed records and awaits them all.
async fn send_keyed(p: &Producer, topic: &str, n: usize) -> Vec<Result<super::RecordMetadata, ProduceError>> {
    let mut futures: Vec<Delivery> = Vec::new();
    for i in 0..n {
        let k = key(i);
        let v = format!("value-{i}");
        futures.push(p.send(ProducerRecord::new(topic).key(&k).value(&v)).await.unwrap());
    }
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

/// Every record is in the log exactly once, in send order per partition,
/// at the offset its delivery reported.
fn check_log(log: &MockLog, topic: &str, partitions: i32, results: &[Result<super::RecordMetadata, ProduceError>]) {
    assert_eq!(log.total(topic), results.len(), "records in the log");
    for p in 0..partitions {
        let stored = log.records(topic, p);
        let mut last = -1;
        for (i, r) in results.iter().enumerate() {
            let m = r.as_ref().unwrap();
            if m.partition != p {
                continue;
            }
            assert!(m.offset > last, "offsets increase in send order");
            last = m.offset;
            let s = &stored[m.offset as usize];
            assert_eq!(s.key.as_deref(), Some(key(i).as_bytes()));
            assert_eq!(s.value.as_deref(), Some(format!("value-{i}").as_bytes()));
        }
    }
}

#[tokio::test]
async fn routes_to_each_leader_with_java_partitions_exactly_once() {
    let (cluster, log) = cluster(3, "t", 6).await;
    let p = producer(&cluster, &[]).await;
    let results = send_keyed(&p, "t", 600).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.as_ref().unwrap().partition, key_partition(key(i).as_bytes(), 6));
    }
    check_log(&log, "t", 6, &results);
    for b in 1..=3 {
        assert!(cluster.broker_request_count(b, ApiKey::Produce) > 0, "broker {b}");
    }
    // Idempotent by default: one producer id for everything.
    let ids: std::collections::BTreeSet<i64> = (0..6)
        .flat_map(|q| log.records("t", q))
        .map(|s| s.producer_id)
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(ids.iter().all(|&id| id >= 1000));
    let m = p.metrics();
    assert_eq!(m.records_sent, 600);
    assert_eq!((m.records_failed, m.queued_bytes, m.in_flight_requests), (0, 0, 0));
    assert!(p.close(Duration::from_secs(5)).await);
}
