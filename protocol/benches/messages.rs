//! Encode and decode of three message shapes, klamm-protocol against the
//! `kafka-protocol` crate on identical content in the same process:
//! - Produce v9 request carrying one 1,000-record batch (raw bytes),
//! - Fetch v12 response carrying that batch for 10 partitions,
//! - Metadata v12 response with 100 topics x 10 partitions.
//!
//! Both sides must produce the same bytes (checked before measuring), so the
//! comparison is like for like.
//!
//!     cargo bench -p klamm-protocol --bench messages

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::StrBytes as KpStr;
use klamm_protocol::compression::Compression;
use klamm_protocol::generated::fetch::response as fetch;
use klamm_protocol::generated::metadata::response as md;
use klamm_protocol::generated::produce::request as produce;
use klamm_protocol::records::RecordBatchBuilder;
use klamm_protocol::{Decodable, Encodable, StrBytes};

const PRODUCE_V: i16 = 9;
const FETCH_V: i16 = 12;
const METADATA_V: i16 = 12;

fn batch() -> Bytes {
    let mut b = RecordBatchBuilder::new(Compression::None);
    let value = [b'v'; 80];
    for i in 0..1000u32 {
        let key = format!("key-{i}");
        b.append(
            1_700_000_000_000 + i64::from(i),
            Some(key.as_bytes()),
            Some(&value),
            &[],
        )
        .expect("append");
    }
    b.build().expect("build").into_bytes()
}

fn kstr(s: &str) -> KpStr {
    KpStr::from_string(s.to_string())
}

fn ours_produce(records: &Bytes) -> produce::ProduceRequest {
    produce::ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            produce::TopicProduceData::default()
                .with_name(StrBytes::from_static("bench-topic"))
                .with_partition_data(vec![
                    produce::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records.clone())),
                ]),
        ])
}

fn theirs_produce(records: &Bytes) -> kp::ProduceRequest {
    kp::ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            kp::produce_request::TopicProduceData::default()
                .with_name(kp::TopicName(kstr("bench-topic")))
                .with_partition_data(vec![
                    kp::produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records.clone())),
                ]),
        ])
}

fn ours_fetch(records: &Bytes) -> fetch::FetchResponse {
    let partitions = (0..10)
        .map(|p| {
            fetch::PartitionData::default()
                .with_partition_index(p)
                .with_high_watermark(1000)
                .with_last_stable_offset(1000)
                .with_log_start_offset(0)
                .with_records(Some(records.clone()))
        })
        .collect();
    fetch::FetchResponse::default()
        .with_session_id(7)
        .with_responses(vec![
            fetch::FetchableTopicResponse::default()
                .with_topic(StrBytes::from_static("bench-topic"))
                .with_partitions(partitions),
        ])
}

fn theirs_fetch(records: &Bytes) -> kp::FetchResponse {
    let partitions = (0..10)
        .map(|p| {
            kp::fetch_response::PartitionData::default()
                .with_partition_index(p)
                .with_high_watermark(1000)
                .with_last_stable_offset(1000)
                .with_log_start_offset(0)
                .with_records(Some(records.clone()))
        })
        .collect();
    kp::FetchResponse::default()
        .with_session_id(7)
        .with_responses(vec![
            kp::fetch_response::FetchableTopicResponse::default()
                .with_topic(kp::TopicName(kstr("bench-topic")))
                .with_partitions(partitions),
        ])
}

fn ours_metadata() -> md::MetadataResponse {
    let brokers = (0..3)
        .map(|b| {
            md::MetadataResponseBroker::default()
                .with_node_id(b)
                .with_host(StrBytes::from(format!("broker-{b}.example.com")))
                .with_port(9092)
        })
        .collect();
    let topics = (0..100)
        .map(|t| {
            let partitions = (0..10)
                .map(|p| {
                    md::MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_id(p % 3)
                        .with_leader_epoch(5)
                        .with_replica_nodes(vec![0, 1, 2])
                        .with_isr_nodes(vec![0, 1, 2])
                })
                .collect();
            md::MetadataResponseTopic::default()
                .with_name(Some(StrBytes::from(format!("topic-{t:03}"))))
                .with_topic_id(klamm_protocol::Uuid::from_bytes([t as u8; 16]))
                .with_partitions(partitions)
        })
        .collect();
    md::MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static("bench-cluster")))
        .with_controller_id(1)
        .with_topics(topics)
}

fn theirs_metadata() -> kp::MetadataResponse {
    let brokers = (0..3)
        .map(|b| {
            kp::metadata_response::MetadataResponseBroker::default()
                .with_node_id(kp::BrokerId(b))
                .with_host(kstr(&format!("broker-{b}.example.com")))
                .with_port(9092)
        })
        .collect();
    let topics = (0..100)
        .map(|t| {
            let partitions = (0..10)
                .map(|p| {
                    kp::metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_id(kp::BrokerId(p % 3))
                        .with_leader_epoch(5)
                        .with_replica_nodes(vec![kp::BrokerId(0), kp::BrokerId(1), kp::BrokerId(2)])
                        .with_isr_nodes(vec![kp::BrokerId(0), kp::BrokerId(1), kp::BrokerId(2)])
                })
                .collect();
            kp::metadata_response::MetadataResponseTopic::default()
                .with_name(Some(kp::TopicName(kstr(&format!("topic-{t:03}")))))
                .with_topic_id(uuid::Uuid::from_bytes([t as u8; 16]))
                .with_partitions(partitions)
        })
        .collect();
    kp::MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(kstr("bench-cluster")))
        .with_controller_id(kp::BrokerId(1))
        .with_topics(topics)
}

/// Runs the four measurements for one message shape after checking both
/// libraries write the same bytes.
fn compare<O, T>(c: &mut Criterion, name: &str, version: i16, ours: O, theirs: T)
where
    O: Encodable + Decodable,
    T: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::Decodable,
{
    let mut a = BytesMut::new();
    ours.encode(&mut a, version).expect("klamm encodes");
    let mut b = BytesMut::new();
    theirs
        .encode(&mut b, version)
        .expect("kafka-protocol encodes");
    assert_eq!(a, b, "{name}: the two libraries disagree on the bytes");
    let wire = a.freeze();

    let mut g = c.benchmark_group(name);
    g.throughput(criterion::Throughput::Bytes(wire.len() as u64));
    let mut buf = BytesMut::with_capacity(wire.len() * 2);
    g.bench_function("encode/klamm", |bench| {
        bench.iter(|| {
            buf.clear();
            black_box(&ours).encode(&mut buf, version).expect("encode");
            black_box(buf.len())
        })
    });
    g.bench_function("encode/kafka-protocol", |bench| {
        bench.iter(|| {
            buf.clear();
            black_box(&theirs)
                .encode(&mut buf, version)
                .expect("encode");
            black_box(buf.len())
        })
    });
    g.bench_function("decode/klamm", |bench| {
        bench.iter(|| O::decode(&mut black_box(wire.clone()), version).expect("decode"))
    });
    g.bench_function("decode/kafka-protocol", |bench| {
        bench.iter(|| T::decode(&mut black_box(wire.clone()), version).expect("decode"))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let records = batch();
    assert!(
        records.len() > 90_000,
        "batch of 1,000 records is {} bytes",
        records.len()
    );
    compare(
        c,
        "produce_v9_1000_records",
        PRODUCE_V,
        ours_produce(&records),
        theirs_produce(&records),
    );
    compare(
        c,
        "fetch_v12_10_partitions",
        FETCH_V,
        ours_fetch(&records),
        theirs_fetch(&records),
    );
    compare(
        c,
        "metadata_v12_100x10",
        METADATA_V,
        ours_metadata(),
        theirs_metadata(),
    );
}

criterion_group!(messages, benches);
criterion_main!(messages);
