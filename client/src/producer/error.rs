//! Why a record was not delivered.
//!
//! Errors are cheap to clone: one failed batch reports the same error to
//! every record in it.

use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::records::RecordsError;

use super::partitioner::PartitionError;
use crate::error::Error;

/// A record could not be enqueued or was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// `try_send` found the buffer (`buffer.memory`) full.
    #[error("the producer's buffer is full: {buffered} of {limit} bytes queued")]
    QueueFull {
        /// Bytes queued.
        buffered: usize,
        /// `buffer.memory`.
        limit: usize,
    },
    /// The record alone is bigger than a limit; it can never be sent.
    #[error("record of {size} bytes is larger than {property} ({limit} bytes)")]
    RecordTooLarge {
        /// The record's size in a batch of its own.
        size: usize,
        /// The limit.
        limit: usize,
        /// Which setting (`max.request.size` or `buffer.memory`).
        property: &'static str,
    },
    /// `send` waited `max.block.ms` for buffer space or topic metadata.
    #[error("waited {after:?} (max.block.ms) for {what}")]
    MaxBlock {
        /// What it waited for.
        what: &'static str,
        /// `max.block.ms`.
        after: Duration,
    },
    /// `try_send` for a topic whose metadata is not known yet (it is being
    /// fetched; try again shortly).
    #[error("no metadata for topic {topic} yet")]
    MetadataPending {
        /// The topic.
        topic: String,
    },
    /// The record's partition is not valid for its topic.
    #[error("topic {topic}: {source}")]
    Partition {
        /// The topic.
        topic: String,
        /// What was wrong.
        source: PartitionError,
    },
    /// The batch was not acknowledged within `delivery.timeout.ms`.
    #[error("topic {topic} partition {partition}: not delivered within {after:?} (delivery.timeout.ms); last error: {}", last_error.as_deref().unwrap_or("none"))]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// `delivery.timeout.ms`.
        after: Duration,
        /// The last retriable error seen, if any.
        last_error: Option<String>,
    },
    /// The broker or the connection failed the batch (not retriable, or
    /// retries exhausted); the broker's error code and message are inside.
    #[error(transparent)]
    Client(Error),
    /// Encoding or compressing the batch failed.
    #[error("cannot build the record batch: {0}")]
    Records(Arc<RecordsError>),
    /// `send_tagged` on a producer without a delivery handler: call
    /// `Producer::set_delivery_handler` first.
    #[error("send_tagged needs a delivery handler: call Producer::set_delivery_handler first")]
    NoDeliveryHandler,
    /// The producer was closed (or dropped) before the record was delivered.
    #[error("the producer was closed before the record was delivered")]
    Closed,
}

impl From<Error> for ProduceError {
    fn from(e: Error) -> Self {
        ProduceError::Client(e)
    }
}

impl ProduceError {
    /// The Kafka error code, when the broker sent one.
    pub fn code(&self) -> Option<klamm_protocol::ErrorCode> {
        match self {
            ProduceError::Client(e) => e.code(),
            _ => None,
        }
    }
}
