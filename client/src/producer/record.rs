//! What the application hands to `send`, and what a delivery reports back.

use klamm_protocol::records::Header;

/// A record to produce. It borrows its parts: `send` copies them straight
/// into the partition's batch buffer, so the caller keeps ownership and
/// nothing is allocated per record.
///
/// ```
/// use klamm::producer::ProducerRecord;
/// let r = ProducerRecord::new("events").key("user-1").value(b"clicked").partition(2);
/// assert_eq!(r.topic(), "events");
/// assert_eq!(r.partition_hint(), Some(2));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProducerRecord<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: Option<i32>,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [Header],
    pub(crate) timestamp: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// A record for `topic` with no key, no value (null), no headers; the
    /// partitioner chooses the partition and the timestamp is the send time.
    pub fn new(topic: &'a str) -> Self {
        ProducerRecord {
            topic,
            partition: None,
            key: None,
            value: None,
            headers: &[],
            timestamp: None,
        }
    }

    /// Sets the key (hashed by the default partitioner).
    pub fn key<K: AsRef<[u8]> + ?Sized>(mut self, key: &'a K) -> Self {
        self.key = Some(key.as_ref());
        self
    }

    /// Sets the value; a record without one is a tombstone (null value).
    pub fn value<V: AsRef<[u8]> + ?Sized>(mut self, value: &'a V) -> Self {
        self.value = Some(value.as_ref());
        self
    }

    /// Sends to this partition, bypassing the partitioner.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the headers (Kafka allows repeated keys and null values).
    pub fn headers(mut self, headers: &'a [Header]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the create timestamp in ms since the epoch (default: now).
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The explicit partition, if one was set.
    pub fn partition_hint(&self) -> Option<i32> {
        self.partition
    }
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition.
    pub partition: i32,
    /// The record's offset; `-1` with `acks=0`, where the broker says nothing.
    pub offset: i64,
    /// The record's timestamp: the broker's log-append time when the topic
    /// uses it, else the create time the record was sent with.
    pub timestamp: i64,
}
