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
mod murmur2;
mod partitioner;
mod record;

pub use config::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use delivery::Delivery;
pub use error::ProduceError;
pub use murmur2::{key_partition, murmur2, to_positive};
pub use partitioner::{
    DefaultPartitioner, Murmur2Partitioner, PartitionError, Partitioner, StickyPartitioner,
};
pub use record::{ProducerRecord, RecordMetadata};
