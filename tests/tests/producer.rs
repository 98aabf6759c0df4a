//! Klamm's producer against the real broker, read back by librdkafka.
//!
//! Broker behaviour these tests rely on, measured on tansu 0.6 (see
//! tests/README.md): acks=0 requests still get a response; InitProducerId v2+
//! is rejected (the producer falls back to v1, so idempotence is on here
//! too); one broker leads every partition (multi-broker routing, leader moves
//! and failure injection are tested on the mock cluster in
//! client/src/producer/mock_tests.rs).

use std::collections::BTreeMap;
use std::time::Duration;

use klamm::producer::{Delivery, Producer, ProducerRecord, key_partition};
use klamm::protocol::records::Header;
use klamm_tests::{broker, peer, unique_topic};
use serde_json::{Value, json};

async fn producer(extra: &[(&str, &str)]) -> Producer {
    let mut pairs = vec![("bootstrap.servers", broker()), ("linger.ms", "5")];
    pairs.extend_from_slice(extra);
    Producer::from_pairs(pairs).await.expect("producer")
}

fn consume(topic: &str, count: usize) -> Vec<Value> {
    let out = peer::run(
        "consume.py",
        &json!({"bootstrap": broker(), "topic": topic, "count": count, "timeout_s": 60}),
    )
    .expect("consume");
    assert_eq!(
        out["timed_out"],
        json!(false),
        "librdkafka read too few records"
    );
    out["records"].as_array().expect("records").clone()
}

/// Produces `n` keyed records with headers to a fresh 6-partition topic with
/// `compression.type` and `acks`, then compares what librdkafka reads back,
/// record by record.
async fn round_trip(codec: &str, acks: &str, n: usize) {
    let topic = unique_topic(&format!("produce-{codec}-acks{acks}"));
    peer::create_topic(broker(), &json!({}), &topic, 6).expect("create topic");
    let p = producer(&[("compression.type", codec), ("acks", acks)]).await;
    let mut sent = Vec::new();
    let mut futures: Vec<Delivery> = Vec::new();
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("{codec}-value-{i}-{}", "x".repeat(i % 50));
        let headers = [
            Header::new(&b"seq"[..], Some(i.to_string().into_bytes())),
            Header::new(&b"empty"[..], None::<Vec<u8>>),
        ];
        let record = ProducerRecord::new(&topic)
            .key(&key)
            .value(&value)
            .headers(&headers);
        futures.push(p.send(record).await.expect("send"));
        sent.push((key, value));
    }
    let mut reported = Vec::new();
    for f in futures {
        reported.push(f.await.expect("delivered"));
    }
    assert!(p.close(Duration::from_secs(10)).await);

    let records = consume(&topic, n);
    assert_eq!(records.len(), n);
    let mut by_key: BTreeMap<String, &Value> = BTreeMap::new();
    for r in &records {
        by_key.insert(r["key"].as_str().expect("key").to_owned(), r);
    }
    for (i, ((key, value), meta)) in sent.iter().zip(&reported).enumerate() {
        let r = by_key
            .get(key)
            .unwrap_or_else(|| panic!("{key} not read back"));
        assert_eq!(r["value"].as_str(), Some(value.as_str()), "{key}");
        assert_eq!(
            r["partition"].as_i64(),
            Some(i64::from(meta.partition)),
            "{key}"
        );
        assert_eq!(meta.partition, key_partition(key.as_bytes(), 6), "{key}");
        assert_eq!(
            r["headers"],
            json!([["seq", i.to_string()], ["empty", null]]),
            "{key}"
        );
        if acks == "0" {
            assert_eq!(meta.offset, -1, "acks=0 reports no offset");
        } else {
            assert_eq!(r["offset"].as_i64(), Some(meta.offset), "{key}");
        }
    }
    // Within a partition, librdkafka reads them in send order.
    let mut last: BTreeMap<i64, usize> = BTreeMap::new();
    for r in &records {
        let part = r["partition"].as_i64().expect("partition");
        let i: usize = r["key"].as_str().expect("key")[4..].parse().expect("index");
        if let Some(prev) = last.insert(part, i) {
            assert!(prev < i, "partition {part}: {prev} then {i}");
        }
    }
}

#[tokio::test]
async fn every_codec_and_acks_setting_reads_back_in_librdkafka() {
    for (codec, acks) in [
        ("none", "all"),
        ("gzip", "1"),
        ("snappy", "0"),
        ("lz4", "all"),
        ("zstd", "1"),
        ("none", "0"),
        ("lz4", "1"),
    ] {
        round_trip(codec, acks, 300).await;
    }
}

#[test]
fn keyed_partitions_match_librdkafkas_java_compatible_partitioner() {
    // librdkafka's murmur2_random is documented as Java-compatible; its
    // choices are an independent check of ours.
    let topic = unique_topic("produce-murmur2");
    peer::create_topic(broker(), &json!({}), &topic, 6).expect("create topic");
    let keys: Vec<String> = (0..60)
        .map(|i| format!("user-{i}"))
        .chain(["".into(), "\u{e9}t\u{e9}".into()])
        .collect();
    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({"key": k, "value": "v"}))
        .collect();
    let out = peer::run(
        "produce.py",
        &json!({"bootstrap": broker(), "topic": topic, "records": records,
                "config": {"partitioner": "murmur2_random"}}),
    )
    .expect("produce");
    let delivered = out["delivered"].as_array().expect("delivered");
    for (key, d) in keys.iter().zip(delivered) {
        assert_eq!(
            d["partition"].as_i64(),
            Some(i64::from(key_partition(key.as_bytes(), 6))),
            "key {key:?}"
        );
    }
}

#[tokio::test]
async fn a_tiny_buffer_applies_back_pressure_and_loses_nothing() {
    let topic = unique_topic("produce-backpressure");
    peer::create_topic(broker(), &json!({}), &topic, 3).expect("create topic");
    let p = producer(&[("buffer.memory", "4096"), ("batch.size", "1024")]).await;
    let value = [b'v'; 100];
    let mut futures = Vec::new();
    let mut max_queued = 0;
    let mut full = 0;
    for i in 0..2000u32 {
        let key = i.to_string();
        let record = ProducerRecord::new(&topic).key(&key).value(&value);
        match p.try_send(record) {
            Ok(d) => futures.push(d),
            Err(klamm::producer::ProduceError::QueueFull { .. }) => {
                full += 1;
                futures.push(p.send(record).await.expect("send waits for room"));
            }
            Err(klamm::producer::ProduceError::MetadataPending { .. }) => {
                futures.push(p.send(record).await.expect("send waits for metadata"));
            }
            Err(e) => panic!("{e}"),
        }
        max_queued = max_queued.max(p.metrics().queued_bytes);
    }
    assert!(full > 0, "the buffer never filled");
    assert!(max_queued <= 4096, "queued {max_queued} bytes");
    for f in futures {
        f.await.expect("delivered");
    }
    p.flush().await;
    let m = p.metrics();
    assert_eq!(
        (m.records_sent, m.records_failed, m.queued_bytes),
        (2000, 0, 0)
    );
    assert!(p.close(Duration::from_secs(5)).await);
    assert_eq!(consume(&topic, 2000).len(), 2000);
}

#[tokio::test]
async fn flush_delivers_keyless_records_sticky_per_batch() {
    let topic = unique_topic("produce-flush");
    peer::create_topic(broker(), &json!({}), &topic, 6).expect("create topic");
    let p = producer(&[("linger.ms", "60000"), ("batch.size", "2000")]).await;
    let value = [b'k'; 200];
    let mut futures = Vec::new();
    for _ in 0..100 {
        futures.push(
            p.send(ProducerRecord::new(&topic).value(&value))
                .await
                .expect("send"),
        );
    }
    // linger.ms is a minute: only flush can make them go now.
    tokio::time::timeout(Duration::from_secs(20), p.flush())
        .await
        .expect("flush finished");
    let mut parts = Vec::new();
    for f in futures {
        parts.push(f.await.expect("delivered").partition);
    }
    // Sticky: runs of one partition, about one batch (~9 records) long, and
    // more than one partition used.
    let switches = parts.windows(2).filter(|w| w[0] != w[1]).count();
    assert!((5..=30).contains(&switches), "{parts:?}");
    assert_eq!(consume(&topic, 100).len(), 100);
}

/// tansu sometimes checks pipelined idempotent Produce requests out of
/// order and answers OUT_OF_ORDER_SEQUENCE_NUMBER (tests/README.md): with 5
/// batches in flight per partition, 100,000 records must still all arrive,
/// once each, in send order per partition.
#[tokio::test]
async fn five_batches_in_flight_deliver_100000_records_once_in_order() {
    const N: usize = 100_000;
    let topic = unique_topic("produce-inflight5");
    peer::create_topic(broker(), &json!({}), &topic, 3).expect("create topic");
    let p = producer(&[("max.in.flight.requests.per.connection", "5")]).await;
    let mut futures: Vec<Delivery> = Vec::with_capacity(N);
    for i in 0..N {
        let key = format!("key-{i}");
        let record = ProducerRecord::new(&topic).key(&key).value(&key);
        futures.push(p.send(record).await.expect("send"));
    }
    let mut reported = Vec::with_capacity(N);
    for f in futures {
        reported.push(f.await.expect("delivered"));
    }
    let m = p.metrics();
    assert_eq!((m.records_sent, m.records_failed), (N as u64, 0));
    assert!(p.close(Duration::from_secs(10)).await);
    // Reported offsets increase in send order within each partition.
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, meta) in reported.iter().enumerate() {
        if let Some(prev) = last.insert(meta.partition, meta.offset) {
            assert!(
                prev < meta.offset,
                "record {i}: offset {} after {prev}",
                meta.offset
            );
        }
    }

    let records = consume(&topic, N);
    assert_eq!(records.len(), N);
    let mut seen = vec![false; N];
    let mut last: BTreeMap<i64, usize> = BTreeMap::new();
    for r in &records {
        let key = r["key"].as_str().expect("key");
        assert_eq!(r["value"].as_str(), Some(key));
        let i: usize = key[4..].parse().expect("index");
        assert!(!std::mem::replace(&mut seen[i], true), "{key} read twice");
        let part = r["partition"].as_i64().expect("partition");
        assert_eq!(Some(part), Some(i64::from(reported[i].partition)), "{key}");
        assert_eq!(r["offset"].as_i64(), Some(reported[i].offset), "{key}");
        if let Some(prev) = last.insert(part, i) {
            assert!(prev < i, "partition {part}: {prev} then {i}");
        }
    }
}
