//! Record batches across implementations, through the real broker:
//! batches Klamm encodes (every codec) are read back by librdkafka, and
//! batches librdkafka produces (every codec) are fetched and decoded by
//! Klamm's `BatchReader`.

use std::time::Duration;

use klamm::protocol::compression::Compression;
use klamm::protocol::generated::fetch::request::{FetchPartition, FetchTopic};
use klamm::protocol::generated::produce::request::{PartitionProduceData, TopicProduceData};
use klamm::protocol::generated::{FetchRequest, ProduceRequest};
use klamm::protocol::records::{Batch, BatchReader, Header, Record, RecordBatchBuilder};
use klamm::protocol::{ErrorCode, StrBytes};
use klamm::{Client, ClientConfig, Target};
use klamm_tests::{broker, peer, unique_topic};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000_000;

/// One record as both sides see it: key, value, headers (text), timestamp.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
    timestamp: i64,
}

/// Null key, null value, duplicate header keys with a null value, and
/// compressible bulk.
fn records() -> Vec<Rec> {
    let s = |v: &str| Some(v.to_string());
    let mut v = vec![
        Rec {
            key: s("k0"),
            value: s("v0"),
            headers: vec![
                ("h1".into(), s("a")),
                ("h1".into(), None),
                ("h2".into(), s("b")),
            ],
            timestamp: T0,
        },
        Rec {
            key: None,
            value: s("null-key"),
            headers: vec![],
            timestamp: T0 + 1,
        },
        Rec {
            key: s("tomb"),
            value: None,
            headers: vec![],
            timestamp: T0 + 2,
        },
    ];
    for i in 0..50 {
        v.push(Rec {
            key: Some(format!("key-{i:03}")),
            value: Some(format!(
                "value {i}: the quick brown fox jumps over the lazy dog {}",
                i % 5
            )),
            headers: vec![],
            timestamp: T0 + 3 + i,
        });
    }
    v
}

async fn client() -> Client {
    let config = ClientConfig::builder()
        .bootstrap([broker()])
        .client_id("klamm-records-interop")
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Client::connect(config).await.unwrap()
}

/// Creates a one-partition topic and returns its leader's node id.
async fn topic(client: &Client, name: &str) -> i32 {
    peer::create_topic(broker(), &json!({}), name, 1).unwrap();
    for _ in 0..50 {
        let meta = client.add_topics([name]).await.unwrap();
        if let Some((leader, _epoch)) = meta.leader(name, 0) {
            return leader.addr.id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no leader for {name}");
}

fn decoded(r: &Record) -> Rec {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    Rec {
        key: r.key().map(text),
        value: r.value().map(text),
        headers: r
            .headers()
            .map(|h| (text(h.key), h.value.map(text)))
            .collect(),
        timestamp: r.timestamp,
    }
}

fn peer_rec(v: &Value) -> Rec {
    let opt = |f: &str| v[f].as_str().map(str::to_string);
    Rec {
        key: opt("key"),
        value: opt("value"),
        headers: v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_string(),
                    h[1].as_str().map(str::to_string),
                )
            })
            .collect(),
        timestamp: v["timestamp_ms"].as_i64().unwrap(),
    }
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

#[tokio::test]
async fn librdkafka_reads_batches_klamm_encodes_with_every_codec() {
    let client = client().await;
    let want = records();
    for codec in CODECS {
        let name = unique_topic(&format!("klamm-{}", codec.name()));
        let leader = topic(&client, &name).await;
        let mut b = RecordBatchBuilder::new(codec);
        for r in &want {
            let headers: Vec<Header> = r
                .headers
                .iter()
                .map(|(k, v)| Header::new(k.clone(), v.clone()))
                .collect();
            b.append(
                r.timestamp,
                r.key.as_deref().map(str::as_bytes),
                r.value.as_deref().map(str::as_bytes),
                &headers,
            )
            .unwrap();
        }
        let batch = b.build().unwrap();
        let response = client
            .send_to(
                &Target::Broker(leader),
                &ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(10_000)
                    .with_topic_data(vec![
                        TopicProduceData::default()
                            .with_name(StrBytes::from(name.as_str()))
                            .with_partition_data(vec![
                                PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(batch.into_bytes())),
                            ]),
                    ]),
            )
            .await
            .unwrap();
        let p = &response.responses[0].partition_responses[0];
        assert_eq!(
            ErrorCode::from_code(p.error_code),
            ErrorCode::None,
            "{codec:?}: {p:?}"
        );

        let out = peer::run(
            "consume.py",
            &json!({"bootstrap": broker(), "topic": name, "count": want.len(), "timeout_s": 30}),
        )
        .unwrap();
        assert_eq!(out["timed_out"], json!(false), "{codec:?}: {out}");
        let got: Vec<Rec> = out["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(peer_rec)
            .collect();
        assert_eq!(
            got, want,
            "{codec:?}: librdkafka read back what Klamm wrote"
        );
        let offsets: Vec<i64> = out["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(
            offsets,
            (0..want.len() as i64).collect::<Vec<_>>(),
            "{codec:?}"
        );
    }
}

#[tokio::test]
async fn klamm_decodes_batches_librdkafka_produces_with_every_codec() {
    let client = client().await;
    let want = records();
    for codec in CODECS {
        let name = unique_topic(&format!("rdkafka-{}", codec.name()));
        let leader = topic(&client, &name).await;
        let input: Vec<Value> = want
            .iter()
            .map(|r| {
                json!({"key": r.key, "value": r.value, "timestamp_ms": r.timestamp,
                       "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()})
            })
            .collect();
        peer::run(
            "produce.py",
            &json!({"bootstrap": broker(), "topic": name, "records": input,
                    "config": {"compression.type": codec.name(), "linger.ms": 100}}),
        )
        .unwrap();

        let topic_id = client.metadata().topic(&name).unwrap().id;
        let mut got = Vec::new();
        let mut codecs_seen = Vec::new();
        let mut offset = 0i64;
        // Bounded: each round either advances or the test fails at the end.
        for _ in 0..20 {
            if got.len() >= want.len() {
                break;
            }
            let response = client
                .send_to(
                    &Target::Broker(leader),
                    &FetchRequest::default()
                        .with_replica_id(-1)
                        .with_max_wait_ms(10)
                        .with_min_bytes(1)
                        .with_max_bytes(1 << 20)
                        .with_topics(vec![
                            FetchTopic::default()
                                .with_topic(StrBytes::from(name.as_str()))
                                .with_topic_id(topic_id)
                                .with_partitions(vec![
                                    FetchPartition::default()
                                        .with_partition(0)
                                        .with_fetch_offset(offset)
                                        .with_partition_max_bytes(1 << 20),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            let p = &response.responses[0].partitions[0];
            assert_eq!(ErrorCode::from_code(p.error_code), ErrorCode::None, "{p:?}");
            let Some(bytes) = p.records.clone() else {
                continue;
            };
            for batch in BatchReader::new(bytes) {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) if e.is_incomplete() => break,
                    Err(e) => panic!("{codec:?}: {e}"),
                };
                let Batch::V2(wire) = &batch else {
                    panic!("{codec:?}: legacy batch from a v2 producer")
                };
                codecs_seen.push(wire.compression());
                for r in batch.records(1 << 24).unwrap() {
                    let r = r.unwrap();
                    if r.offset >= offset {
                        got.push(decoded(&r));
                        offset = r.offset + 1;
                    }
                }
            }
        }
        assert_eq!(got, want, "{codec:?}: Klamm decoded what librdkafka wrote");
        assert!(
            !codecs_seen.is_empty() && codecs_seen.iter().all(|c| *c == codec),
            "{codec:?}: {codecs_seen:?}"
        );
    }
}
