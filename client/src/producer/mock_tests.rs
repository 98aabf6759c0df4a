//! The producer against the in-process mock cluster: routing over several
//! brokers, idempotent retries, and every failure case with a defined
//! outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
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

/// Polls `f` once from the test task.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

fn key(i: usize) -> String {
    format!("key-{i}")
}

/// Sends `n` keyed records and awaits them all.
async fn send_keyed(
    p: &Producer,
    topic: &str,
    n: usize,
) -> Vec<Result<super::RecordMetadata, ProduceError>> {
    let mut futures: Vec<Delivery> = Vec::new();
    for i in 0..n {
        let k = key(i);
        let v = format!("value-{i}");
        futures.push(
            p.send(ProducerRecord::new(topic).key(&k).value(&v))
                .await
                .unwrap(),
        );
    }
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

/// Every record is in the log exactly once, in send order per partition,
/// at the offset its delivery reported.
fn check_log(
    log: &MockLog,
    topic: &str,
    partitions: i32,
    results: &[Result<super::RecordMetadata, ProduceError>],
) {
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
        assert_eq!(
            r.as_ref().unwrap().partition,
            key_partition(key(i).as_bytes(), 6)
        );
    }
    check_log(&log, "t", 6, &results);
    for b in 1..=3 {
        assert!(
            cluster.broker_request_count(b, ApiKey::Produce) > 0,
            "broker {b}"
        );
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
    assert_eq!(
        (m.records_failed, m.queued_bytes, m.in_flight_requests),
        (0, 0, 0)
    );
    assert!(p.close(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_disconnect_mid_request_is_retried_without_loss() {
    let (cluster, log) = cluster(1, "t", 3).await;
    cluster.inject(FaultRule::new(ApiKey::Produce, Fault::Disconnect).times(2));
    let p = producer(&cluster, &[]).await;
    let results = send_keyed(&p, "t", 200).await;
    check_log(&log, "t", 3, &results);
    assert!(p.metrics().retries >= 1);
}

#[tokio::test]
async fn a_response_lost_after_the_broker_wrote_is_not_duplicated() {
    let (cluster, log) = cluster(1, "t", 2).await;
    // The handler appends, then only half of the response reaches us.
    cluster.inject(FaultRule::new(ApiKey::Produce, Fault::Truncate).times(3));
    let p = producer(&cluster, &[]).await;
    let results = send_keyed(&p, "t", 300).await;
    // Exactly once, at the offsets first written.
    check_log(&log, "t", 2, &results);
    assert!(p.metrics().retries >= 1);
}

#[tokio::test]
async fn without_idempotence_a_lost_response_may_duplicate_but_never_reports_twice() {
    let (cluster, log) = cluster(1, "t", 1).await;
    cluster.inject(FaultRule::new(ApiKey::Produce, Fault::Truncate).times(1));
    let p = producer(&cluster, &[("enable.idempotence", "false"), ("acks", "1")]).await;
    let results = send_keyed(&p, "t", 10).await;
    assert!(results.iter().all(Result::is_ok));
    // At-least-once: the first copy stays, the retry adds a second one.
    assert!(log.total("t") >= 10);
    assert_eq!(p.metrics().records_sent, 10);
}

#[tokio::test]
async fn a_leader_move_is_followed() {
    let (cluster, log) = cluster(2, "t", 1).await;
    cluster.set_leader("t", 0, 1);
    let p = producer(&cluster, &[]).await;
    let first = send_keyed(&p, "t", 20).await;
    assert!(first.iter().all(Result::is_ok));
    cluster.set_leader("t", 0, 2);
    // Broker 1 now answers NOT_LEADER_OR_FOLLOWER; metadata is refreshed
    // and the batches go to broker 2.
    let mut futures = Vec::new();
    for i in 20..40 {
        let k = key(i);
        let v = format!("value-{i}");
        futures.push(
            p.send(ProducerRecord::new("t").key(&k).value(&v))
                .await
                .unwrap(),
        );
    }
    for f in futures {
        f.await.unwrap();
    }
    assert!(cluster.broker_request_count(2, ApiKey::Produce) > 0);
    assert_eq!(log.total("t"), 40);
}

#[tokio::test]
async fn a_non_retriable_error_fails_at_once_with_the_brokers_message() {
    let (cluster, log) = cluster(1, "t", 1).await;
    *log.message.lock().unwrap() = Some("record 0 has no key".into());
    cluster
        .inject(FaultRule::new(ApiKey::Produce, Fault::Error(ErrorCode::InvalidRecord)).times(1));
    let p = producer(&cluster, &[]).await;
    let hooked = Arc::new(AtomicUsize::new(0));
    let h = hooked.clone();
    p.set_error_hook(move |f| {
        assert_eq!(f.error.code(), Some(ErrorCode::InvalidRecord));
        h.fetch_add(f.records as usize, Ordering::SeqCst);
    });
    let d = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    let e = d.await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidRecord));
    assert!(e.to_string().contains("record 0 has no key"), "{e}");
    assert_eq!(hooked.load(Ordering::SeqCst), 1);
    let m = p.metrics();
    assert_eq!((m.records_failed, m.retries), (1, 0));
    // The producer carries on.
    let d = p.send(ProducerRecord::new("t").value("y")).await.unwrap();
    assert_eq!(d.await.unwrap().offset, 0);
}

#[tokio::test]
async fn retriable_errors_are_retried_until_the_delivery_timeout() {
    let (cluster, _log) = cluster(1, "t", 1).await;
    cluster.inject(FaultRule::new(
        ApiKey::Produce,
        Fault::Error(ErrorCode::NotEnoughReplicas),
    ));
    let p = producer(&cluster, &[("delivery.timeout.ms", "300")]).await;
    let d = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    match d.await.unwrap_err() {
        ProduceError::DeliveryTimeout {
            last_error,
            partition,
            ..
        } => {
            assert_eq!(partition, 0);
            let last = last_error.unwrap();
            assert!(
                last.contains("NotEnoughReplicas") || last.contains("NOT_ENOUGH_REPLICAS"),
                "{last}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(p.metrics().retries >= 2);
    assert_eq!(p.metrics().records_failed, 1);
}

#[tokio::test]
async fn retries_are_bounded_by_the_retries_setting() {
    let (cluster, _log) = cluster(1, "t", 1).await;
    cluster.inject(FaultRule::new(
        ApiKey::Produce,
        Fault::Error(ErrorCode::NotEnoughReplicas),
    ));
    let p = producer(
        &cluster,
        &[("retries", "2"), ("enable.idempotence", "false")],
    )
    .await;
    let d = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    assert_eq!(
        d.await.unwrap_err().code(),
        Some(ErrorCode::NotEnoughReplicas)
    );
    assert_eq!(cluster.request_count(ApiKey::Produce), 3);
}

#[tokio::test]
async fn throttling_is_counted_and_honoured() {
    let (cluster, log) = cluster(1, "t", 1).await;
    log.throttle_ms.store(100, Ordering::SeqCst);
    let p = producer(&cluster, &[]).await;
    let first = p.send(ProducerRecord::new("t").value("a")).await.unwrap();
    first.await.unwrap();
    log.throttle_ms.store(0, Ordering::SeqCst);
    let second = p.send(ProducerRecord::new("t").value("b")).await.unwrap();
    assert_eq!(second.await.unwrap().offset, 1);
    assert!(p.metrics().throttled_responses >= 1);
}

#[tokio::test]
async fn an_unknown_topic_fails_after_max_block() {
    let (cluster, _log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[("max.block.ms", "200")]).await;
    match p.send(ProducerRecord::new("missing").value("x")).await {
        Err(ProduceError::MaxBlock { what, .. }) => assert_eq!(what, "topic metadata"),
        other => panic!("{other:?}"),
    }
    match p.try_send(ProducerRecord::new("missing").value("x")) {
        Err(ProduceError::MetadataPending { topic }) => assert_eq!(topic, "missing"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn records_over_max_request_size_are_rejected_at_send() {
    let (cluster, _log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[("max.request.size", "1000")]).await;
    let big = vec![1u8; 2000];
    match p.send(ProducerRecord::new("t").value(&big)).await {
        Err(ProduceError::RecordTooLarge { property, .. }) => {
            assert_eq!(property, "max.request.size")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_full_buffer_makes_try_send_fail_and_send_wait() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(
        &cluster,
        &[
            ("buffer.memory", "2000"),
            ("batch.size", "500"),
            ("linger.ms", "0"),
        ],
    )
    .await;
    let v = [7u8; 100];
    // Metadata first (try_send never waits for it).
    p.send(ProducerRecord::new("t").value(&v))
        .await
        .unwrap()
        .await
        .unwrap();
    cluster
        .inject(FaultRule::new(ApiKey::Produce, Fault::Delay(Duration::from_millis(300))).times(1));
    let mut futures = Vec::new();
    let full = loop {
        match p.try_send(ProducerRecord::new("t").value(&v)) {
            Ok(d) => futures.push(d),
            Err(e) => break e,
        }
        assert!(futures.len() < 100, "the buffer never filled");
    };
    assert!(
        matches!(full, ProduceError::QueueFull { limit: 2000, .. }),
        "{full:?}"
    );
    assert!(p.metrics().queued_bytes <= 2000);
    // send waits for the slow response to free memory, then succeeds.
    for _ in 0..10 {
        futures.push(p.send(ProducerRecord::new("t").value(&v)).await.unwrap());
    }
    for f in futures.drain(..) {
        f.await.unwrap();
    }
    assert_eq!(log.total("t"), log.records("t", 0).len());
    assert_eq!(p.metrics().queued_bytes, 0);
}

#[tokio::test]
async fn a_send_dropped_while_waiting_for_memory_leaves_no_pressure_behind() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(
        &cluster,
        &[
            ("buffer.memory", "2000"),
            ("batch.size", "500"),
            ("linger.ms", "60000"),
        ],
    )
    .await;
    let v = [7u8; 100];
    // Metadata and the first ack first.
    let first = p.send(ProducerRecord::new("t").value(&v)).await.unwrap();
    p.flush().await;
    first.await.unwrap();
    cluster
        .inject(FaultRule::new(ApiKey::Produce, Fault::Delay(Duration::from_millis(300))).times(1));
    let mut futures = Vec::new();
    while p
        .try_send(ProducerRecord::new("t").value(&v))
        .map(|d| futures.push(d))
        .is_ok()
    {
        assert!(futures.len() < 100, "the buffer never filled");
    }
    // A send that gives up while it waits for space (a timeout around it,
    // a client gone away), and a callback send dropped after one poll.
    let waited = tokio::time::timeout(
        Duration::from_millis(20),
        p.send(ProducerRecord::new("t").value(&v)),
    )
    .await;
    assert!(waited.is_err(), "it had to wait for memory");
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    let mut pending = Box::pin(p.send_with_callback(
        ProducerRecord::new("t").value(&v),
        move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        },
    ));
    assert!(poll_once(&mut pending).await.is_pending());
    assert_eq!(p.accumulator().memory_waiters(), 1);
    drop(pending);
    assert_eq!(p.accumulator().memory_waiters(), 0, "waiters uncounted");
    // The callback went with the future: its record was never queued.
    assert_eq!(Arc::strong_count(&called), 1);
    p.flush().await;
    for f in futures.drain(..) {
        f.await.unwrap();
    }
    let before = log.total("t");
    // No pressure left: a new record waits for its (long) linger instead
    // of being sent at once.
    let mut late = p.send(ProducerRecord::new("t").value(&v)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(poll_once(&mut late).await.is_pending(), "sealed early");
    assert_eq!(log.total("t"), before);
    p.flush().await;
    late.await.unwrap();
    assert_eq!(log.total("t"), before + 1);
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn callbacks_and_fire_and_forget() {
    let (cluster, log) = cluster(2, "t", 4).await;
    let p = producer(&cluster, &[]).await;
    let ok = Arc::new(AtomicUsize::new(0));
    for i in 0..100 {
        let ok = ok.clone();
        let v = format!("{i}");
        p.send_with_callback(ProducerRecord::new("t").value(&v), move |r| {
            r.unwrap();
            ok.fetch_add(1, Ordering::SeqCst);
        })
        .await
        .unwrap();
    }
    for i in 0..100 {
        let v = format!("f{i}");
        drop(p.send(ProducerRecord::new("t").value(&v)).await.unwrap());
    }
    p.flush().await;
    assert_eq!(ok.load(Ordering::SeqCst), 100);
    assert_eq!(log.total("t"), 200);
    assert_eq!(p.metrics().records_sent, 200);
}

#[tokio::test]
async fn fire_and_forget_failures_reach_the_hook() {
    let (cluster, _log) = cluster(1, "t", 1).await;
    cluster.inject(FaultRule::new(
        ApiKey::Produce,
        Fault::Error(ErrorCode::InvalidRecord),
    ));
    let p = producer(&cluster, &[]).await;
    let failed = Arc::new(AtomicUsize::new(0));
    let f = failed.clone();
    p.set_error_hook(move |x| {
        f.fetch_add(x.records as usize, Ordering::SeqCst);
    });
    for _ in 0..5 {
        drop(p.send(ProducerRecord::new("t").value("x")).await.unwrap());
    }
    p.flush().await;
    assert_eq!(failed.load(Ordering::SeqCst), 5);
    assert_eq!(p.metrics().records_failed, 5);
}

#[tokio::test]
async fn close_with_a_timeout_fails_what_was_not_sent() {
    let (cluster, log) = cluster(1, "t", 2).await;
    // The first request hangs long; the rest waits behind it.
    cluster.set_leader("t", 0, 1);
    cluster.inject(
        FaultRule::new(ApiKey::Produce, Fault::Delay(Duration::from_millis(1500))).times(1),
    );
    let p = producer(
        &cluster,
        &[
            ("max.in.flight.requests.per.connection", "1"),
            ("enable.idempotence", "false"),
            ("acks", "1"),
        ],
    )
    .await;
    let first = p
        .send(ProducerRecord::new("t").partition(0).value("a"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = p
        .send(ProducerRecord::new("t").partition(1).value("b"))
        .await
        .unwrap();
    assert!(!p.close(Duration::from_millis(100)).await);
    assert!(matches!(second.await, Err(ProduceError::Closed)));
    // The request already on the wire completes honestly.
    assert_eq!(first.await.unwrap().offset, 0);
    assert_eq!(log.total("t"), 1);
    assert!(matches!(
        p.send(ProducerRecord::new("t").value("c")).await,
        Err(ProduceError::Closed)
    ));
}

#[tokio::test]
async fn dropping_the_producer_still_delivers_in_the_background() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[("linger.ms", "50")]).await;
    let d = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    drop(p);
    assert_eq!(d.await.unwrap().offset, 0);
    assert_eq!(log.total("t"), 1);
}

#[tokio::test]
async fn init_producer_id_falls_back_below_v2_when_the_broker_rejects_it() {
    let (cluster, log) = cluster(1, "t", 1).await;
    // Like tansu 0.6: v2+ is announced but the connection is dropped.
    let l = log.clone();
    cluster.handle(ApiKey::InitProducerId, move |ctx, _| {
        if ctx.version >= 2 {
            return None;
        }
        let _ = &l;
        let mut r = klamm_protocol::generated::InitProducerIdResponse::default();
        r.producer_id = 77;
        r.producer_epoch = 0;
        Some(klamm_protocol::generated::AnyResponse::InitProducerId(
            Box::new(r),
        ))
    });
    cluster.set_api_versions(ApiKey::InitProducerId, Some(VersionRange::new(0, 5)));
    let p = producer(&cluster, &[]).await;
    let d = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    d.await.unwrap();
    assert_eq!(log.records("t", 0)[0].producer_id, 77);
}

#[tokio::test]
async fn unknown_producer_id_gets_a_new_id_on_a_broker_without_kip_360() {
    let (cluster, log) = cluster(1, "t", 1).await;
    // InitProducerId below v3 has no id/epoch fields: no bump possible.
    cluster.set_api_versions(ApiKey::InitProducerId, Some(VersionRange::new(0, 2)));
    let p = producer(&cluster, &[]).await;
    p.send(ProducerRecord::new("t").value("a"))
        .await
        .unwrap()
        .await
        .unwrap();
    cluster.inject(
        FaultRule::new(ApiKey::Produce, Fault::Error(ErrorCode::UnknownProducerId)).times(1),
    );
    let d = p.send(ProducerRecord::new("t").value("b")).await.unwrap();
    assert_eq!(d.await.unwrap().offset, 1);
    let ids: Vec<i64> = log.records("t", 0).iter().map(|s| s.producer_id).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(
        ids[0], ids[1],
        "a new producer id after UNKNOWN_PRODUCER_ID"
    );
    assert!(cluster.request_count(ApiKey::InitProducerId) >= 2);
    let requests = log.init_requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|&(v, id, epoch)| v <= 2 && (id, epoch) == (-1, -1)),
        "{requests:?}"
    );
}

/// Sends `values` to partition 0, awaiting each in turn after all are sent.
async fn send_values(p: &Producer, values: &[String]) -> Vec<i64> {
    let mut futures = Vec::new();
    for v in values {
        futures.push(
            p.send(ProducerRecord::new("t").partition(0).value(v))
                .await
                .unwrap(),
        );
    }
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.unwrap().offset);
    }
    offsets
}

/// The log holds `values` exactly once each, in order, under one producer
/// id; returns the epochs the records were written with.
fn assert_log_once_in_order(log: &MockLog, values: &[String]) -> Vec<i16> {
    let stored = log.records("t", 0);
    let got: Vec<&[u8]> = stored.iter().map(|s| s.value.as_deref().unwrap()).collect();
    let want: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    assert_eq!(got, want, "every record once, in send order");
    let ids: std::collections::BTreeSet<i64> = stored.iter().map(|s| s.producer_id).collect();
    assert_eq!(ids.len(), 1, "one producer id throughout: {ids:?}");
    stored.iter().map(|s| s.producer_epoch).collect()
}

#[tokio::test]
async fn unknown_producer_id_bumps_the_epoch_with_init_producer_id_v3() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[]).await;
    let values: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    assert_eq!(
        send_values(&p, &values[..20]).await,
        (0..20).collect::<Vec<_>>()
    );
    cluster.inject(
        FaultRule::new(ApiKey::Produce, Fault::Error(ErrorCode::UnknownProducerId)).times(1),
    );
    assert_eq!(
        send_values(&p, &values[20..]).await,
        (20..40).collect::<Vec<_>>()
    );
    let requests = log.init_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!((requests[0].1, requests[0].2), (-1, -1), "first: a new id");
    let (version, id, epoch) = requests[1];
    assert!(version >= 3, "the bump needs v3+, sent v{version}");
    assert_eq!(
        (id, epoch),
        (1000, 0),
        "the bump carries the current id and epoch"
    );
    let epochs = assert_log_once_in_order(&log, &values);
    assert_eq!(&epochs[..20], &[0; 20]);
    assert_eq!(&epochs[20..], &[1; 20], "resent under the bumped epoch");
    assert_eq!(p.metrics().records_failed, 0);
}

#[tokio::test]
async fn repeated_out_of_order_sequence_bumps_the_epoch_and_resends_once() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[]).await;
    let values: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    send_values(&p, &values[..5]).await;
    // Refused three times with the same sequence: the sequence state is
    // broken, so the producer bumps its epoch and sends from sequence 0.
    cluster.inject(
        FaultRule::new(
            ApiKey::Produce,
            Fault::Error(ErrorCode::OutOfOrderSequenceNumber),
        )
        .times(3),
    );
    assert_eq!(
        send_values(&p, &values[5..]).await,
        (5..10).collect::<Vec<_>>()
    );
    let requests = log.init_requests.lock().unwrap().clone();
    assert_eq!(
        requests.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
        [(-1, -1), (1000, 0)]
    );
    let epochs = assert_log_once_in_order(&log, &values);
    assert_eq!(epochs, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
}

#[tokio::test]
async fn a_refused_epoch_bump_falls_back_to_a_new_producer_id() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[]).await;
    p.send(ProducerRecord::new("t").value("a"))
        .await
        .unwrap()
        .await
        .unwrap();
    // The broker forgot the id's epochs: the bump is refused.
    log.epochs.lock().unwrap().clear();
    cluster.inject(
        FaultRule::new(ApiKey::Produce, Fault::Error(ErrorCode::UnknownProducerId)).times(1),
    );
    let m = p
        .send(ProducerRecord::new("t").value("b"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(m.offset, 1);
    let requests = log.init_requests.lock().unwrap().clone();
    assert_eq!(
        requests.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
        [(-1, -1), (1000, 0), (-1, -1)]
    );
    let ids: Vec<i64> = log.records("t", 0).iter().map(|s| s.producer_id).collect();
    assert_eq!(ids, [1000, 1001]);
}

#[tokio::test]
async fn in_flight_batches_behind_a_failed_one_are_resent_in_order() {
    let (cluster, log) = cluster(1, "t", 1).await;
    // Slow responses, so several requests for the partition are in flight.
    let p = producer(&cluster, &[("linger.ms", "0"), ("batch.size", "200")]).await;
    p.send(ProducerRecord::new("t").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    // The next request fails retriably; the ones pipelined behind it reach
    // the broker with a sequence gap and are refused OUT_OF_ORDER_SEQUENCE.
    cluster
        .inject(FaultRule::new(ApiKey::Produce, Fault::Delay(Duration::from_millis(100))).times(1));
    cluster.inject(
        FaultRule::new(ApiKey::Produce, Fault::Error(ErrorCode::NotEnoughReplicas)).times(1),
    );
    let mut futures = Vec::new();
    for i in 0..60 {
        let v = format!("value-{i}");
        futures.push(p.send(ProducerRecord::new("t").value(&v)).await.unwrap());
    }
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.unwrap().offset);
    }
    assert_eq!(offsets, (1..=60).collect::<Vec<i64>>());
    let stored = log.records("t", 0);
    assert_eq!(stored.len(), 61);
    for (i, s) in stored.iter().skip(1).enumerate() {
        assert_eq!(s.value.as_deref(), Some(format!("value-{i}").as_bytes()));
    }
    let m = p.metrics();
    assert!(
        m.retries >= 2,
        "the pipelined batches behind the failed one were resent too: {m:?}"
    );
    assert_eq!(m.records_failed, 0);
}

/// A broker that handles pipelined requests concurrently (tansu) can check
/// batch N+1 before N: N succeeds, N+1 is refused OUT_OF_ORDER_SEQUENCE
/// although nothing is wrong. The producer resends N+1 (and whatever was
/// pipelined behind it) with the same sequences instead of failing records.
#[tokio::test]
async fn a_batch_overtaken_at_the_broker_is_resent_not_failed() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(
        &cluster,
        &[
            ("linger.ms", "0"),
            ("batch.size", "200"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
    )
    .await;
    p.send(ProducerRecord::new("t").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    for round in 0..3 {
        log.reorder_next.store(true, Ordering::SeqCst);
        let mut futures = Vec::new();
        for i in 0..60 {
            let v = format!("value-{round}-{i}");
            futures.push(p.send(ProducerRecord::new("t").value(&v)).await.unwrap());
        }
        for f in futures {
            f.await.unwrap();
        }
        assert!(
            !log.reorder_next.load(Ordering::SeqCst),
            "the reordering was exercised"
        );
    }
    let stored = log.records("t", 0);
    let values: Vec<String> = stored
        .iter()
        .skip(1)
        .map(|s| String::from_utf8(s.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (0..3)
        .flat_map(|r| (0..60).map(move |i| format!("value-{r}-{i}")))
        .collect();
    assert_eq!(values, expected, "every record once, in send order");
    assert!(
        stored
            .iter()
            .all(|s| s.producer_id == stored[0].producer_id),
        "no new producer id was needed"
    );
    let m = p.metrics();
    assert_eq!(m.records_failed, 0);
    assert!(m.retries >= 3, "the overtaken batches were resent: {m:?}");
}

#[tokio::test]
async fn acks_0_completes_on_write_whether_or_not_the_broker_answers() {
    let (cluster, log) = cluster(1, "t", 1).await;
    let p = producer(&cluster, &[("acks", "0")]).await;
    // The mock answers acks=0 (as tansu does): the answer is dropped.
    let d = p.send(ProducerRecord::new("t").value("a")).await.unwrap();
    let m = d.await.unwrap();
    assert_eq!((m.partition, m.offset), (0, -1));
    // Done means written, not yet stored: wait for the broker to store it.
    for _ in 0..200 {
        if log.total("t") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(log.total("t"), 1);
    // A broker that holds its answer (Kafka sends none) does not hold us.
    cluster.inject(FaultRule::new(ApiKey::Produce, Fault::Delay(Duration::from_secs(30))).times(1));
    let d = p.send(ProducerRecord::new("t").value("b")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), d)
        .await
        .expect("acks=0 did not wait for a response")
        .unwrap();
    let d = p.send(ProducerRecord::new("t").value("c")).await.unwrap();
    d.await.unwrap();
    assert_eq!(p.metrics().records_sent, 3);
}

#[tokio::test]
async fn an_unanswered_request_fails_its_batches_at_the_delivery_timeout_once() {
    let (cluster, log) = cluster(1, "t", 1).await;
    // The first Produce is answered only after 2 s; request.timeout.ms is
    // 10 s, delivery.timeout.ms 400 ms: the delivery timeout must win.
    cluster.inject(FaultRule::new(ApiKey::Produce, Fault::Delay(Duration::from_secs(2))).times(1));
    let p = producer(
        &cluster,
        &[
            ("delivery.timeout.ms", "400"),
            ("request.timeout.ms", "10000"),
        ],
    )
    .await;
    let hook = Arc::new(AtomicUsize::new(0));
    let h = hook.clone();
    p.set_error_hook(move |f| {
        h.fetch_add(f.records as usize, Ordering::SeqCst);
    });
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = outcomes.clone();
    let started = std::time::Instant::now();
    let d = p.send(ProducerRecord::new("t").value("a")).await.unwrap();
    p.send_with_callback(ProducerRecord::new("t").value("b"), move |r| {
        o.lock().unwrap().push(r.map(|m| m.offset));
    })
    .await
    .unwrap();
    match d.await.unwrap_err() {
        ProduceError::DeliveryTimeout {
            last_error, after, ..
        } => {
            assert_eq!(after, Duration::from_millis(400));
            let last = last_error.unwrap();
            assert!(last.contains("timed out"), "{last}");
        }
        other => panic!("{other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1500),
        "failed after {waited:?}, not at the delivery timeout"
    );
    // The late answer (at 2 s) changes nothing: reported once, as failed.
    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(started.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(
        outcomes.lock().unwrap().as_slice(),
        [Err(ProduceError::DeliveryTimeout { .. })]
    ));
    assert_eq!(hook.load(Ordering::SeqCst), 2);
    let m = p.metrics();
    assert_eq!((m.records_failed, m.records_sent), (2, 0));
    // The producer goes on: the next record is delivered.
    let meta = p
        .send(ProducerRecord::new("t").value("c"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(meta.partition, 0);
    assert_eq!(outcomes.lock().unwrap().len(), 1);
    assert_eq!(p.metrics().records_sent, 1);
    assert!(log.total("t") >= 1);
}

#[tokio::test]
async fn an_idle_producer_sleeps_and_tagged_records_reach_the_handler() {
    let (cluster, log) = cluster(2, "t", 4).await;
    let p = producer(&cluster, &[]).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    p.set_delivery_handler(move |tag, r| s.lock().unwrap().push((tag, r.is_ok())));
    for tag in 0..50u64 {
        let v = format!("{tag}");
        p.send_tagged(ProducerRecord::new("t").value(&v), tag)
            .await
            .unwrap();
    }
    // No flush: the batches leave when linger.ms (2 ms) fires.
    for _ in 0..100 {
        if seen.lock().unwrap().len() == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut got = seen.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..50).map(|t| (t, true)).collect::<Vec<_>>());
    assert_eq!(log.total("t"), 50);
    // Nothing left to do: the senders sleep (a linger timer that fired and
    // was not re-armed for "no deadline" used to make them spin here).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = p.metrics().sender_wakeups;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = p.metrics().sender_wakeups - before;
    assert!(idle <= 2, "{idle} sender wake-ups while idle");
}
