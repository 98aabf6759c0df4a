//! The batching producer.
//!
//! This part holds partitioning: [`DefaultPartitioner`] (Java-compatible
//! murmur2 for keys, sticky for keyless records), [`Murmur2Partitioner`],
//! [`StickyPartitioner`] and the [`Partitioner`] trait for your own.

mod murmur2;
mod partitioner;

pub use murmur2::{key_partition, murmur2, to_positive};
pub use partitioner::{
    DefaultPartitioner, Murmur2Partitioner, PartitionError, Partitioner, StickyPartitioner,
};
