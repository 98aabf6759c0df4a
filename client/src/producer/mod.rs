//! The batching producer.
//!
//! Partitioning: [`DefaultPartitioner`] (Java-compatible murmur2 for keys,
//! sticky for keyless records), [`Murmur2Partitioner`],
//! [`StickyPartitioner`] and the [`Partitioner`] trait for your own.

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

pub use config::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use delivery::Delivery;
pub use error::ProduceError;
pub use handle::{ErrorHook, ProduceFailure, Producer};
pub use metrics::ProducerMetrics;
pub use murmur2::{key_partition, murmur2, to_positive};
pub use partitioner::{
    DefaultPartitioner, Murmur2Partitioner, PartitionError, Partitioner, StickyPartitioner,
};
pub use record::{ProducerRecord, RecordMetadata};
