//! klamm-app's delivery guarantees against the real broker: manual
//! commits, graceful shutdown and restart without loss, the failure policy
//! (retries, dead letters, stopping without skipping), and the log layer.
//!
//! Every publish below is awaited before the next, so each record is a
//! batch of its own: tansu answers a Fetch that starts inside a batch with
//! the next batch (tests/README.md), and commits here always fall on batch
//! boundaries.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use klamm::admin::Admin;
use klamm::consumer::Message;
use klamm::protocol::records::Header;
use klamm_app::{
    App, AppError, Context, FailurePolicy, HandlerError, LogEvent, LogLayer, StreamDef,
    SubscriptionError,
};
use tokio::sync::mpsc;
use tracing_subscriber::prelude::*;

/// The group's committed offset of partition 0 of `stream` (-1: none).
async fn committed(app: &App, group: &str, stream: &str) -> i64 {
    let topic = app.config().topic_for(stream);
    let offsets = Admin::new(app.client().clone())
        .list_group_offsets(group, None)
        .await
        .expect("OffsetFetch");
    offsets
        .iter()
        .find(|o| o.topic == topic && o.partition == 0)
        .map_or(-1, |o| o.offset)
}

/// A one-partition stream `name` of `Content` on a new app.
async fn app_with_stream(prefix: &str, name: &str, auto_commit: bool) -> App {
    let app = connect(config(prefix).auto_commit(auto_commit)).await;
    app.add_stream(StreamDef::new::<Content>(name).partitions(1))
        .unwrap();
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_commit_commits_what_the_handler_says() {
    let prefix = prefix("manual");
    let app = app_with_stream(&prefix, "tasks", false).await;
    app.create_topics().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |c: Content, ctx: Context| {
        let tx = tx.clone();
        async move {
            if c.id == 1 {
                ctx.commit().await?;
            }
            let _ = tx.send(c.id);
            Ok::<(), klamm_app::CommitError>(())
        }
    };
    app.subscribe("tasks", "manual", handler.clone()).unwrap();
    let worker = Worker::start(&app);
    for id in 0..4 {
        app.publish("tasks", &content(id), ()).await.unwrap();
    }
    for id in 0..4 {
        assert_eq!(next(&mut rx).await, id);
    }
    worker.stop().await.unwrap();
    // Offsets 0 and 1 committed by the handler; manual mode commits
    // nothing else, not even at shutdown.
    assert_eq!(committed(&app, "manual", "tasks").await, 2);

    // A new worker of the group starts after the commit: 2 and 3 again.
    let again = app_with_stream(&prefix, "tasks", false).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    again
        .subscribe("tasks", "manual", move |c: Content| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(c.id);
            }
        })
        .unwrap();
    let worker = Worker::start(&again);
    assert_eq!(next(&mut rx).await, 2);
    assert_eq!(next(&mut rx).await, 3);
    nothing_more(&mut rx, Duration::from_secs(1)).await;
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_commits_and_a_restarted_worker_loses_nothing() {
    let prefix = prefix("restart");
    let seen: Arc<Mutex<Vec<(u8, u64)>>> = Arc::default();
    let start = |generation: u8, tx: mpsc::UnboundedSender<u64>| {
        let seen = seen.clone();
        let prefix = prefix.clone();
        async move {
            let app = app_with_stream(&prefix, "events", true).await;
            app.subscribe("events", "restart", move |c: Content| {
                let (seen, tx) = (seen.clone(), tx.clone());
                async move {
                    // Slow enough that a stop arrives mid-handler.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    seen.lock().unwrap().push((generation, c.id));
                    let _ = tx.send(c.id);
                }
            })
            .unwrap();
            app
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let first = start(1, tx).await;
    first.create_topics().await.unwrap();
    for id in 0..10 {
        first.publish("events", &content(id), ()).await.unwrap();
    }
    let worker = Worker::start(&first);
    for _ in 0..5 {
        next(&mut rx).await;
    }
    worker.stop().await.expect("clean stop");
    let handled_first = seen.lock().unwrap().len() as i64;
    assert!(handled_first >= 5);
    assert_eq!(committed(&first, "restart", "events").await, handled_first);

    for id in 10..20 {
        first.publish("events", &content(id), ()).await.unwrap();
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let second = start(2, tx).await;
    let worker = Worker::start(&second);
    for _ in handled_first..20 {
        next(&mut rx).await;
    }
    nothing_more(&mut rx, Duration::from_secs(1)).await;
    worker.stop().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let ids: Vec<u64> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        ids,
        (0..20).collect::<Vec<_>>(),
        "every record once, in order: {seen:?}"
    );
    assert!(seen.iter().any(|(g, _)| *g == 2));
    assert_eq!(committed(&second, "restart", "events").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_then_dead_lettered() {
    let prefix = prefix("dlq");
    let app = app_with_stream(&prefix, "jobs", true).await;
    let attempts: Arc<Mutex<BTreeMap<u64, u32>>> = Arc::default();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let counted = attempts.clone();
    app.subscribe_with(
        "jobs",
        "workers",
        FailurePolicy::retry(2, Duration::from_millis(20)).dead_letter("jobs.dead"),
        move |c: Content| {
            let (attempts, done_tx) = (counted.clone(), done_tx.clone());
            async move {
                *attempts.lock().unwrap().entry(c.id).or_default() += 1;
                match c.id {
                    2 => Err(format!("boom {}", c.id)),
                    4 => panic!("handler bug on {}", c.id),
                    _ => {
                        let _ = done_tx.send(c.id);
                        Ok(())
                    }
                }
            }
        },
    )
    .unwrap();
    let (dead_tx, mut dead_rx) = mpsc::unbounded_channel();
    app.subscribe("jobs.dead", "dead-reader", move |m: Message| {
        let dead_tx = dead_tx.clone();
        async move {
            let _ = dead_tx.send(m);
        }
    })
    .unwrap();
    let mut created = app.create_topics().await.unwrap();
    created.sort();
    assert_eq!(
        created,
        vec![format!("{prefix}jobs"), format!("{prefix}jobs.dead")]
    );

    let worker = Worker::start(&app);
    let trace = [Header::new("traceparent", Some("t-1"))];
    for id in 1..=5 {
        app.publish_with_headers("jobs", &content(id), format!("k{id}"), &trace)
            .await
            .unwrap();
    }
    assert_eq!(next(&mut done_rx).await, 1);
    assert_eq!(next(&mut done_rx).await, 3);
    assert_eq!(next(&mut done_rx).await, 5);

    let mut dead = BTreeMap::new();
    for _ in 0..2 {
        let m = next(&mut dead_rx).await;
        let headers: BTreeMap<String, String> = m
            .headers()
            .map(|h| {
                (
                    String::from_utf8_lossy(h.key).into_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        let id: u64 = headers["klamm.source.offset"].parse::<u64>().unwrap() + 1;
        dead.insert(id, (m, headers));
    }
    let (m2, h2) = &dead[&2];
    assert_eq!(m2.key(), Some(&b"k2"[..]));
    assert_eq!(
        m2.value(),
        Some(&br#"{"schema":"Content:1","data":{"id":2,"title":"title 2"}}"#[..])
    );
    assert_eq!(h2["traceparent"], "t-1");
    assert_eq!(h2["klamm.error"], "handler failed: boom 2");
    assert_eq!(h2["klamm.error.kind"], "handler");
    assert_eq!(h2["klamm.attempts"], "3");
    assert_eq!(h2["klamm.group"], "workers");
    assert_eq!(h2["klamm.source.topic"], format!("{prefix}jobs"));
    assert_eq!(h2["klamm.source.partition"], "0");
    let (_, h4) = &dead[&4];
    assert!(h4["klamm.error"].contains("panicked"), "{h4:?}");
    assert_eq!(h4["klamm.attempts"], "3");

    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(
        attempts,
        BTreeMap::from([(1, 1), (2, 3), (3, 1), (4, 3), (5, 1)])
    );
    worker.stop().await.unwrap();
    // Dead-lettered records count as handled.
    assert_eq!(committed(&app, "workers", "jobs").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_policy_stops_without_skipping_the_record() {
    let prefix = prefix("stop");
    let app = app_with_stream(&prefix, "jobs", true).await;
    app.create_topics().await.unwrap();
    let tries = Arc::new(Mutex::new(0u32));
    let counted = tries.clone();
    app.subscribe_with(
        "jobs",
        "strict",
        FailurePolicy::retry(2, Duration::from_millis(10)),
        move |c: Content| {
            let tries = counted.clone();
            async move {
                if c.id == 1 {
                    *tries.lock().unwrap() += 1;
                    return Err(std::io::Error::other("downstream unavailable"));
                }
                Ok(())
            }
        },
    )
    .unwrap();
    for id in 0..3 {
        app.publish("jobs", &content(id), ()).await.unwrap();
    }
    let err = Worker::start(&app).join().await.unwrap_err();
    let AppError::Subscription(stopped) = &err else {
        panic!("{err:?}");
    };
    match &**stopped {
        SubscriptionError::Handler {
            offset,
            attempts,
            source: HandlerError::Failed(e),
            ..
        } => {
            assert_eq!((*offset, *attempts), (1, 3));
            assert_eq!(e.to_string(), "downstream unavailable");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*tries.lock().unwrap(), 3);
    // Record 0 is committed, record 1 is not: the next start handles it.
    assert_eq!(committed(&app, "strict", "jobs").await, 1);

    let again = app_with_stream(&prefix, "jobs", true).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    again
        .subscribe("jobs", "strict", move |c: Content| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(c.id);
            }
        })
        .unwrap();
    let worker = Worker::start(&again);
    assert_eq!(next(&mut rx).await, 1);
    assert_eq!(next(&mut rx).await, 2);
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_layer_publishes_events_to_a_stream() {
    let prefix = prefix("logs");
    let app = connect(config(&prefix)).await;
    let (layer, publisher) = LogLayer::new(64);
    let stats = layer.stats();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "billing", invoice = 42, paid = true, "invoice {} paid", 42);
        tracing::warn!(target: "billing", reason = "card expired", "payment retry");
    });
    // Events wait in the queue until the publisher starts.
    assert_eq!((stats.queued(), stats.dropped()), (2, 0));
    app.stream::<LogEvent>("logs").unwrap();
    app.create_topics().await.unwrap();
    publisher.spawn(app.clone(), "logs").unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    app.subscribe("logs", "log-reader", move |e: LogEvent| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(e);
        }
    })
    .unwrap();
    let worker = Worker::start(&app);
    let mut events = [next(&mut rx).await, next(&mut rx).await];
    events.sort_by(|a, b| a.level.cmp(&b.level));
    assert_eq!(events[0].level, "INFO");
    assert_eq!(events[0].message, "invoice 42 paid");
    assert_eq!(events[0].target, "billing");
    assert_eq!(events[0].fields["invoice"], 42);
    assert_eq!(events[0].fields["paid"], true);
    assert_eq!(events[1].level, "WARN");
    assert_eq!(events[1].fields["reason"], "card expired");
    assert!(events[0].timestamp_ms > 1_700_000_000_000);
    eventually("both events acknowledged", || {
        let n = stats.published();
        async move { n == 2 }
    })
    .await;
    assert_eq!(stats.failed(), 0);
    worker.stop().await.unwrap();
}

/// The worker entry point proper: `App::run` stops on SIGTERM, commits
/// and returns. SIGTERM goes to this test process, whose handler tokio
/// installed when `run` started (nextest runs each test in a process of
/// its own; nothing else here listens for it).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_run_gracefully() {
    let prefix = prefix("sigterm");
    let app = app_with_stream(&prefix, "events", true).await;
    app.create_topics().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    app.subscribe("events", "signals", move |c: Content| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(c.id);
        }
    })
    .unwrap();
    let running = app.clone();
    let worker = tokio::spawn(async move { running.run().await });
    app.publish("events", &content(0), ()).await.unwrap();
    app.publish("events", &content(1), ()).await.unwrap();
    // Both handled: `run` has long been polled, so its signal handlers exist.
    assert_eq!(next(&mut rx).await, 0);
    assert_eq!(next(&mut rx).await, 1);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::time::timeout(WAIT, worker)
        .await
        .expect("run returns after SIGTERM")
        .expect("worker task")
        .expect("clean stop");
    assert_eq!(committed(&app, "signals", "events").await, 2);
}
