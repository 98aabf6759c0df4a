//! Overload: when the producer's buffer (`buffer.memory`) is full, every
//! producing endpoint answers 503 at once instead of queueing.
//!
//! Made deterministic with Klamm's in-process mock cluster: it answers
//! ApiVersions and Metadata but has no Produce handler, so it drops every
//! Produce connection, like a stalled broker. Nothing is ever acknowledged,
//! memory is never freed, and a 1 KiB buffer fills after a handful of
//! records. (The real broker cannot be stalled on cue without stopping it
//! for every other test in the process.)

mod common;

use std::time::Duration;

use common::{Running, item};
use klamm::mock::MockCluster;
use klamm_web_service::Settings;

const BUFFER: u64 = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_503_on_every_producing_endpoint_and_memory_stays_bounded() {
    let cluster = MockCluster::start(1).await.expect("mock cluster");
    cluster.create_topic("items", 1);
    let mut settings = Settings::new(cluster.bootstrap(), "items")
        .property("buffer.memory", &BUFFER.to_string())
        // The mock has no InitProducerId either.
        .property("enable.idempotence", "false")
        .property("max.block.ms", "50")
        .property("batch.size", "512")
        .property("linger.ms", "0");
    settings.close_timeout = Duration::from_millis(300);
    let svc = Running::start(settings).await;

    // Fire-and-forget (try_send) takes records until the buffer is full,
    // then answers 503 immediately, and keeps doing so.
    let mut accepted = 0u64;
    let mut first_503 = None;
    for i in 0..200 {
        let r = svc
            .post("/fire-and-forget/items", &item(&format!("ff-{i}"), 1))
            .await;
        match r.status {
            202 => {
                assert!(first_503.is_none(), "202 after a 503 at request {i}");
                accepted += 1;
            }
            503 => {
                first_503.get_or_insert(i);
                assert_eq!(r.header("retry-after"), Some("1"));
                let text = r.json()["error"].as_str().expect("error").to_owned();
                assert!(text.contains("buffer is full"), "{text}");
            }
            other => panic!("status {other}: {}", r.body),
        }
    }
    assert!(first_503.is_some(), "the buffer never filled");
    assert!(
        (1..20).contains(&accepted),
        "{accepted} records accepted into 1 KiB"
    );

    // The callback variants (send_with_callback, no try_ form) wait at most
    // max.block.ms, then 503; the awaitable one (try_send) answers at once.
    for route in ["/callback/items", "/callback-task/items", "/await/items"] {
        let started = std::time::Instant::now();
        let r = svc.post(route, &item("late", 1)).await;
        assert_eq!(r.status, 503, "{route}: {}", r.body);
        let text = r.json()["error"].as_str().expect("error").to_owned();
        if route == "/await/items" {
            assert!(text.contains("buffer is full"), "{route}: {text}");
        } else {
            assert!(text.contains("buffer.memory"), "{route}: {text}");
            assert!(started.elapsed() >= Duration::from_millis(50), "{route}");
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{route}");
    }

    let stats = svc.stats().await;
    assert_eq!(stats["rejected_busy"], 200 - accepted + 3);
    assert!(stats["producer_queued_bytes"].as_u64().expect("queued") <= BUFFER);
    assert_eq!(stats["producer_records_sent"], 0);

    // Shutdown cannot deliver them: after the close timeout they fail, and
    // the failures reach the error hook (fire-and-forget's only report).
    let summary = svc.stop().await;
    assert!(!summary.flushed);
    assert_eq!(summary.stats.hook_failed_records, accepted);
    assert_eq!(summary.stats.producer_records_failed, accepted);
    assert_eq!(summary.stats.callback_failed + summary.stats.task_failed, 0);
}
