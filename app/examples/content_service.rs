//! A small service on klamm-app: it publishes `Content` messages, indexes
//! them in one handler (publishing `Indexed` messages that carry the
//! trace headers over), audits every `content.*` stream untyped in
//! another, and ships its own logs to the `logs` stream. Ctrl-C or SIGTERM
//! stops it gracefully.
//!
//! ```sh
//! scripts/broker.sh run -- sh -c 'cargo run -p klamm-app --example content_service -- \
//!     --bootstrap-servers "$KLAMM_BOOTSTRAP" --create-topics --topic-prefix demo. \
//!     --client-properties "{\"fetch.max.wait.ms\": 10}" --publish 5 --run-for-secs 10'
//! ```

use std::time::Duration;

use clap::Parser;
use klamm::protocol::records::Header;
use klamm_app::{
    App, Context, FailurePolicy, LogLayer, RecordMeta, Router, StreamDef, Untyped, WorkerArgs,
};
use serde::{Deserialize, Serialize};
use tracing_subscriber::prelude::*;

/// A piece of content, as every service sees it.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Content {
    id: u64,
    title: String,
    body: String,
}
klamm_app::schema!(Content, "Content", 1, json_schema);

/// What the indexer publishes.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Indexed {
    id: u64,
    words: usize,
}
klamm_app::schema!(Indexed, "content.Indexed", 1, json_schema);

#[derive(Parser)]
#[command(about = "An example service on klamm-app")]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,
    /// Publish this many Content messages at start.
    #[arg(long, default_value_t = 3)]
    publish: u64,
    /// Stop after this many seconds instead of waiting for a signal.
    #[arg(long)]
    run_for_secs: Option<u64>,
}

/// Indexes a piece of content; the trace headers of the consumed record go
/// with what it publishes.
async fn index(content: Content, ctx: Context) -> Result<(), klamm_app::PublishError> {
    let words = content.body.split_whitespace().count();
    tracing::info!(target: "content_service", id = content.id, words, "indexed");
    ctx.publish(
        "content.indexed",
        &Indexed {
            id: content.id,
            words,
        },
        content.id.to_string(),
    )
    .await?;
    Ok(())
}

/// Sees every content stream, whatever its schema.
async fn audit(message: Untyped, meta: RecordMeta) {
    tracing::info!(
        target: "content_service",
        stream = meta.stream, schema = %message.schema, offset = meta.offset, "audit"
    );
}

fn routes() -> Router {
    Router::new()
        .stream_def(
            StreamDef::new::<Content>("content.created").retention(Duration::from_secs(86_400)),
        )
        .stream::<Indexed>("content.indexed")
        .subscribe_with(
            "content.created",
            "indexer",
            FailurePolicy::retry(3, Duration::from_millis(200)).dead_letter("content.dead"),
            index,
        )
        .subscribe("content.*", "auditor", audit)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let (logs, publisher) = LogLayer::new(10_000);
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(filter()))
        .with(logs.with_filter(filter()))
        .init();

    let app = App::connect(cli.worker.to_config()?).await?;
    app.mount(routes())?;
    app.stream::<klamm_app::LogEvent>("logs")?;
    if cli.worker.create_topics {
        app.create_topics().await?;
    }
    publisher.spawn(app.clone(), "logs")?;

    for id in 0..cli.publish {
        let content = Content {
            id,
            title: format!("Post {id}"),
            body: "a few words of body text".into(),
        };
        let trace = [Header::new("traceparent", Some(format!("00-{id:032x}-01")))];
        let at = app
            .publish_with_headers("content.created", &content, id.to_string(), &trace)
            .await?;
        tracing::info!(target: "content_service", id, partition = at.partition, offset = at.offset, "published");
    }

    match cli.run_for_secs {
        Some(secs) => {
            app.run_until(tokio::time::sleep(Duration::from_secs(secs)))
                .await?
        }
        None => app.run().await?,
    }
    app.close(Duration::from_secs(5)).await;
    Ok(())
}
