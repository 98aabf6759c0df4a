//! Klamm's group consumer against the real broker: pattern subscriptions,
//! the auto-commit timer, rebalance callbacks.
//!
//! Broker behaviour this file relies on (tansu 0.6.0, see tests/README.md):
//! topics are never created automatically, so every topic is created
//! explicitly with CreateTopics before anything is produced to it.

use std::time::Duration;

use klamm::consumer::{Consumer, Message};
use klamm::producer::{Producer, ProducerRecord};
use klamm::protocol::generated::CreateTopicsRequest;
use klamm::protocol::generated::create_topics::request::CreatableTopic;
use klamm::protocol::{ErrorCode, StrBytes};
use klamm::{Client, ClientConfig};
use klamm_tests::{broker, unique_topic};

const WAIT: Duration = Duration::from_secs(30);

async fn create_topic(name: &str, partitions: i32) {
    let config = ClientConfig::builder()
        .bootstrap([broker()])
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let client = Client::connect(config).await.unwrap();
    let response = client
        .send(
            &CreateTopicsRequest::default()
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(StrBytes::from(name))
                        .with_num_partitions(partitions)
                        .with_replication_factor(1),
                ])
                .with_timeout_ms(10_000),
        )
        .await
        .expect("CreateTopics");
    assert_eq!(
        ErrorCode::from_code(response.topics[0].error_code),
        ErrorCode::None,
        "{response:?}"
    );
}

async fn produce(topic: &str, values: &[String]) {
    let p = Producer::from_pairs([("bootstrap.servers", broker()), ("linger.ms", "5")])
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for v in values {
        deliveries.push(
            p.send(ProducerRecord::new(topic).value(v))
                .await
                .expect("send"),
        );
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
}

async fn group_consumer(group: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut pairs = vec![
        ("bootstrap.servers", broker()),
        ("client.id", "klamm-consumer-group-tests"),
        ("request.timeout.ms", "10000"),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "10"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "300"),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k, v));
    }
    Consumer::from_pairs(pairs).await.expect("consumer")
}

/// Receives until `n` messages of `topic` arrived (messages of other topics
/// are collected too) or [`WAIT`] passes.
async fn recv_of(c: &mut Consumer, topic: &str, n: usize) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    while got.iter().filter(|m: &&Message| m.topic() == topic).count() < n {
        let m = tokio::time::timeout_at(deadline, c.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {topic}; got {got:?}"))
            .expect("recv");
        got.push(m);
    }
    got
}

#[tokio::test]
async fn a_pattern_subscription_consumes_a_topic_created_after_subscribing() {
    let prefix = unique_topic("pattern");
    let first = format!("{prefix}.first");
    let later = format!("{prefix}.later");
    let unrelated = format!("{prefix}-unrelated");
    create_topic(&first, 2).await;
    create_topic(&unrelated, 1).await;
    produce(&first, &["f0".into(), "f1".into()]).await;
    produce(&unrelated, &["u0".into()]).await;

    let group = unique_topic("g-pattern");
    let mut c = group_consumer(&group, &[("metadata.max.age.ms", "500")]).await;
    // Dots escaped: `prefix.first` and `prefix.later` match, `prefix-unrelated`
    // does not.
    let pattern = format!("{}\\..*", regex_escape(&prefix));
    c.subscribe_pattern(&pattern)
        .await
        .expect("subscribe_pattern");
    let got = recv_of(&mut c, &first, 2).await;
    assert!(got.iter().all(|m| m.topic() == first), "{got:?}");

    create_topic(&later, 1).await;
    produce(&later, &["l0".into(), "l1".into(), "l2".into()]).await;
    let got = recv_of(&mut c, &later, 3).await;
    assert!(
        got.iter().all(|m| m.topic() == later || m.topic() == first),
        "{got:?}"
    );
    let values: Vec<&[u8]> = got
        .iter()
        .filter(|m| m.topic() == later)
        .filter_map(|m| m.value())
        .collect();
    assert_eq!(values, [&b"l0"[..], b"l1", b"l2"]);
    let mut assigned: Vec<String> = c
        .assignment()
        .iter()
        .map(|tp| tp.topic.to_string())
        .collect();
    assigned.sort();
    assigned.dedup();
    assert_eq!(assigned, [first.clone(), later.clone()]);
    c.close().await.expect("close");
}

/// Escapes the characters of a unique topic name that mean something in a
/// regular expression (`.`, the only one `unique_topic` produces).
fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}

#[tokio::test]
async fn auto_commit_commits_on_its_timer_while_the_application_is_busy() {
    let topic = unique_topic("auto-commit-timer");
    create_topic(&topic, 1).await;
    let values: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
    produce(&topic, &values).await;
    let group = unique_topic("g-auto-commit");
    let mut c = group_consumer(
        &group,
        &[
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "200"),
        ],
    )
    .await;
    c.subscribe([topic.as_str()]).await.expect("subscribe");
    let got = recv_of(&mut c, &topic, 3).await;
    assert_eq!(got.last().map(Message::offset), Some(2));

    // The application now "processes" without calling recv: the timer
    // commits what it was handed (3 messages), no more.
    let checker = group_consumer(&group, &[("enable.auto.commit", "false")]).await;
    let tp = klamm::group::TopicPartition::new(topic.as_str(), 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let committed = checker.committed(std::slice::from_ref(&tp)).await.unwrap();
        match committed[&tp].map(|c| c.offset) {
            Some(3) => break,
            other => {
                assert!(other.is_none_or(|o| o < 3), "committed {other:?}");
                assert!(tokio::time::Instant::now() < deadline, "no commit");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let committed = checker.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].map(|c| c.offset), Some(3));
    drop(c);
}
