//! A sealed v2 batch, ready to send, whose producer fields can be restamped
//! on retry without touching the (compressed) records.

use super::header::{
    BASE_SEQUENCE_AT, BatchHeader, CRC_AT, HEADER_LEN, PRODUCER_EPOCH_AT, PRODUCER_ID_AT, batch_crc,
};
use bytes::{Bytes, BytesMut};

/// A built v2 batch: header, CRC and (compressed) records, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedBatch {
    /// Invariant: at least `HEADER_LEN` bytes with a valid header and CRC.
    bytes: Bytes,
}

impl FinishedBatch {
    pub(crate) fn from_sealed(bytes: Bytes) -> Self {
        debug_assert!(bytes.len() >= HEADER_LEN);
        FinishedBatch { bytes }
    }

    /// The batch's wire bytes (cheap to clone into a request).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The wire bytes, consuming the batch.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Size on the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a batch has at least its header.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The header as written.
    pub fn header(&self) -> BatchHeader {
        let mut h = [0u8; HEADER_LEN];
        if let Some(src) = self.bytes.first_chunk::<HEADER_LEN>() {
            h = *src;
        }
        BatchHeader::read(&h)
    }

    /// Rewrites producer id, epoch and base sequence and recomputes the CRC,
    /// leaving the records untouched (a retry after a new producer epoch or
    /// sequence reset). Copies the bytes only if a request still shares them.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        let bytes = std::mem::take(&mut self.bytes);
        let mut b = bytes
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        put(&mut b, PRODUCER_ID_AT, &producer_id.to_be_bytes());
        put(&mut b, PRODUCER_EPOCH_AT, &producer_epoch.to_be_bytes());
        put(&mut b, BASE_SEQUENCE_AT, &base_sequence.to_be_bytes());
        let crc = batch_crc(&b);
        put(&mut b, CRC_AT, &crc.to_be_bytes());
        self.bytes = b.freeze();
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(dst) = b.get_mut(at..at + v.len()) {
        dst.copy_from_slice(v);
    }
}
