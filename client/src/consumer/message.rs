//! [`Message`]: one consumed record with where it came from.

use std::sync::Arc;

use bytes::Bytes;
use klamm_protocol::records::{Headers, TimestampType};

use crate::group::TopicPartition;

/// A record handed to the application. Key, value and headers are slices of
/// the fetched (or decompressed) buffer: no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The topic (shared, not copied per message).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The key, `None` when null.
    pub key: Option<Bytes>,
    /// The value, `None` when null (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in wire order (duplicates and null values kept).
    pub headers: Headers,
    /// Timestamp in ms since the epoch (-1 when the producer set none).
    pub timestamp: i64,
    /// Whether the timestamp is the producer's (create time) or the broker's
    /// (log append time).
    pub timestamp_type: TimestampType,
    /// Leader epoch of the batch, when the broker stamped one.
    pub leader_epoch: Option<i32>,
}

impl Message {
    /// The message's partition as a [`TopicPartition`].
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }
}
