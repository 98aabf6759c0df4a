//! The service against the real broker (tansu, through the klamm-tests
//! harness): every endpoint answers as documented, and what it produced is
//! read back with Klamm's consumer, record by record.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{ROUTES, Running, item};
use klamm::ClientConfig;
use klamm::admin::{Admin, NewTopic};
use klamm::consumer::{Consumer, StartOffset};
use klamm::group::TopicPartition;
use klamm_tests::{broker, unique_topic};
use klamm_web_service::Settings;

const PARTITIONS: i32 = 3;
/// Records posted to each producing endpoint.
const PER_ROUTE: usize = 8;

async fn create_topic(topic: &str) {
    let config = ClientConfig::builder()
        .bootstrap([broker()])
        .build()
        .expect("client config");
    let admin = Admin::connect(config)
        .await
        .expect("admin")
        .with_timeout(Duration::from_secs(20));
    admin
        .create_topics(&[NewTopic::new(topic, PARTITIONS, 1)], false)
        .await
        .into_result()
        .expect("create topic");
}

/// Everything in `topic`, read from the beginning, until `want` records
/// came or 30 s passed. Key → (partition, offset, value).
async fn read_back(topic: &str, want: usize) -> BTreeMap<String, (i32, i64, String)> {
    let mut consumer = Consumer::from_pairs([
        ("bootstrap.servers", broker()),
        ("fetch.max.wait.ms", "10"),
        ("enable.auto.commit", "false"),
    ])
    .await
    .expect("consumer");
    consumer
        .assign((0..PARTITIONS).map(|p| (TopicPartition::new(topic, p), StartOffset::Beginning)))
        .await
        .expect("assign");
    let mut out = BTreeMap::new();
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count < want && Instant::now() < deadline {
        for m in consumer
            .recv_batch(500, Duration::from_millis(500))
            .await
            .expect("recv")
        {
            count += 1;
            let key = String::from_utf8(m.key().expect("key").to_vec()).expect("key UTF-8");
            let value = String::from_utf8(m.value().expect("value").to_vec()).expect("UTF-8");
            assert!(
                out.insert(key.clone(), (m.partition(), m.offset(), value))
                    .is_none(),
                "{key} read twice"
            );
        }
    }
    // Anything beyond `want` would be a record that should not exist: give
    // it a moment to show up.
    let extra = consumer
        .recv_batch(500, Duration::from_millis(300))
        .await
        .expect("recv");
    assert!(
        extra.is_empty(),
        "unexpected extra records: {}",
        extra.len()
    );
    consumer.close().await.expect("close consumer");
    out
}

async fn wait_for_stats(svc: &Running, what: &str, want: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = svc.stats().await;
        if stats[what].as_u64() == Some(want) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never reached {want}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_and_its_records_read_back() {
    let topic = unique_topic("web-items");
    create_topic(&topic).await;
    let svc = Running::start(Settings::new(broker(), &topic).property("linger.ms", "2")).await;

    // Invalid bodies: 400 with the reason, on every endpoint, nothing produced.
    for route in ROUTES {
        for (body, reason) in [
            ("{", "invalid JSON"),
            (r#"{"id":"x","name":"n","quantity":0}"#, "quantity"),
            (
                r#"{"id":"x","name":"n","quantity":1,"extra":true}"#,
                "unknown field",
            ),
        ] {
            let r = svc.post(route, body).await;
            assert_eq!(r.status, 400, "{route} {body}: {}", r.body);
            let text = r.json()["error"].as_str().expect("error text").to_owned();
            assert!(text.contains(reason), "{route}: {text}");
        }
    }

    let r = svc.post("/noop/items", &item("noop-0", 1)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"id": "noop-0"}));

    let mut sent: BTreeMap<String, String> = BTreeMap::new();
    let mut awaited: BTreeMap<String, (i32, i64, i64)> = BTreeMap::new();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for (route, prefix) in [
        ("/fire-and-forget/items", "ff"),
        ("/callback/items", "cb"),
        ("/callback-task/items", "task"),
        ("/await/items", "await"),
    ] {
        for i in 0..PER_ROUTE {
            let id = format!("{prefix}-{i}");
            let body = item(&id, i as u32 + 1);
            let r = svc.post(route, &body).await;
            let json = r.json();
            assert_eq!(json["id"], id.as_str(), "{route}");
            if route == "/await/items" {
                assert_eq!(r.status, 201, "{}", r.body);
                let partition = json["partition"].as_i64().expect("partition") as i32;
                let offset = json["offset"].as_i64().expect("offset");
                let timestamp = json["timestamp"].as_i64().expect("timestamp");
                assert!((0..PARTITIONS).contains(&partition), "{json}");
                assert!(offset >= 0, "{json}");
                assert!(timestamp >= before - 1000, "{json}");
                awaited.insert(id.clone(), (partition, offset, timestamp));
            } else {
                assert_eq!(r.status, 202, "{route}: {}", r.body);
            }
            sent.insert(id, body);
        }
    }
    // The out-of-band paths report every delivery.
    wait_for_stats(&svc, "callback_delivered", PER_ROUTE as u64).await;
    let stats = wait_for_stats(&svc, "task_delivered", PER_ROUTE as u64).await;
    assert_eq!(stats["callback_failed"], 0);
    assert_eq!(stats["task_failed"], 0);
    assert_eq!(stats["task_dropped"], 0);
    assert_eq!(stats["rejected_busy"], 0);
    assert_eq!(stats["hook_failed_records"], 0);

    let summary = svc.stop().await;
    assert!(summary.flushed);
    assert_eq!(summary.stats.producer_records_sent, 4 * PER_ROUTE as u64);
    assert_eq!(summary.stats.producer_queued_bytes, 0);

    // Exactly what was accepted is in the topic: the bodies as posted,
    // keyed by id, at the offsets the awaitable endpoint reported; nothing
    // from the no-op endpoint or from rejected bodies.
    let got = read_back(&topic, sent.len()).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>()
    );
    for (id, body) in &sent {
        assert_eq!(&got[id].2, body, "{id}");
    }
    for (id, (partition, offset, _)) in &awaited {
        assert_eq!((got[id].0, got[id].1), (*partition, *offset), "{id}");
    }
}

/// The binary itself: flags, `--port 0`, `--create-topic`, and SIGTERM's graceful shutdown,
/// which must deliver what is still queued (a long `linger.ms` keeps the
/// records in the producer's buffer until the signal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_the_producer_and_delivers_what_is_queued() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    // The binary creates the topic itself (--create-topic).
    let topic = unique_topic("web-sigterm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_klamm-web-service"))
        .args(["--bootstrap", broker(), "--topic", &topic, "--port", "0"])
        .args(["--create-topic", &PARTITIONS.to_string()])
        .args(["-X", "linger.ms=60000", "--log", "warn"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the service");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader")
    .expect("read the address line");
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");

    let mut sent = BTreeMap::new();
    for i in 0..5 {
        let id = format!("term-{i}");
        let body = item(&id, 1);
        // The first request may arrive while the producer is still starting.
        let deadline = Instant::now() + Duration::from_secs(30);
        let r = loop {
            match tokio::time::timeout(
                Duration::from_secs(30),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(_)) => break common::request(addr, "POST", "/callback/items", &body).await,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                other => panic!("service never answered: {other:?}"),
            }
        };
        assert_eq!(r.status, 202, "{}", r.body);
        sent.insert(id, body);
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("waiter")
        .expect("wait");
    assert!(exit.success(), "exit status {exit}");

    let got = read_back(&topic, sent.len()).await;
    assert_eq!(got.len(), sent.len());
    for (id, body) in &sent {
        assert_eq!(&got[id].2, body, "{id}");
    }
}
