//! klamm-app against the real broker: typed publish and receive, topic
//! pre-creation, glob subscriptions that pick up new topics, schema
//! mismatches, and header propagation.

mod common;

use std::time::Duration;

use common::*;
use klamm::protocol::records::Header;
use klamm_app::{
    App, AppError, CommitError, Context, DecodeError, FailurePolicy, HandlerError, Headers,
    PublishError, RecordMeta, Router, StreamDef, SubscriptionError, Untyped,
};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_messages_published_and_received() {
    let prefix = prefix("typed");
    let app = connect(config(&prefix)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let router = Router::new()
        .stream_def(
            StreamDef::new::<Content>("content.created").retention(Duration::from_secs(3600)),
        )
        .subscribe(
            "content.*",
            "indexer",
            move |c: Content, meta: RecordMeta, ctx: Context| {
                let tx = tx.clone();
                async move {
                    // Auto-commit mode: commit() is refused with a clear error.
                    let commit = ctx.commit().await;
                    let _ = tx.send((c, meta, matches!(commit, Err(CommitError::AutoCommit))));
                }
            },
        );
    app.mount(router).expect("mount");
    let created = app.create_topics().await.expect("create topics");
    assert_eq!(created, vec![format!("{prefix}content.created")]);
    // Pre-creation is idempotent.
    assert!(app.create_topics().await.expect("again").is_empty());

    let worker = Worker::start(&app);
    for id in 0..3 {
        let meta = app
            .publish("content.created", &content(id), format!("k{id}"))
            .await
            .expect("publish");
        assert!(meta.offset >= 0);
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let (c, meta, refused) = next(&mut rx).await;
        assert!(refused, "commit() in auto-commit mode must be refused");
        assert_eq!(meta.stream, "content.created");
        assert_eq!(meta.topic, format!("{prefix}content.created"));
        assert_eq!(meta.key.as_deref(), Some(format!("k{}", c.id).as_bytes()));
        got.push(c);
    }
    got.sort_by_key(|c| c.id);
    assert_eq!(got, (0..3).map(content).collect::<Vec<_>>());

    // Publishing checks the stream's contract before sending.
    let wrong = app
        .publish(
            "content.created",
            &ContentV2 {
                id: 1,
                headline: "h".into(),
            },
            (),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, PublishError::WrongSchema { stream_schema, message_schema, .. }
            if stream_schema.to_string() == "Content:1" && message_schema.to_string() == "Content:2"),
        "{wrong}"
    );
    assert!(matches!(
        app.publish("nope", &content(1), ()).await,
        Err(PublishError::UnknownStream(_))
    ));
    worker.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_and_untyped_handlers_see_the_wire_format() {
    let prefix = prefix("raw");
    let app = connect(config(&prefix)).await;
    app.stream::<Content>("content.raw").unwrap();
    app.create_topics().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t1 = tx.clone();
    app.subscribe("content.raw", "raw", move |value: bytes::Bytes| {
        let tx = t1.clone();
        async move {
            let _ = tx.send(format!("bytes {}", String::from_utf8_lossy(&value)));
        }
    })
    .unwrap();
    let t2 = tx.clone();
    app.subscribe("content.raw", "untyped", move |u: Untyped| {
        let tx = t2.clone();
        async move {
            let _ = tx.send(format!("untyped {} {}", u.schema, u.data["title"]));
        }
    })
    .unwrap();
    app.subscribe(
        "content.raw",
        "record",
        move |m: klamm::consumer::Message| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(format!("record {}", m.offset()));
            }
        },
    )
    .unwrap();
    let worker = Worker::start(&app);
    app.publish("content.raw", &content(5), ()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut rx).await);
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            r#"bytes {"schema":"Content:1","data":{"id":5,"title":"title 5"}}"#.to_owned(),
            "record 0".to_owned(),
            r#"untyped Content:1 "title 5""#.to_owned(),
        ]
    );
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_subscription_picks_up_a_topic_created_after_start() {
    let prefix = prefix("glob");
    let app = connect(config(&prefix)).await;
    app.stream::<Content>("content.first").unwrap();
    // Same prefix, not matching the glob: must never arrive.
    app.stream::<Content>("other.stream").unwrap();
    app.create_topics().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    app.subscribe("content.*", "glob", move |c: Content, meta: RecordMeta| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((meta.stream, c.id));
        }
    })
    .unwrap();
    let worker = Worker::start(&app);
    app.publish("content.first", &content(1), ()).await.unwrap();
    assert_eq!(next(&mut rx).await, ("content.first".to_owned(), 1));

    // A new stream, created while the worker runs.
    app.stream::<Content>("content.second").unwrap();
    let created = app.create_topics().await.unwrap();
    assert_eq!(created, vec![format!("{prefix}content.second")]);
    app.publish("other.stream", &content(99), ()).await.unwrap();
    app.publish("content.second", &content(2), ())
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await, ("content.second".to_owned(), 2));
    nothing_more(&mut rx, Duration::from_secs(2)).await;
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_mismatch_stops_the_subscription_with_a_clear_error() {
    let prefix = prefix("mismatch");
    // A producer service that moved on to Content:2 on the stream...
    let producer_app = connect(config(&prefix)).await;
    producer_app.stream::<ContentV2>("content.v").unwrap();
    producer_app.create_topics().await.unwrap();
    producer_app
        .publish(
            "content.v",
            &ContentV2 {
                id: 1,
                headline: "new".into(),
            },
            (),
        )
        .await
        .unwrap();
    // ...and a consumer still expecting Content:1.
    let app = connect(config(&prefix)).await;
    app.subscribe_with(
        "content.v",
        "old-reader",
        FailurePolicy::retry(3, Duration::from_millis(10)),
        |_: Content| async {},
    )
    .unwrap();
    let err = Worker::start(&app).join().await.unwrap_err();
    let AppError::Subscription(stopped) = &err else {
        panic!("unexpected {err:?}");
    };
    match &**stopped {
        SubscriptionError::Handler {
            attempts,
            offset,
            source: HandlerError::Decode(DecodeError::SchemaMismatch { expected, found }),
            ..
        } => {
            // Decode failures are not retried.
            assert_eq!(*attempts, 1);
            assert_eq!(*offset, 0);
            assert_eq!(expected.to_string(), "Content:1");
            assert_eq!(found, "Content:2");
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("schema mismatch: expected Content:1, the message carries `Content:2`"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_publish_propagates_headers() {
    let prefix = prefix("headers");
    let app = connect(config(&prefix)).await;
    app.stream::<Content>("orders.in").unwrap();
    app.stream::<Content>("orders.out").unwrap();
    app.create_topics().await.unwrap();
    app.subscribe(
        "orders.in",
        "enricher",
        |c: Content, ctx: Context| async move {
            let out = Content {
                id: c.id + 100,
                title: c.title.to_uppercase(),
            };
            ctx.publish("orders.out", &out, "k").await.map(|_| ())
        },
    )
    .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    app.subscribe(
        "orders.out",
        "audit",
        move |c: Content, headers: Headers| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((c, headers));
            }
        },
    )
    .unwrap();
    let worker = Worker::start(&app);
    let headers = [
        Header::new("traceparent", Some("00-abc-def-01")),
        Header::new("klamm.error", Some("reserved, not propagated")),
        Header::new("tenant", None::<&str>),
    ];
    app.publish_with_headers("orders.in", &content(1), (), &headers)
        .await
        .unwrap();
    let (out, headers) = next(&mut rx).await;
    assert_eq!(
        out,
        Content {
            id: 101,
            title: "TITLE 1".into()
        }
    );
    assert_eq!(headers.get_str("traceparent"), Some("00-abc-def-01"));
    assert_eq!(headers.get("tenant"), Some(None));
    assert_eq!(headers.get("klamm.error"), None);
    assert_eq!(headers.0.len(), 2);
    worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_conflicts_are_refused() {
    let app: App = connect(config(&prefix("reg"))).await;
    app.stream::<Content>("s").unwrap();
    app.stream::<Content>("s").unwrap();
    assert!(matches!(
        app.stream::<ContentV2>("s"),
        Err(AppError::Registration(_))
    ));
    assert!(matches!(
        app.stream::<Content>("bad name"),
        Err(AppError::Registration(_))
    ));
    let bad =
        Router::new()
            .stream::<Content>("fine")
            .subscribe("no spaces", "g", |_: Content| async {});
    assert!(matches!(app.mount(bad), Err(AppError::Registration(_))));
    // Nothing from a refused router is added.
    assert_eq!(app.streams().len(), 1);
    let json = app
        .schemas()
        .into_iter()
        .find_map(|s| s.json_schema)
        .expect("json schema");
    assert_eq!(json["properties"]["title"]["type"], "string");
}
