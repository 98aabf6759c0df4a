//! The service's life: producer up, topic checked, HTTP served until the
//! shutdown signal, then in order: stop accepting, finish in-flight
//! requests, close the producer (delivering what is queued), let the
//! outcome task drain.

use std::future::Future;
use std::sync::Arc;

use klamm::admin::{Admin, NewTopic};
use klamm::producer::Producer;
use klamm::protocol::ErrorCode;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::outcomes;
use crate::routes::{self, AppState};
use crate::stats::{Stats, StatsSnapshot};

/// Why the service could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The producer could not be created (bad property, unreachable
    /// broker), or the topic not created.
    #[error("producer: {0}")]
    Producer(#[from] klamm::Error),
    /// The topic is not in the cluster's metadata.
    #[error("topic {0} does not exist (create it first)")]
    NoTopic(String),
    /// Serving HTTP failed.
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

/// How shutdown went.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Whether every queued record was delivered (or failed on its own)
    /// within the close timeout.
    pub flushed: bool,
    /// The counters at the end.
    pub stats: StatsSnapshot,
}

/// Creates `topic` unless it exists.
async fn create_topic(
    producer: &Producer,
    topic: &str,
    partitions: i32,
) -> Result<(), ServiceError> {
    let admin = Admin::new(producer.client().clone());
    for (_, outcome) in admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await
    {
        match outcome {
            Ok(_) => tracing::info!(topic, partitions, "topic created"),
            Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => {}
            Err(e) => return Err(ServiceError::Producer(e)),
        }
    }
    Ok(())
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Summary, ServiceError> {
    let producer = Producer::from_pairs(settings.producer_pairs()).await?;
    if let Some(partitions) = settings.create_partitions {
        create_topic(&producer, &settings.topic, partitions).await?;
    }
    let meta = producer
        .client()
        .add_topics([settings.topic.clone()])
        .await?;
    match meta.topics.get(&settings.topic) {
        Some(t) if !t.error.is_error() && !t.partitions.is_empty() => {}
        _ => return Err(ServiceError::NoTopic(settings.topic)),
    }

    let stats = Arc::new(Stats::default());
    {
        let stats = stats.clone();
        producer.set_error_hook(move |f| {
            stats
                .hook_failed_records
                .fetch_add(u64::from(f.records), std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(topic = %f.topic, partition = f.partition, records = f.records,
                error = %f.error, "batch not delivered (error hook)");
        });
    }
    {
        // Variant 3's callback: one handler for every tagged record.
        let stats = stats.clone();
        producer.set_delivery_handler(move |tag, result| match result {
            Ok(_) => Stats::bump(&stats.callback_delivered),
            Err(e) => {
                Stats::bump(&stats.callback_failed);
                tracing::warn!(request = tag, error = %e, "item not published (callback)");
            }
        });
    }
    let (outcome_tx, outcome_task) = outcomes::spawn(settings.outcome_capacity, stats.clone());
    let state = Arc::new(AppState {
        producer: producer.clone(),
        topic: settings.topic.clone(),
        stats: stats.clone(),
        outcomes: outcome_tx,
    });

    tracing::info!(addr = %listener.local_addr()?, topic = %settings.topic, "serving");
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    // Every handler is done: nothing enqueues any more.
    tracing::info!("shutting down: closing the producer");
    let flushed = producer.close(settings.close_timeout).await;
    // The router (with the state's sender) is gone and every callback has
    // run or been dropped: the outcome task sees the channel close and ends.
    // Bounded anyway, so a stuck callback can never hang shutdown.
    match tokio::time::timeout(settings.close_timeout, outcome_task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "outcome task ended abnormally"),
        Err(_) => tracing::warn!("outcome task still running after the close timeout"),
    }
    let stats = stats.snapshot(&producer.metrics());
    tracing::info!(flushed, ?stats, "stopped");
    Ok(Summary { flushed, stats })
}
