//! [`Message`]: one consumed record with where it came from.

use std::sync::Arc;

use bytes::Bytes;
use klamm_protocol::records::{Header, HeadersIter, Record, TimestampType};

use crate::group::TopicPartition;

/// A record handed to the application. It holds the decoded [`Record`],
/// whose key, value and headers are ranges of the fetched (or decompressed)
/// buffer: no copy, one reference count per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    topic: Arc<str>,
    partition: i32,
    leader_epoch: Option<i32>,
    record: Record,
}

impl Message {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        leader_epoch: Option<i32>,
        record: Record,
    ) -> Self {
        Self {
            topic,
            partition,
            leader_epoch,
            record,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The record's offset.
    pub fn offset(&self) -> i64 {
        self.record.offset
    }

    /// The key, `None` when null.
    pub fn key(&self) -> Option<&[u8]> {
        self.record.key()
    }

    /// The value, `None` when null (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.record.value()
    }

    /// The key as a zero-copy `Bytes` slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.record.key_bytes()
    }

    /// The value as a zero-copy `Bytes` slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.record.value_bytes()
    }

    /// The headers in wire order (duplicates and null values kept).
    pub fn headers(&self) -> HeadersIter<'_> {
        self.record.headers()
    }

    /// The headers as owned zero-copy [`Header`]s.
    pub fn headers_vec(&self) -> Vec<Header> {
        self.record.headers_vec()
    }

    /// Timestamp in ms since the epoch (-1 when the producer set none).
    pub fn timestamp(&self) -> i64 {
        self.record.timestamp
    }

    /// Whether the timestamp is the producer's (create time) or the
    /// broker's (log append time).
    pub fn timestamp_type(&self) -> TimestampType {
        self.record.timestamp_type
    }

    /// Leader epoch of the batch, when the broker stamped one.
    pub fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    /// The decoded record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The message's partition as a [`TopicPartition`].
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }
}
