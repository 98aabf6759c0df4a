//! The batching producer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use klamm::producer::{Producer, ProducerRecord};
//!
//! let producer = Producer::from_pairs([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("linger.ms", "5"),
//!     ("compression.type", "lz4"),
//! ])
//! .await?;
//! // Awaiting the delivery future: partition, offset, timestamp.
//! let delivery = producer.send(ProducerRecord::new("events").key("user-1").value("hi")).await?;
//! let meta = delivery.await?;
//! println!("partition {} offset {}", meta.partition, meta.offset);
//! // A callback, run on the producer's sink task (no task per record).
//! producer
//!     .send_with_callback(ProducerRecord::new("events").value("x"), |r| {
//!         if let Err(e) = r {
//!             eprintln!("lost: {e}");
//!         }
//!     })
//!     .await?;
//! // One handler for every tagged record: nothing allocated per record.
//! producer.set_delivery_handler(|tag, r| {
//!     if let Err(e) = r {
//!         eprintln!("record {tag} lost: {e}");
//!     }
//! });
//! producer.send_tagged(ProducerRecord::new("events").value("z"), 42).await?;
//! // Fire-and-forget: drop the future; failures reach the error hook.
//! producer.set_error_hook(|f| eprintln!("{} records to {}/{} failed: {}", f.records, f.topic, f.partition, f.error));
//! drop(producer.send(ProducerRecord::new("events").value("y")).await?);
//! producer.flush().await;
//! producer.close(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! ```text
//! send ─▶ partition (murmur2 / sticky / explicit / yours) ─▶ Accumulator: the
//!         partition's open batch, appended in place (RecordBatchBuilder)
//!                 │ sealed when full, at linger.ms, on flush, under memory pressure
//!                 ▼
//! sink task per broker ─drain─▶ one Produce request (one batch per partition)
//!         ◀── responses in send order: ack / requeue in order / fail
//!                 ▼
//! Delivery futures, callbacks, error hook, metrics
//! ```
//!
//! Partitioning: [`DefaultPartitioner`] (Java-compatible murmur2 for keys,
//! sticky for keyless records), [`Murmur2Partitioner`],
//! [`StickyPartitioner`] and the [`Partitioner`] trait for your own.
//! Idempotence (on by default) follows Kafka's rules: InitProducerId, a
//! sequence per partition stamped at the first send and kept on retries,
//! one batch in flight per partition until the first acknowledgement, then
//! up to `max.in.flight.requests.per.connection` (at most 5).

mod accumulator;
mod batch;
mod config;
mod delivery;
mod error;
mod handle;
mod metrics;
#[cfg(test)]
mod mock_log;
#[cfg(test)]
mod mock_tests;
mod murmur2;
mod partitioner;
mod record;
mod sink;

pub use config::{Acks, DEFAULT_BATCH_SIZE, ProducerConfig, ProducerConfigBuilder};
pub use delivery::{Delivery, DeliveryHandler};
pub use error::ProduceError;
pub use handle::{ErrorHook, ProduceFailure, Producer};
pub use metrics::ProducerMetrics;
pub use murmur2::{key_partition, murmur2, to_positive};
pub use partitioner::{
    DefaultPartitioner, Murmur2Partitioner, PartitionError, Partitioner, StickyPartitioner,
};
pub use record::{ProducerRecord, RecordMetadata};
