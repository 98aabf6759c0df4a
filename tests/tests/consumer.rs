//! Klamm's consumer against the real broker, with records produced by
//! librdkafka (the peer): every codec, headers, seek/position, pause,
//! auto.offset.reset, commits.
//!
//! Broker behaviour this file states explicitly (tansu 0.6.0, see
//! tests/README.md): a Fetch that starts inside a batch returns the *next*
//! batch, and ListOffsets "latest" answers the last batch's base offset + 1.
//! Tests that seek or resume therefore use batch-aligned offsets (each
//! `produce` call below starts new batches), and where a test could see
//! either behaviour it says which result each broker gives. Mid-batch
//! fetches, leader moves, fenced epochs and OFFSET_OUT_OF_RANGE are tested
//! on the mock cluster in client/src/consumer/mock_tests.rs.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use klamm::ClientConfig;
use klamm::consumer::{
    Consumer, ConsumerConfig, IsolationLevel, Message, OffsetReset, StartOffset,
};
use klamm::group::TopicPartition;
use klamm::protocol::ErrorCode;
use klamm_tests::{broker, peer, unique_topic};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn client_config() -> ClientConfig {
    ClientConfig::builder()
        .bootstrap([broker()])
        .client_id("klamm-consumer-tests")
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("client config")
}

fn consumer_config(group: Option<&str>) -> ConsumerConfig {
    let mut props: klamm::config::Properties = [
        ("fetch.max.wait.ms", "10"),
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
    ]
    .into_iter()
    .collect();
    if let Some(g) = group {
        props.set("group.id", g);
    }
    let c = ConsumerConfig::from_properties(&mut props).expect("consumer config");
    props.finish().expect("no leftover properties");
    c
}

async fn consumer(group: Option<&str>) -> Consumer {
    Consumer::new(client_config(), consumer_config(group))
        .await
        .expect("consumer connects")
}

/// Produces `records` with librdkafka (`config`: extra librdkafka settings)
/// and returns (partition, offset) per record.
fn produce(topic: &str, records: &[Value], config: Value) -> Vec<(i32, i64)> {
    let out = peer::run(
        "produce.py",
        &json!({"bootstrap": broker(), "topic": topic, "records": records, "config": config}),
    )
    .expect("librdkafka produces");
    out["delivered"]
        .as_array()
        .expect("delivered")
        .iter()
        .map(|d| {
            (
                d["partition"].as_i64().expect("partition") as i32,
                d["offset"].as_i64().expect("offset"),
            )
        })
        .collect()
}

fn values(prefix: &str, n: usize, partition: i32) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"value": format!("{prefix}-{i}"), "partition": partition}))
        .collect()
}

async fn recv_n(c: &mut Consumer, n: usize) -> Vec<Message> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, c.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out after {} of {n} messages", out.len()))
            .expect("recv");
        out.push(m);
    }
    out
}

fn text(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
}

#[tokio::test]
async fn reads_librdkafka_records_of_every_codec_with_headers_exactly() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique_topic(&format!("consume-{codec}"));
        peer::create_topic(broker(), &json!({}), &topic, 2).expect("create topic");
        let sent: Vec<Value> = (0..60)
            .map(|i| {
                json!({
                    "key": format!("key-{i}"),
                    "value": format!("{codec} value {i} {}", "x".repeat(i * 7)),
                    "headers": [["seq", i.to_string()], ["empty", null], ["seq", "dup"]],
                    "partition": i % 2,
                    "timestamp_ms": 1_700_000_000_000i64 + i as i64,
                })
            })
            .collect();
        let delivered = produce(&topic, &sent, json!({"compression.type": codec}));

        let mut c = consumer(None).await;
        c.assign((0..2).map(|p| {
            (
                TopicPartition::new(topic.as_str(), p),
                StartOffset::Beginning,
            )
        }))
        .await
        .unwrap();
        let got = recv_n(&mut c, sent.len()).await;
        let mut by_pos: BTreeMap<(i32, i64), &Message> = BTreeMap::new();
        for m in &got {
            assert_eq!(m.topic(), topic);
            assert!(
                by_pos.insert((m.partition(), m.offset()), m).is_none(),
                "duplicate {m:?}"
            );
        }
        for (i, (rec, pos)) in sent.iter().zip(&delivered).enumerate() {
            let m = by_pos
                .get(pos)
                .unwrap_or_else(|| panic!("{codec}: record {i} at {pos:?} missing"));
            assert_eq!(
                text(m.key()).as_deref(),
                rec["key"].as_str(),
                "{codec} #{i}"
            );
            assert_eq!(
                text(m.value()).as_deref(),
                rec["value"].as_str(),
                "{codec} #{i}"
            );
            assert_eq!(
                m.timestamp(),
                rec["timestamp_ms"].as_i64().unwrap(),
                "{codec} #{i}"
            );
            let headers: Vec<(String, Option<String>)> = m
                .headers()
                .map(|h| (String::from_utf8_lossy(h.key).into_owned(), text(h.value)))
                .collect();
            assert_eq!(
                headers,
                [
                    ("seq".to_owned(), Some(i.to_string())),
                    ("empty".to_owned(), None),
                    ("seq".to_owned(), Some("dup".to_owned())),
                ],
                "{codec} #{i}"
            );
        }
        // Offsets within each partition arrive in order.
        for p in 0..2 {
            let offs: Vec<i64> = got
                .iter()
                .filter(|m| m.partition() == p)
                .map(|m| m.offset())
                .collect();
            assert!(
                offs.windows(2).all(|w| w[0] < w[1]),
                "{codec} p{p}: {offs:?}"
            );
        }
        c.close().await.unwrap();
    }
}

#[tokio::test]
async fn seek_position_lag_and_stream() {
    let topic = unique_topic("consume-seek");
    peer::create_topic(broker(), &json!({}), &topic, 1).expect("create topic");
    // Three produce calls: batches start at 0, 5 and 10 at least.
    for round in 0..3 {
        produce(&topic, &values(&format!("r{round}"), 5, 0), json!({}));
    }
    let tp = TopicPartition::new(topic.as_str(), 0);
    let mut c = consumer(None).await;
    c.assign([(tp.clone(), StartOffset::At(0))]).await.unwrap();
    assert_eq!(c.position(&tp).await.unwrap(), 0);

    let first = recv_n(&mut c, 3).await;
    assert_eq!(
        first.iter().map(|m| m.offset()).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(c.position(&tp).await.unwrap(), 3);
    assert_eq!(c.lag(&tp), Some(12), "high watermark 15, position 3");

    // Batch-aligned seek forward.
    c.seek(&tp, 10).unwrap();
    assert_eq!(c.position(&tp).await.unwrap(), 10);
    let m = recv_n(&mut c, 1).await.remove(0);
    assert_eq!((m.offset(), text(m.value()).as_deref()), (10, Some("r2-0")));

    // Back to the beginning, through the Stream API.
    c.seek_to_beginning(std::slice::from_ref(&tp)).unwrap();
    let all: Vec<Message> =
        tokio::time::timeout(WAIT, c.stream().take(15).map(|r| r.unwrap()).collect())
            .await
            .expect("15 messages");
    assert_eq!(
        all.iter().map(|m| m.offset()).collect::<Vec<_>>(),
        (0..15).collect::<Vec<_>>()
    );
    assert_eq!(c.position(&tp).await.unwrap(), 15);
    assert_eq!(c.lag(&tp), Some(0));

    // seek_to_end then new records: only those arrive.
    c.seek_to_end(std::slice::from_ref(&tp)).unwrap();
    c.position(&tp).await.unwrap();
    produce(&topic, &values("late", 3, 0), json!({}));
    let late = recv_n(&mut c, 3).await;
    assert_eq!(
        late.iter()
            .map(|m| text(m.value()).unwrap())
            .collect::<Vec<_>>(),
        ["late-0", "late-1", "late-2"]
    );

    // Seek into the middle of a batch: Kafka returns the containing batch
    // and the consumer skips to offset 7; tansu returns the next batch, so
    // the first message is 10. Either way nothing before 7 is handed out.
    c.seek(&tp, 7).unwrap();
    let m = recv_n(&mut c, 1).await.remove(0);
    assert!(
        m.offset() == 7 || m.offset() == 10,
        "got offset {}",
        m.offset()
    );

    // A batch call returns what is buffered, bounded by max.
    c.seek(&tp, 0).unwrap();
    let mut got = Vec::new();
    while got.len() < 18 {
        let batch = c.recv_batch(4, WAIT).await.unwrap();
        assert!(!batch.is_empty() && batch.len() <= 4, "{}", batch.len());
        got.extend(batch);
    }
    assert_eq!(
        got.iter().map(|m| m.offset()).collect::<Vec<_>>(),
        (0..18).collect::<Vec<_>>()
    );
    let empty = c.recv_batch(10, Duration::from_millis(200)).await.unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn a_start_inside_a_batch_hands_out_each_offset_once() {
    // The CLI reproduction: a 3-record batch at 0-2, then batches at 3 and
    // 4, read from offset 1. tansu answers with batches 3 and 4 twice.
    let topic = unique_topic("consume-mid-batch");
    peer::create_topic(broker(), &json!({}), &topic, 1).expect("create topic");
    produce(&topic, &values("a", 3, 0), json!({}));
    produce(&topic, &values("b", 1, 0), json!({}));
    produce(&topic, &values("c", 1, 0), json!({}));
    let tp = TopicPartition::new(topic.as_str(), 0);
    let mut c = consumer(None).await;
    c.assign([(tp.clone(), StartOffset::At(1))]).await.unwrap();
    let mut got = Vec::new();
    loop {
        let batch = c.recv_batch(100, Duration::from_secs(1)).await.unwrap();
        if batch.is_empty() && got.len() >= 2 {
            break;
        }
        got.extend(batch.iter().map(|m| m.offset()));
        assert!(got.len() <= 4, "more than offsets 1-4: {got:?}");
    }
    // Kafka: the containing batch, records from 1 on. tansu: the next batch.
    assert!(got == [1, 2, 3, 4] || got == [3, 4], "got {got:?}");
    assert_eq!(c.position(&tp).await.unwrap(), 5);
    assert_eq!(c.lag(&tp), Some(0));
}

#[tokio::test]
async fn paused_partitions_deliver_nothing_until_resumed() {
    let topic = unique_topic("consume-pause");
    peer::create_topic(broker(), &json!({}), &topic, 2).expect("create topic");
    let p0 = TopicPartition::new(topic.as_str(), 0);
    let p1 = TopicPartition::new(topic.as_str(), 1);
    let mut c = consumer(None).await;
    c.assign([
        (p0.clone(), StartOffset::At(0)),
        (p1.clone(), StartOffset::At(0)),
    ])
    .await
    .unwrap();
    c.pause(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(c.paused(), std::slice::from_ref(&p0));
    produce(&topic, &values("a", 4, 0), json!({}));
    produce(&topic, &values("b", 4, 1), json!({}));
    let got = recv_n(&mut c, 4).await;
    assert!(got.iter().all(|m| m.partition() == 1), "{got:?}");
    let more = c.recv_batch(10, Duration::from_millis(300)).await.unwrap();
    assert!(more.is_empty(), "paused partition delivered {more:?}");
    c.resume(std::slice::from_ref(&p0)).unwrap();
    let got = recv_n(&mut c, 4).await;
    assert!(got.iter().all(|m| m.partition() == 0), "{got:?}");
    assert_eq!(
        got.iter().map(|m| m.offset()).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

#[tokio::test]
async fn auto_offset_reset_latest_reads_only_new_records() {
    let topic = unique_topic("consume-latest");
    peer::create_topic(broker(), &json!({}), &topic, 1).expect("create topic");
    produce(&topic, &values("old", 5, 0), json!({}));
    let tp = TopicPartition::new(topic.as_str(), 0);
    let group = unique_topic("g-latest");
    let mut config = consumer_config(Some(&group));
    config.auto_offset_reset = OffsetReset::Latest;
    let mut c = Consumer::new(client_config(), config).await.unwrap();
    // The group never committed: auto.offset.reset decides.
    c.assign([(tp.clone(), StartOffset::Committed)])
        .await
        .unwrap();
    let start = c.position(&tp).await.unwrap();
    // Kafka answers 5 (the log end). tansu answers the last batch's base
    // offset + 1, inside the old batch; its Fetch then skips to the next
    // batch, so the old records stay unread on both.
    assert!((1..=5).contains(&start), "start {start}");
    produce(&topic, &values("new", 3, 0), json!({}));
    let got = recv_n(&mut c, 3).await;
    assert_eq!(
        got.iter()
            .map(|m| text(m.value()).unwrap())
            .collect::<Vec<_>>(),
        ["new-0", "new-1", "new-2"]
    );
    assert_eq!(got[0].offset(), 5);
}

#[tokio::test]
async fn auto_offset_reset_none_surfaces_errors_and_other_partitions_go_on() {
    let topic = unique_topic("consume-none");
    peer::create_topic(broker(), &json!({}), &topic, 2).expect("create topic");
    produce(&topic, &values("x", 3, 1), json!({}));
    let group = unique_topic("g-none");
    let mut config = consumer_config(Some(&group));
    config.auto_offset_reset = OffsetReset::None;
    let mut c = Consumer::new(client_config(), config).await.unwrap();
    let p0 = TopicPartition::new(topic.as_str(), 0);
    let p1 = TopicPartition::new(topic.as_str(), 1);
    c.assign([
        (p0.clone(), StartOffset::Committed),
        (p1.clone(), StartOffset::At(0)),
    ])
    .await
    .unwrap();
    let mut errors = Vec::new();
    let mut got = Vec::new();
    while got.len() < 3 || errors.is_empty() {
        match tokio::time::timeout(WAIT, c.recv())
            .await
            .expect("no stall")
        {
            Ok(m) => got.push(m),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(errors.len(), 1);
    let text = errors[0].to_string();
    assert!(
        text.contains("auto.offset.reset") && text.contains(&format!("{topic}-0")),
        "{text}"
    );
    assert!(got.iter().all(|m| m.partition() == 1));

    // An offset past the end: Kafka answers OFFSET_OUT_OF_RANGE, which
    // with no reset policy is an error for that partition. tansu answers
    // no error and no records (high watermark 3), so nothing arrives; the
    // consumer's handling of the error code is tested on the mock cluster
    // (client/src/consumer/mock_tests.rs) and in client/src/consumer/state.rs.
    c.seek(&p1, 1_000).unwrap();
    match tokio::time::timeout(Duration::from_secs(1), c.recv()).await {
        Ok(Err(err)) => assert_eq!(err.code(), Some(ErrorCode::OffsetOutOfRange), "{err}"),
        Ok(Ok(m)) => panic!("a message past the end of the log: {m:?}"),
        Err(_) => {
            assert_eq!(c.high_watermark(&p1), Some(3), "tansu: empty answer");
            assert_eq!(c.position(&p1).await.unwrap(), 1_000);
        }
    }
    // A seek restarts the partition.
    c.seek(&p1, 0).unwrap();
    assert_eq!(recv_n(&mut c, 1).await[0].offset(), 0);
}

#[tokio::test]
async fn commit_then_committed_round_trips_and_a_new_consumer_resumes_there() {
    let topic = unique_topic("consume-commit");
    peer::create_topic(broker(), &json!({}), &topic, 1).expect("create topic");
    produce(&topic, &values("a", 10, 0), json!({}));
    let tp = TopicPartition::new(topic.as_str(), 0);
    let group = unique_topic("g-commit");

    let mut c = consumer(Some(&group)).await;
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp],
        None
    );
    c.assign([(tp.clone(), StartOffset::Committed)])
        .await
        .unwrap();
    let got = recv_n(&mut c, 10).await;
    assert_eq!(got.last().unwrap().offset(), 9);
    c.commit().await.unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp].expect("committed");
    assert_eq!(committed.offset, 10, "only what was handed out");

    // Explicit offsets, then back.
    c.commit_offsets([(tp.clone(), 4)]).await.unwrap();
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp]
            .unwrap()
            .offset,
        4
    );
    c.commit_async().await.unwrap();
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp]
            .unwrap()
            .offset,
        10
    );
    drop(c);

    // A new consumer of the group starts at the committed offset (10, the
    // start of the next batch).
    produce(&topic, &values("b", 4, 0), json!({}));
    let mut config = consumer_config(Some(&group));
    config.enable_auto_commit = true;
    let mut c = Consumer::new(client_config(), config).await.unwrap();
    c.assign([(tp.clone(), StartOffset::Committed)])
        .await
        .unwrap();
    let got = recv_n(&mut c, 2).await;
    assert_eq!(got.iter().map(|m| m.offset()).collect::<Vec<_>>(), [10, 11]);
    // close() commits with auto-commit on: what was handed out, no more.
    c.close().await.unwrap();
    let c = consumer(Some(&group)).await;
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp]
            .unwrap()
            .offset,
        12
    );
}

#[tokio::test]
async fn read_committed_consumer_reads_plain_records() {
    // tansu has no transactions for librdkafka to write; this checks that a
    // read_committed consumer (isolation level 1 in Fetch and ListOffsets)
    // still reads non-transactional data. Aborted-transaction filtering is
    // unit-tested in client/src/consumer/decode.rs.
    let topic = unique_topic("consume-rc");
    peer::create_topic(broker(), &json!({}), &topic, 1).expect("create topic");
    produce(&topic, &values("rc", 5, 0), json!({}));
    let mut config = consumer_config(None);
    config.isolation_level = IsolationLevel::ReadCommitted;
    let mut c = Consumer::new(client_config(), config).await.unwrap();
    c.assign([(
        TopicPartition::new(topic.as_str(), 0),
        StartOffset::Beginning,
    )])
    .await
    .unwrap();
    let got = recv_n(&mut c, 5).await;
    assert_eq!(
        got.iter().map(|m| m.offset()).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
}

#[tokio::test]
async fn unknown_consumer_properties_are_errors_naming_them() {
    let err = Consumer::from_pairs([
        ("bootstrap.servers", broker()),
        ("group.id", "g"),
        ("fetch.max.wait", "10"),
    ])
    .await
    .unwrap_err();
    assert!(err.to_string().contains("fetch.max.wait"), "{err}");
}

/// A group member and the partitions its rebalance events say it owns.
struct Member {
    consumer: Consumer,
    owned: std::collections::BTreeSet<TopicPartition>,
}

impl Member {
    async fn join(group: &str, topic: &str) -> Self {
        let mut props: klamm::config::Properties = [
            ("bootstrap.servers", broker()),
            ("client.id", "klamm-consumer-tests"),
            ("request.timeout.ms", "10000"),
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "10"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "300"),
            ("max.poll.interval.ms", "30000"),
        ]
        .into_iter()
        .collect();
        props.set("enable.auto.commit", "true");
        let mut consumer = Consumer::from_properties(props).await.expect("consumer");
        consumer.subscribe([topic]).await.expect("subscribe");
        Self {
            consumer,
            owned: Default::default(),
        }
    }

    fn read_events(&mut self) {
        use klamm::group::GroupEvent;
        while let Some(event) = self.consumer.poll_rebalance_event() {
            match event {
                GroupEvent::Assigned { partitions, .. } => self.owned.extend(partitions),
                GroupEvent::Revoked { partitions, .. } | GroupEvent::Lost { partitions, .. } => {
                    for p in &partitions {
                        self.owned.remove(p);
                    }
                }
                GroupEvent::Fatal(f) => panic!("member failed: {f}"),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn two_group_members_share_six_partitions_and_see_each_message_once() {
    let topic = unique_topic("consume-group");
    peer::create_topic(broker(), &json!({}), &topic, 6).expect("create topic");
    let sent: Vec<Value> = (0..60)
        .map(|i| json!({"value": format!("m{i}"), "partition": i % 6}))
        .collect();
    produce(&topic, &sent, json!({}));
    let group = unique_topic("g-share");
    let mut a = Member::join(&group, &topic).await;
    let mut b = Member::join(&group, &topic).await;

    // Wait for a stable split: both own partitions, disjoint, all six.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        a.read_events();
        b.read_events();
        let all: std::collections::BTreeSet<_> = a.owned.union(&b.owned).cloned().collect();
        if !a.owned.is_empty()
            && !b.owned.is_empty()
            && a.owned.is_disjoint(&b.owned)
            && all.len() == 6
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stable split: a {:?}, b {:?}",
            a.owned,
            b.owned
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut seen: BTreeMap<(i32, i64), &str> = BTreeMap::new();
    let mut got: Vec<(Message, &str)> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < 60 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 60",
            got.len()
        );
        for (name, m) in [("a", &mut a), ("b", &mut b)] {
            for msg in m
                .consumer
                .recv_batch(100, Duration::from_millis(50))
                .await
                .unwrap()
            {
                assert!(
                    m.owned.contains(&msg.topic_partition()),
                    "{name} got {msg:?}"
                );
                got.push((msg, name));
            }
        }
    }
    for (m, name) in &got {
        let prev = seen.insert((m.partition(), m.offset()), name);
        assert!(prev.is_none(), "{m:?} seen by {prev:?} and {name}");
    }
    assert_eq!(seen.len(), 60);
    assert!(got.iter().any(|(_, n)| *n == "a") && got.iter().any(|(_, n)| *n == "b"));

    // close() commits what each member was handed and leaves the group.
    a.consumer.close().await.unwrap();
    b.consumer.close().await.unwrap();
    let checker = consumer(Some(&group)).await;
    let tps: Vec<TopicPartition> = (0..6)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    let committed = checker.committed(&tps).await.unwrap();
    for tp in &tps {
        assert_eq!(committed[tp].map(|c| c.offset), Some(10), "{tp}");
    }
}
