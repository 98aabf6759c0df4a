//! Building a v2 batch: records are appended straight into one buffer, the
//! size is known at every step, and `build` compresses once and seals the
//! header and CRC.

use super::attributes::{BatchAttributes, TimestampType};
use super::control::ControlRecord;
use super::error::RecordsError;
use super::finished::FinishedBatch;
use super::header::{
    BatchHeader, HEADER_LEN, LOG_OVERHEAD, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, batch_crc,
};
use super::record::{Header, body_len, encode_record, record_len};
use crate::compression::{Compression, compress};
use crate::primitives::varint::varint_len;
use bytes::BytesMut;

/// Magic byte of the v2 format.
pub const MAGIC_V2: i8 = 2;

/// Appends records into a v2 batch buffer.
///
/// ```
/// use klamm_protocol::compression::Compression;
/// use klamm_protocol::records::{BatchReader, RecordBatchBuilder};
///
/// let mut b = RecordBatchBuilder::new(Compression::None);
/// b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]).unwrap();
/// assert_eq!(b.estimated_size(), 61 + 9);
/// let batch = b.build().unwrap();
/// assert_eq!(batch.len(), 70);
/// let mut reader = BatchReader::new(batch.into_bytes());
/// let wire = reader.next().unwrap().unwrap();
/// let rec = wire.records(1 << 20).unwrap().next().unwrap().unwrap();
/// assert_eq!(rec.value(), Some(&b"v"[..]));
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    /// 61 bytes reserved for the header, then the uncompressed records.
    buf: BytesMut,
    compression: Compression,
    level: Option<i32>,
    attributes: BatchAttributes,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
}

impl RecordBatchBuilder {
    /// An empty builder for a batch compressed with `compression`.
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, 0)
    }

    /// An empty builder whose buffer starts with room for `capacity` bytes
    /// (e.g. the producer's `batch.size`).
    pub fn with_capacity(compression: Compression, capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity.max(HEADER_LEN));
        buf.resize(HEADER_LEN, 0);
        RecordBatchBuilder {
            buf,
            compression,
            level: None,
            attributes: BatchAttributes::new(compression),
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: 0,
            max_timestamp: -1,
            count: 0,
        }
    }

    /// An empty builder writing into `buf` (cleared first), e.g. the buffer
    /// of an earlier batch taken back with `Bytes::try_into_mut`: a
    /// producer that reuses its buffers does not fault fresh pages in for
    /// every batch.
    pub fn with_buffer(compression: Compression, mut buf: BytesMut) -> Self {
        buf.clear();
        let mut b = Self::with_capacity(compression, 0);
        buf.resize(HEADER_LEN, 0);
        b.buf = buf;
        b
    }

    /// Sets the codec's compression level (`None` = the codec's default).
    pub fn compression_level(mut self, level: Option<i32>) -> Self {
        self.level = level;
        self
    }

    /// Sets producer id, epoch and the first record's sequence number
    /// (idempotent and transactional producers).
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_transactional(on);
        self
    }

    /// Marks the batch as a control batch (see [`Self::append_control`]).
    pub fn control(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_control(on);
        self
    }

    /// Sets the delete-horizon bit (the base timestamp is then the horizon).
    pub fn delete_horizon(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_delete_horizon(on);
        self
    }

    /// Sets the timestamp type (producers leave create time).
    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.attributes = self.attributes.with_timestamp_type(t);
        self
    }

    /// Sets the base offset (producers leave 0; the broker assigns offsets).
    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch (producers leave -1).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// True before the first append.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The codec `build` will apply.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Exact size of the batch if built now without compression (header
    /// included). With a codec the built batch is usually smaller.
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// What [`Self::estimated_size`] would be after appending a record with
    /// this timestamp, key and value lengths (`None` = null) and headers.
    pub fn size_with(
        &self,
        timestamp: i64,
        key_len: Option<usize>,
        value_len: Option<usize>,
        headers: &[Header],
    ) -> usize {
        let ts_delta = if self.count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        };
        self.buf.len() + record_len(ts_delta, self.count, key_len, value_len, headers)
    }

    /// Whether that record keeps the batch within `max_bytes`. An empty
    /// batch always accepts one record, however large (as Kafka does), so a
    /// record bigger than `batch.size` still gets its own batch.
    pub fn would_fit(
        &self,
        max_bytes: usize,
        timestamp: i64,
        key_len: Option<usize>,
        value_len: Option<usize>,
        headers: &[Header],
    ) -> bool {
        self.count == 0 || self.size_with(timestamp, key_len, value_len, headers) <= max_bytes
    }

    /// Appends a record; returns its offset delta. No allocation beyond the
    /// buffer's amortised growth.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<i32, RecordsError> {
        self.append_within(usize::MAX, timestamp, key, value, headers)?
            .ok_or(RecordsError::TooManyRecords)
    }

    /// Appends a record if the batch then stays within `max_bytes` (an
    /// empty batch takes any record, as in [`Self::would_fit`]); `Ok(None)`
    /// leaves the batch as it was. One size computation serves both the
    /// check and the append, where `would_fit` then `append` make two: the
    /// producer's per-record path.
    #[inline]
    pub fn append_within(
        &mut self,
        max_bytes: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<Option<i32>, RecordsError> {
        check_len("key", key.map(<[u8]>::len))?;
        check_len("value", value.map(<[u8]>::len))?;
        if !headers.is_empty() {
            if i32::try_from(headers.len()).is_err() {
                return Err(RecordsError::FieldTooLong {
                    field: "headers",
                    len: headers.len(),
                });
            }
            for h in headers {
                check_len("header key", Some(h.key.len()))?;
                check_len("header value", h.value.as_ref().map(|v| v.len()))?;
            }
        }
        let off_delta = self.count;
        let Some(next) = self.count.checked_add(1) else {
            return Err(RecordsError::TooManyRecords);
        };
        let base_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        let ts_delta = timestamp.wrapping_sub(base_timestamp);
        let body = body_len(
            ts_delta,
            off_delta,
            key.map(<[u8]>::len),
            value.map(<[u8]>::len),
            headers,
        );
        let body = check_len("record", Some(body))?;
        let len = varint_len(body as i64) + body;
        if self.count > 0 && self.buf.len().saturating_add(len) > max_bytes {
            return Ok(None);
        }
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        self.buf.reserve(len);
        encode_record(
            &mut self.buf,
            body,
            ts_delta,
            off_delta,
            key,
            value,
            headers,
        );
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count = next;
        Ok(Some(off_delta))
    }

    /// Appends a transaction marker to a control batch.
    pub fn append_control(
        &mut self,
        timestamp: i64,
        marker: &ControlRecord,
    ) -> Result<i32, RecordsError> {
        self.append(
            timestamp,
            Some(&marker.key_bytes()),
            Some(&marker.value_bytes()),
            &[],
        )
    }

    /// Compresses the records (once) and seals header and CRC.
    pub fn build(self) -> Result<FinishedBatch, RecordsError> {
        let mut out = if self.compression == Compression::None {
            self.buf
        } else {
            let mut out = BytesMut::with_capacity(self.buf.len() / 2 + HEADER_LEN);
            out.resize(HEADER_LEN, 0);
            compress(
                self.compression,
                self.level,
                &self.buf[HEADER_LEN..],
                &mut out,
            )?;
            out
        };
        let batch_length = out.len() - LOG_OVERHEAD;
        let batch_length = i32::try_from(batch_length).map_err(|_| RecordsError::FieldTooLong {
            field: "batch",
            len: out.len(),
        })?;
        let header = BatchHeader {
            base_offset: self.base_offset,
            batch_length,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes: self.attributes,
            last_offset_delta: self.count.saturating_sub(1),
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.count,
        };
        if let Some(h) = out.first_chunk_mut::<HEADER_LEN>() {
            header.write(h);
        }
        let crc = batch_crc(&out);
        if let Some(c) = out.get_mut(17..21) {
            c.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(FinishedBatch::from_sealed(out.freeze()))
    }
}

fn check_len(field: &'static str, len: Option<usize>) -> Result<usize, RecordsError> {
    match len {
        None => Ok(0),
        Some(n) if i32::try_from(n).is_ok() => Ok(n),
        Some(n) => Err(RecordsError::FieldTooLong { field, len: n }),
    }
}
