use super::*;
use crate::producer::DefaultPartitioner;
use crate::producer::delivery::BatchAck;
use crate::producer::record::RecordMetadata;
use klamm_protocol::records::WireBatch;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

fn config() -> AccumulatorConfig {
    AccumulatorConfig {
        batch_size: 200,
        linger: Duration::from_millis(5),
        compression: Compression::None,
        compression_level: None,
        buffer_memory: 10_000,
        max_request_size: 1_000,
        delivery_timeout: Duration::from_secs(120),
        max_in_flight: 5,
        idempotent: false,
    }
}

fn acc(config: AccumulatorConfig) -> Accumulator {
    let mut a = Accumulator::new(config, Arc::new(DefaultPartitioner));
    // Three partitions, led by brokers 1, 1 and 2.
    a.set_topic("t", &[Some(1), Some(1), Some(2)]);
    a
}

fn send(a: &mut Accumulator, now: Instant, r: ProducerRecord<'_>) -> Appended {
    a.append(now, 1_000, &r, &mut None).unwrap()
}

fn poll(d: &mut Delivery) -> Poll<Result<RecordMetadata, ProduceError>> {
    Pin::new(d).poll(&mut Context::from_waker(Waker::noop()))
}

fn ack(a: &mut Accumulator, mut b: ProducerBatch, base_offset: i64) {
    b.finish(Ok(BatchAck {
        base_offset,
        log_append_time: -1,
    }));
    a.acked(&mut b);
}

#[test]
fn records_fill_one_batch_in_place_until_linger() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let mut d1 = send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"a"),
    )
    .delivery
    .unwrap();
    let mut d2 = send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"b"),
    )
    .delivery
    .unwrap();
    assert!(a.buffered() > 61);
    // Not ready before linger.
    assert!(a.drain(t0 + Duration::from_millis(4), 1, 1_000).is_empty());
    assert_eq!(
        a.next_deadline(1, true),
        Some(t0 + Duration::from_millis(5))
    );
    let batches = a.drain(t0 + Duration::from_millis(5), 1, 1_000);
    assert_eq!(batches.len(), 1);
    let mut b = batches.into_iter().next().unwrap();
    assert_eq!((b.partition, b.record_count()), (0, 2));
    let bytes = b.wire_bytes(b.stamp.unwrap()).unwrap();
    let wire = WireBatch::parse(bytes).unwrap();
    let values: Vec<_> = wire
        .records(1 << 20)
        .unwrap()
        .map(|r| r.unwrap().value_bytes().unwrap())
        .collect();
    assert_eq!(values, [&b"a"[..], &b"b"[..]]);
    assert!(poll(&mut d1).is_pending());
    ack(&mut a, b, 70);
    assert_eq!(a.buffered(), 0);
    assert!(matches!(
        poll(&mut d1),
        Poll::Ready(Ok(RecordMetadata { offset: 70, .. }))
    ));
    assert!(matches!(
        poll(&mut d2),
        Poll::Ready(Ok(RecordMetadata { offset: 71, .. }))
    ));
}

#[test]
fn a_full_batch_is_sealed_and_ready_at_once() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let value = [7u8; 50];
    let mut sealed = false;
    for _ in 0..5 {
        sealed |= send(
            &mut a,
            t0,
            ProducerRecord::new("t").partition(1).value(&value),
        )
        .wake;
    }
    assert!(sealed);
    // The first batch (3 records of ~60 bytes within 200) goes before linger.
    let batches = a.drain(t0, 1, 1_000);
    assert_eq!(batches.len(), 1);
    assert!(batches[0].size() <= 200, "{}", batches[0].size());
    assert_eq!(batches[0].record_count(), 2);
}

#[test]
fn drain_only_takes_the_brokers_partitions_and_respects_max_bytes() {
    let t0 = Instant::now();
    let mut a = acc(config());
    for p in 0..3 {
        let _ = send(
            &mut a,
            t0,
            ProducerRecord::new("t").partition(p).value(&[1u8; 120]),
        );
    }
    let later = t0 + Duration::from_millis(10);
    assert_eq!(a.drain(later, 3, 1_000).len(), 0);
    // Two batches of ~190 bytes for broker 1, but only room for one.
    let first = a.drain(later, 1, 250);
    assert_eq!(first.len(), 1);
    let second = a.drain(later, 1, 250);
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].partition, second[0].partition);
    let b2 = a.drain(later, 2, 1_000);
    assert_eq!((b2.len(), b2[0].partition), (1, 2));
}

#[test]
fn keyless_records_stick_to_one_partition_per_batch() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let mut parts = Vec::new();
    for _ in 0..12 {
        let d = send(&mut a, t0, ProducerRecord::new("t").value(&[0u8; 50]))
            .delivery
            .unwrap();
        parts.push(d.partition());
    }
    // Runs of the same partition, switching when a batch fills.
    let switches = parts.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 3, "{parts:?}");
    assert!(parts.chunks(2).all(|c| c[0] == c[1]), "{parts:?}");
}

#[test]
fn keyed_records_follow_murmur2() {
    let t0 = Instant::now();
    let mut a = Accumulator::new(config(), Arc::new(DefaultPartitioner));
    a.set_topic("six", &[Some(1); 6]);
    // murmur2 % 6: "foobar" -> 0, "key-42" -> 3, "a-little-bit-longer-string" -> 5.
    for (key, want) in [
        ("foobar", 0),
        ("key-42", 3),
        ("a-little-bit-longer-string", 5),
    ] {
        let d = send(&mut a, t0, ProducerRecord::new("six").key(key))
            .delivery
            .unwrap();
        assert_eq!(d.partition(), want, "{key}");
    }
}

#[test]
fn buffer_memory_bounds_appends_and_pressure_makes_batches_ready() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        buffer_memory: 400,
        ..config()
    });
    let v = [0u8; 100];
    let mut n = 0;
    loop {
        match a.append(
            t0,
            0,
            &ProducerRecord::new("t").partition(0).value(&v),
            &mut None,
        ) {
            Ok(_) => n += 1,
            Err(AppendError::Full) => break,
            Err(e) => panic!("{e:?}"),
        }
        assert!(n < 10);
    }
    assert!(n >= 2 && a.buffered() <= 400, "{n} {}", a.buffered());
    // Under memory pressure the open batch is ready before linger.
    assert!(a.drain(t0, 1, 1_000).len() == 1);
    a.add_memory_waiter();
    let b = a.drain(t0, 1, 1_000);
    assert_eq!(b.len(), 1);
    a.remove_memory_waiter();
    for b in b {
        ack(&mut a, b, 0);
    }
    assert!(
        a.append(
            t0,
            0,
            &ProducerRecord::new("t").partition(0).value(&v),
            &mut None
        )
        .is_ok()
    );
}

#[test]
fn oversized_records_and_bad_partitions_are_rejected() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let big = vec![0u8; 2_000];
    match a.append(t0, 0, &ProducerRecord::new("t").value(&big), &mut None) {
        Err(AppendError::Rejected(e)) => match *e {
            ProduceError::RecordTooLarge { property, .. } => {
                assert_eq!(property, "max.request.size")
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.append(t0, 0, &ProducerRecord::new("t").partition(3), &mut None),
        Err(AppendError::Rejected(e)) if matches!(*e, ProduceError::Partition { .. })
    ));
    assert!(matches!(
        a.append(t0, 0, &ProducerRecord::new("nope"), &mut None),
        Err(AppendError::UnknownTopic)
    ));
    assert_eq!(a.buffered(), 0);
}

#[test]
fn flush_readies_everything_and_tracks_completion() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let _ = send(&mut a, t0, ProducerRecord::new("t").partition(0));
    let mark = a.begin_flush();
    let _ = send(&mut a, t0, ProducerRecord::new("t").partition(2)); // after the mark
    assert!(a.pending_before(mark));
    let b = a.drain(t0, 1, 1_000);
    assert_eq!(b.len(), 1);
    for b in b {
        ack(&mut a, b, 0);
    }
    assert!(!a.pending_before(mark));
    assert_eq!(a.incomplete_batches(), 1);
    a.end_flush();
}

#[test]
fn idempotent_sequences_and_in_order_retries() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        idempotent: true,
        ..config()
    });
    let v = [0u8; 120];
    for _ in 0..4 {
        let _ = send(&mut a, t0, ProducerRecord::new("t").partition(0).value(&v));
        let _ = send(&mut a, t0, ProducerRecord::new("t").partition(0).key("k"));
    }
    // No producer id yet: nothing is sent.
    assert!(a.drain(t0 + Duration::from_secs(1), 1, 10_000).is_empty());
    a.set_producer(9, 0);
    let later = t0 + Duration::from_secs(1);
    let first = a.drain(later, 1, 10_000);
    assert_eq!(first.len(), 1);
    let s0 = first[0].stamp.unwrap();
    assert_eq!(
        (s0.producer_id, s0.producer_epoch, s0.base_sequence),
        (9, 0, 0)
    );
    // One in flight until the first ack.
    assert!(a.drain(later, 1, 10_000).is_empty());
    let n0 = first[0].record_count() as i32;
    for b in first {
        ack(&mut a, b, 0);
    }
    let b1 = a.drain(later, 1, 10_000).pop().unwrap();
    let b2 = a.drain(later, 1, 10_000).pop().unwrap();
    assert_eq!(b1.stamp.unwrap().base_sequence, n0);
    assert_eq!(
        b2.stamp.unwrap().base_sequence,
        n0 + b1.record_count() as i32
    );
    // Both fail retriably, handled in send order: they go back in order,
    // keep their sequences, and the retry goes alone.
    let (id1, seq1) = (b1.id, b1.stamp.unwrap().base_sequence);
    a.retry(b1, later, Duration::from_millis(100));
    a.retry(b2, later, Duration::from_millis(100));
    assert!(a.drain(later, 1, 10_000).is_empty(), "backoff");
    let after = later + Duration::from_millis(100);
    let r1 = a.drain(after, 1, 10_000);
    assert_eq!(r1.len(), 1);
    assert_eq!((r1[0].id, r1[0].stamp.unwrap().base_sequence), (id1, seq1));
    assert_eq!(r1[0].attempts, 2);
    assert!(a.drain(after, 1, 10_000).is_empty(), "retry goes alone");
}

#[test]
fn a_new_producer_epoch_restarts_sequences() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        idempotent: true,
        ..config()
    });
    a.set_producer(9, 0);
    let _ = send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"x"),
    );
    let b = a
        .drain(t0 + Duration::from_secs(1), 1, 1_000)
        .pop()
        .unwrap();
    assert_eq!(b.stamp.unwrap().base_sequence, 0);
    ack(&mut a, b, 0);
    let _ = send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"y"),
    );
    let b = a
        .drain(t0 + Duration::from_secs(1), 1, 1_000)
        .pop()
        .unwrap();
    assert_eq!(b.stamp.unwrap().base_sequence, 1);
    // UNKNOWN_PRODUCER_ID etc.: new epoch, the retried batch is restamped from 0.
    a.set_producer(9, 1);
    a.retry(b, t0, Duration::ZERO);
    let b = a
        .drain(t0 + Duration::from_secs(1), 1, 1_000)
        .pop()
        .unwrap();
    let s = b.stamp.unwrap();
    assert_eq!((s.producer_epoch, s.base_sequence), (1, 0));
}

#[test]
fn batches_past_delivery_timeout_expire_unless_in_flight() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        delivery_timeout: Duration::from_millis(50),
        ..config()
    });
    let mut d = send(&mut a, t0, ProducerRecord::new("t").partition(0))
        .delivery
        .unwrap();
    let _ = send(&mut a, t0, ProducerRecord::new("t").partition(2));
    let in_flight = a.drain(t0 + Duration::from_millis(10), 2, 1_000);
    assert_eq!(in_flight.len(), 1);
    let expired = a.expire(t0 + Duration::from_millis(50));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].partition, 0);
    assert_eq!(a.incomplete_batches(), 1);
    for mut b in expired {
        b.finish(Err(ProduceError::DeliveryTimeout {
            topic: "t".into(),
            partition: 0,
            after: Duration::from_millis(50),
            last_error: None,
        }));
    }
    assert!(matches!(
        poll(&mut d),
        Poll::Ready(Err(ProduceError::DeliveryTimeout { .. }))
    ));
}

#[test]
fn sequence_numbers_wrap_like_kafka() {
    assert_eq!(next_sequence(i32::MAX - 1, 2), 0);
    assert_eq!(next_sequence(i32::MAX, 1), 0);
    assert_eq!(next_sequence(5, 3), 8);
}

#[test]
fn callbacks_are_taken_only_when_the_record_is() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let mut cb: Option<Report> = Some(Report::Closure(Box::new(move |r| {
        assert!(matches!(r, Ok(RecordMetadata { offset: 5, .. })));
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    })));
    assert!(
        a.append(t0, 0, &ProducerRecord::new("nope"), &mut cb)
            .is_err()
    );
    assert!(cb.is_some());
    let _ = a
        .append(t0, 0, &ProducerRecord::new("t").partition(0), &mut cb)
        .unwrap();
    assert!(cb.is_none());
    let b = a
        .drain(t0 + Duration::from_secs(1), 1, 1_000)
        .pop()
        .unwrap();
    ack(&mut a, b, 5);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn tagged_records_need_a_handler_and_reach_it_with_their_offsets() {
    let t0 = Instant::now();
    let mut a = acc(config());
    let mut tag = Some(Report::Tag(1));
    let refused = a.append(t0, 0, &ProducerRecord::new("t").partition(0), &mut tag);
    assert!(matches!(
        refused,
        Err(AppendError::Rejected(e)) if matches!(*e, ProduceError::NoDeliveryHandler)
    ));
    assert!(tag.is_some(), "a refused record keeps its report");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    a.set_delivery_handler(Arc::new(move |tag, r| {
        s.lock().unwrap().push((tag, r.unwrap().offset));
    }));
    for t in [7, 8] {
        let mut tag = Some(Report::Tag(t));
        drop(
            a.append(t0, 0, &ProducerRecord::new("t").partition(0), &mut tag)
                .unwrap(),
        );
        assert!(tag.is_none());
    }
    let b = a
        .drain(t0 + Duration::from_secs(1), 1, 1_000)
        .pop()
        .unwrap();
    ack(&mut a, b, 40);
    assert_eq!(*seen.lock().unwrap(), vec![(7, 40), (8, 41)]);
}

#[test]
fn a_sealed_batch_waiting_for_an_in_flight_slot_sets_no_deadline() {
    // The sink sleeps until next_deadline: a batch that only waits for a
    // response must not make that "now" (the sink would spin).
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        max_in_flight: 1,
        ..config()
    });
    drop(send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"a"),
    ));
    let first = a.drain(t0 + Duration::from_millis(5), 1, 1_000);
    assert_eq!(first.len(), 1);
    let t1 = t0 + Duration::from_millis(6);
    drop(send(
        &mut a,
        t1,
        ProducerRecord::new("t").partition(0).value(b"b"),
    ));
    // Sealed at linger but held back by the one batch in flight.
    assert!(a.drain(t1 + Duration::from_millis(5), 1, 1_000).is_empty());
    assert_eq!(
        a.next_deadline(1, true),
        Some(t1 + Duration::from_secs(120)),
        "only its delivery timeout"
    );
    // A retry backoff is a real deadline.
    let mut batches = first;
    let b = batches.pop().unwrap();
    a.retry(b, t1, Duration::from_millis(100));
    assert_eq!(
        a.next_deadline(1, true),
        Some(t1 + Duration::from_millis(100))
    );
    // A sink that may not send (request slots full, throttled) only wakes
    // for delivery timeouts: the linger end of an open batch and a retry
    // backoff end are no reason to.
    drop(send(
        &mut a,
        t1,
        ProducerRecord::new("t").partition(1).value(b"c"),
    ));
    assert_eq!(
        a.next_deadline(1, true),
        Some(t1 + Duration::from_millis(5))
    );
    // (The retried batch was created at t0.)
    assert_eq!(
        a.next_deadline(1, false),
        Some(t0 + Duration::from_secs(120))
    );
}

#[test]
fn record_timestamps_follow_the_wall_clock() {
    let wall = |d: SystemTime| d.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let before = wall(SystemTime::now());
    let ms = wall_clock_ms();
    assert!(ms >= before && ms <= wall(SystemTime::now()));
    // A send without a timestamp takes the one given, and reads the
    // monotonic clock only to open a batch.
    let mut a = acc(config());
    let d = a
        .append(
            Now::Read,
            ms,
            &ProducerRecord::new("t").partition(0),
            &mut None,
        )
        .unwrap()
        .delivery
        .unwrap();
    assert_eq!(d.timestamp(), ms);
}

#[test]
fn the_size_bound_covers_the_exact_size_and_limits_still_use_the_exact_size() {
    let probe = RecordBatchBuilder::new(Compression::None);
    let h = [Header::new("k", Some(&b"v"[..]))];
    for (key, value, headers) in [
        (None, None, &[][..]),
        (Some(&b"key"[..]), Some(&[7u8; 1000][..]), &h[..]),
        (Some(&[1u8; 300][..]), None, &h[..]),
    ] {
        let exact = probe.size_with(
            i64::MAX,
            key.map(<[u8]>::len),
            value.map(<[u8]>::len),
            headers,
        );
        let bound = probe.estimated_size() + record_size_bound(key, value, headers);
        assert!(bound >= exact, "{bound} < {exact}");
        assert!(bound <= exact + 40, "a loose bound: {bound} vs {exact}");
    }
    // A record whose bound exceeds max.request.size but whose exact size
    // does not is accepted; the reported size of a rejected one is exact.
    let mut a = acc(config());
    let exact_fit = |n: usize| probe.size_with(1_000, None, Some(n), &[]);
    let n = (0..2000).rev().find(|&n| exact_fit(n) <= 1_000).unwrap();
    let value = vec![0u8; n];
    a.append(
        Instant::now(),
        1_000,
        &ProducerRecord::new("t").partition(0).value(&value),
        &mut None,
    )
    .unwrap();
    let too_big = vec![0u8; n + 1];
    match a.append(
        Instant::now(),
        1_000,
        &ProducerRecord::new("t").partition(0).value(&too_big),
        &mut None,
    ) {
        Err(AppendError::Rejected(e)) => match *e {
            ProduceError::RecordTooLarge { size, limit, .. } => {
                assert_eq!((size, limit), (exact_fit(n + 1), 1_000));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn topic_hashes_differ_for_names_that_share_prefixes_and_lengths() {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let b = BuildHasherDefault::<TopicHasher>::default();
    let names = [
        "orders",
        "orders-1",
        "orders-2",
        "orders-10",
        "a",
        "b",
        "",
        "x".repeat(17).leak(),
    ];
    let hashes: BTreeSet<u64> = names.iter().map(|n| b.hash_one(n)).collect();
    assert_eq!(hashes.len(), names.len());
}

#[test]
fn a_lingered_batch_that_cannot_be_sent_keeps_filling() {
    // Linger expired, but the partition's one in-flight slot is taken:
    // sealing now would only make a small batch that waits anyway.
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        max_in_flight: 1,
        ..config()
    });
    drop(send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"a"),
    ));
    let first = a.drain(t0 + Duration::from_millis(5), 1, 1_000);
    assert_eq!(first.len(), 1);
    let t1 = t0 + Duration::from_millis(6);
    drop(send(
        &mut a,
        t1,
        ProducerRecord::new("t").partition(0).value(b"b"),
    ));
    let late = t1 + Duration::from_millis(10);
    assert!(a.drain(late, 1, 1_000).is_empty());
    // Memory pressure (a sender waiting for space) does not cut it either.
    a.add_memory_waiter();
    assert!(a.drain(late, 1, 1_000).is_empty());
    // Later records join the same open batch.
    let c = send(
        &mut a,
        late,
        ProducerRecord::new("t").partition(0).value(b"c"),
    );
    assert!(!c.wake, "no new batch was opened");
    let d = send(
        &mut a,
        late,
        ProducerRecord::new("t").partition(0).value(b"d"),
    );
    assert!(!d.wake, "no new batch was opened");
    a.remove_memory_waiter();
    for b in first {
        ack(&mut a, b, 0);
    }
    // The slot is free: the batch is sealed and sent with all three.
    let next = a.drain(late, 1, 1_000);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].record_count(), 3);
    assert!(a.drain(late, 1, 1_000).is_empty(), "nothing else queued");
}

#[test]
fn batches_still_end_at_batch_size_while_they_wait() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        max_in_flight: 1,
        ..config()
    });
    drop(send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"a"),
    ));
    let first = a.drain(t0 + Duration::from_millis(5), 1, 1_000);
    assert_eq!(first.len(), 1);
    // 20 records of 30 bytes while the slot is taken and linger is long
    // past: batch.size (200) still ends each batch.
    let late = t0 + Duration::from_millis(50);
    let v = [1u8; 30];
    for _ in 0..20 {
        drop(send(
            &mut a,
            late,
            ProducerRecord::new("t").partition(0).value(&v),
        ));
        assert!(a.drain(late, 1, 1_000).is_empty(), "slot taken");
    }
    for b in first {
        ack(&mut a, b, 0);
    }
    let mut counts = Vec::new();
    // The last batch was opened at `late`: drain after its linger.
    let after = late + Duration::from_millis(5);
    while let Some(b) = a.drain(after, 1, 1_000).pop() {
        assert!(b.size() <= 200, "{}", b.size());
        counts.push(b.record_count());
        ack(&mut a, b, 0);
        assert!(counts.len() <= 20);
    }
    assert_eq!(counts.iter().sum::<u32>(), 20);
    assert!(counts.len() >= 3, "{counts:?}");
    assert!(
        counts[..counts.len() - 1].iter().all(|&n| n >= 3),
        "{counts:?}"
    );
}

#[test]
fn idempotent_sequences_count_records_appended_while_waiting() {
    // The sequence is stamped when a batch is drained, so records that
    // joined the open batch while the first batch was in flight are in
    // its sequence range.
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        idempotent: true,
        ..config()
    });
    a.set_producer(7, 0);
    drop(send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"a"),
    ));
    let first = a.drain(t0 + Duration::from_millis(5), 1, 1_000);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].stamp.unwrap().base_sequence, 0);
    let late = t0 + Duration::from_millis(50);
    for v in [b"b", b"c", b"d"] {
        drop(send(
            &mut a,
            t0 + Duration::from_millis(6),
            ProducerRecord::new("t").partition(0).value(v),
        ));
        // One batch in flight before the first ack: the open batch waits.
        assert!(a.drain(late, 1, 1_000).is_empty());
    }
    assert_eq!(
        a.next_deadline(1, true),
        Some(t0 + Duration::from_millis(6) + Duration::from_secs(120))
    );
    for b in first {
        ack(&mut a, b, 0);
    }
    let second = a.drain(late, 1, 1_000);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].record_count(), 3);
    assert_eq!(second[0].stamp.unwrap().base_sequence, 1);
    drop(send(
        &mut a,
        late,
        ProducerRecord::new("t").partition(0).value(b"e"),
    ));
    for b in second {
        ack(&mut a, b, 1);
    }
    let third = a.drain(late + Duration::from_millis(5), 1, 1_000);
    assert_eq!(third[0].stamp.unwrap().base_sequence, 4);
}

#[test]
fn appends_wake_a_sleeping_sink_only_when_it_would_act() {
    let t0 = Instant::now();
    let mut a = acc(config());
    const V: [u8; 60] = [7; 60];
    let rec = |p: i32| ProducerRecord::new("t").partition(p).value(&V);
    // No sink for broker 1 yet: the first batch must start one.
    assert!(send(&mut a, t0, rec(0)).wake);
    // It runs: nothing wakes it until it sleeps again.
    a.sink_running(1);
    assert!(!send(&mut a, t0, rec(1)).wake, "opened while the sink runs");

    // Asleep with every request slot taken: only a response wakes it.
    a.sink_sleeps(1, false, Some(t0 + Duration::from_secs(120)));
    assert!(!send(&mut a, t0, rec(0)).wake);
    assert!(!send(&mut a, t0, rec(0)).wake, "sealed a full batch");

    // Asleep, able to send, waking at the linger end of an open batch: a
    // new batch due later does not wake it, a sealed one does, once.
    let mut a = acc(config());
    a.sink_sleeps(1, true, Some(t0 + Duration::from_millis(5)));
    assert!(!send(&mut a, t0 + Duration::from_millis(1), rec(0)).wake);
    assert!(!send(&mut a, t0 + Duration::from_millis(1), rec(0)).wake);
    assert!(
        send(&mut a, t0 + Duration::from_millis(1), rec(0)).wake,
        "sealed"
    );
    assert!(
        !send(&mut a, t0 + Duration::from_millis(1), rec(0)).wake,
        "already woken"
    );

    // Asleep until later than a new batch's linger end: wake for it.
    a.sink_sleeps(1, true, Some(t0 + Duration::from_secs(120)));
    assert!(send(&mut a, t0 + Duration::from_millis(1), rec(1)).wake);

    // Broker 2's sink is independent of broker 1's.
    a.sink_sleeps(2, true, None);
    assert!(send(&mut a, t0, rec(2)).wake);

    // A flush makes a new batch due at once.
    let mut a = acc(config());
    a.sink_sleeps(1, true, Some(t0 + Duration::from_millis(3)));
    a.begin_flush();
    assert!(send(&mut a, t0, rec(0)).wake);

    // A partition without a leader wakes nobody (metadata comes first).
    let mut a = acc(config());
    a.set_topic("t", &[None, Some(1), Some(2)]);
    assert!(!send(&mut a, t0, rec(0)).wake);

    // A sink that exited is started again by the next batch.
    let mut a = acc(config());
    a.sink_sleeps(1, false, None);
    a.sink_gone(1);
    assert!(send(&mut a, t0, rec(0)).wake);
}

#[test]
fn a_sinks_deadline_ignores_other_brokers_linger() {
    let t0 = Instant::now();
    let mut a = acc(config());
    send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(2).value(b"x"),
    );
    // Partition 2 is led by broker 2: broker 1's sink only minds its
    // delivery timeout.
    assert_eq!(
        a.next_deadline(1, true),
        Some(t0 + Duration::from_secs(120))
    );
    assert_eq!(
        a.next_deadline(2, true),
        Some(t0 + Duration::from_millis(5))
    );
}

#[test]
fn an_expired_batch_failed_afterwards_frees_its_memory_once_and_no_slot() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        delivery_timeout: Duration::from_millis(50),
        max_in_flight: 1,
        ..config()
    });
    let v = [1u8; 150];
    // b1 goes out; b2 (same partition) waits behind it and expires.
    send(&mut a, t0, ProducerRecord::new("t").partition(0).value(&v));
    let mut sent = a.drain(t0 + Duration::from_millis(10), 1, 1_000);
    let in_flight_bytes = a.buffered();
    send(
        &mut a,
        t0 + Duration::from_millis(20),
        ProducerRecord::new("t").partition(0).value(&v),
    );
    let mut expired = a.expire(t0 + Duration::from_millis(75));
    assert_eq!(expired.len(), 1);
    assert_eq!(a.buffered(), in_flight_bytes);
    // The sink fails it (error hook, callbacks), which releases again:
    // nothing more is freed and b1 still holds its partition's one slot.
    a.failed(&mut expired[0]);
    assert_eq!(a.buffered(), in_flight_bytes);
    send(
        &mut a,
        t0 + Duration::from_millis(80),
        ProducerRecord::new("t").partition(0).value(&v),
    );
    assert!(
        a.drain(t0 + Duration::from_millis(90), 1, 1_000).is_empty(),
        "max_in_flight 1: b1 is still out"
    );
    a.acked(&mut sent[0]);
    assert_eq!(a.drain(t0 + Duration::from_millis(90), 1, 1_000).len(), 1);
}

#[test]
fn memory_waiters_are_woken_once_an_eighth_of_the_buffer_is_free() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        buffer_memory: 1_600,
        batch_size: 200,
        ..config()
    });
    let v = [0u8; 100];
    while a
        .append(t0, 0, &ProducerRecord::new("t").value(&v), &mut None)
        .is_ok()
    {}
    assert!(!a.memory_wanted(), "nobody waits");
    a.add_memory_waiter();
    let mut batches = a.drain(t0 + Duration::from_millis(5), 1, 100_000);
    batches.extend(a.drain(t0 + Duration::from_millis(5), 2, 100_000));
    assert!(batches.len() >= 3, "{}", batches.len());
    let mut woke_at = None;
    for (i, b) in batches.iter_mut().enumerate() {
        a.acked(b);
        if a.memory_wanted() {
            woke_at.get_or_insert(i);
            assert!(a.buffered() <= 1_400);
        } else {
            assert!(a.buffered() > 1_400, "{}", a.buffered());
        }
    }
    assert!(woke_at.is_some());
    assert!(a.memory_wanted(), "an empty buffer always wakes waiters");
    a.remove_memory_waiter();
    assert!(!a.memory_wanted());
}

#[test]
fn a_completed_batchs_buffer_serves_a_later_batch() {
    let t0 = Instant::now();
    let mut a = acc(AccumulatorConfig {
        batch_size: 100_000,
        max_request_size: 200_000,
        buffer_memory: 1_000_000,
        ..config()
    });
    let v = [5u8; 1000];
    for _ in 0..20 {
        send(&mut a, t0, ProducerRecord::new("t").partition(0).value(&v));
    }
    let mut b = a
        .drain(t0 + Duration::from_millis(5), 1, 1_000_000)
        .pop()
        .unwrap();
    // Built as the sink does (the request's copy of the bytes is gone by
    // the time the response comes back).
    let stamp = b.stamp.unwrap();
    let wire = b.wire_bytes(stamp).unwrap();
    let at = wire.as_ptr();
    drop(wire);
    ack(&mut a, b, 0);
    assert_eq!(a.spare.len(), 1);
    // The next batch of that size writes into it: same records, same bytes.
    for _ in 0..20 {
        send(
            &mut a,
            t0 + Duration::from_millis(6),
            ProducerRecord::new("t").partition(0).value(&v),
        );
    }
    assert!(a.spare.is_empty());
    let mut b = a
        .drain(t0 + Duration::from_millis(20), 1, 1_000_000)
        .pop()
        .unwrap();
    let wire = b.wire_bytes(b.stamp.unwrap()).unwrap();
    assert_eq!(wire.as_ptr(), at, "the first batch's buffer");
    let parsed = WireBatch::parse(wire).unwrap();
    parsed.verify_crc().unwrap();
    assert_eq!(parsed.header().record_count, 20);
}

#[test]
fn a_linger_end_is_taken_up_to_the_timer_slack_early() {
    let t0 = Instant::now();
    let mut a = acc(config());
    send(
        &mut a,
        t0,
        ProducerRecord::new("t").partition(0).value(b"x"),
    );
    let linger = config().linger;
    let before_slack = t0 + linger - TIMER_SLACK - Duration::from_micros(100);
    assert!(a.drain(before_slack, 1, 1_000).is_empty());
    // The sink's timer is set TIMER_SLACK early and may fire then.
    let within_slack = t0 + linger - TIMER_SLACK + Duration::from_micros(100);
    assert_eq!(a.drain(within_slack, 1, 1_000).len(), 1);
}
