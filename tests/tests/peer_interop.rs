//! librdkafka (the peer) against the harness's broker: topics, produce,
//! consume by assignment and through a consumer group.

use std::collections::BTreeMap;

use klamm_tests::{broker, peer, unique_topic};
use serde_json::{Value, json};

fn records(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "key": format!("key-{i}"),
                "value": format!("value-{i}"),
                "headers": [["seq", i.to_string()], ["empty", null]],
            })
        })
        .collect()
}

#[test]
fn librdkafka_creates_a_topic_and_sees_it_in_metadata() {
    let topic = unique_topic("peer-metadata");
    peer::create_topic(broker(), &json!({}), &topic, 3).expect("create topic");
    let meta = peer::run(
        "admin.py",
        &json!({"bootstrap": broker(), "op": "metadata", "topics": [topic]}),
    )
    .expect("metadata");
    assert_eq!(meta["topics"][&topic]["error"], Value::Null, "{meta}");
    assert_eq!(
        meta["topics"][&topic]["partitions"],
        json!([0, 1, 2]),
        "{meta}"
    );
    let brokers = meta["brokers"].as_array().expect("brokers");
    assert!(!brokers.is_empty(), "{meta}");
}

#[test]
fn librdkafka_round_trips_records_with_keys_and_headers() {
    let topic = unique_topic("peer-roundtrip");
    peer::create_topic(broker(), &json!({}), &topic, 3).expect("create topic");
    let sent = records(30);
    let produced = peer::run(
        "produce.py",
        &json!({"bootstrap": broker(), "topic": topic, "records": sent}),
    )
    .expect("produce");
    let delivered = produced["delivered"].as_array().expect("delivered");
    assert_eq!(delivered.len(), 30);

    // Offsets per partition are 0, 1, 2, ... in send order (same key, same
    // partition, and one producer keeps order within a partition).
    let mut per_partition: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for d in delivered {
        assert_eq!(d["error"], Value::Null, "{d}");
        per_partition
            .entry(d["partition"].as_i64().expect("partition"))
            .or_default()
            .push(d["offset"].as_i64().expect("offset"));
    }
    for offsets in per_partition.values() {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, &expected);
    }

    let consumed = peer::run(
        "consume.py",
        &json!({"bootstrap": broker(), "topic": topic, "count": 30, "timeout_s": 30}),
    )
    .expect("consume");
    assert_eq!(consumed["timed_out"], json!(false), "{consumed}");
    let mut got: Vec<(String, String, Value)> = consumed["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().expect("key").to_owned(),
                r["value"].as_str().expect("value").to_owned(),
                r["headers"].clone(),
            )
        })
        .collect();
    got.sort_by_key(|(k, _, _)| k[4..].parse::<u32>().expect("key number"));
    assert_eq!(got.len(), 30);
    for (i, (key, value, headers)) in got.iter().enumerate() {
        assert_eq!(key, &format!("key-{i}"));
        assert_eq!(value, &format!("value-{i}"));
        assert_eq!(headers, &json!([["seq", i.to_string()], ["empty", null]]));
    }
}

#[test]
fn librdkafka_consumer_group_reads_every_record() {
    let topic = unique_topic("peer-group");
    peer::create_topic(broker(), &json!({}), &topic, 2).expect("create topic");
    peer::run(
        "produce.py",
        &json!({"bootstrap": broker(), "topic": topic, "records": records(10)}),
    )
    .expect("produce");
    let consumed = peer::run(
        "consume.py",
        &json!({
            "bootstrap": broker(),
            "topic": topic,
            "group": unique_topic("group"),
            "count": 10,
            "timeout_s": 45,
        }),
    )
    .expect("consume in a group");
    assert_eq!(consumed["timed_out"], json!(false), "{consumed}");
    let mut values: Vec<String> = consumed["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["value"].as_str().expect("value").to_owned())
        .collect();
    values.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("value-{i}")).collect();
    expected.sort();
    assert_eq!(values, expected);
}
