//! The fixed 61-byte header of a v2 record batch.
//!
//! ```text
//! off  size field                  covered by CRC32C
//!   0     8 base offset
//!   8     4 batch length            (bytes after this field)
//!  12     4 partition leader epoch
//!  16     1 magic (2)
//!  17     4 crc (CRC32C of bytes 21..end)
//!  21     2 attributes              ─┐
//!  23     4 last offset delta        │
//!  27     8 base timestamp           │
//!  35     8 max timestamp            │
//!  43     8 producer id              │
//!  51     2 producer epoch           │
//!  53     4 base sequence            │
//!  57     4 record count             │
//!  61     … records                 ─┘
//! ```

use super::attributes::BatchAttributes;

/// Size of the v2 batch header.
pub const HEADER_LEN: usize = 61;
/// Bytes before the batch length field ends (base offset + length).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest valid batch length field (a header with no records).
pub const MIN_BATCH_LENGTH: usize = HEADER_LEN - LOG_OVERHEAD;

pub(crate) const LENGTH_AT: usize = 8;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
/// First byte the CRC covers.
pub(crate) const ATTRIBUTES_AT: usize = 21;
pub(crate) const PRODUCER_ID_AT: usize = 43;
pub(crate) const PRODUCER_EPOCH_AT: usize = 51;
pub(crate) const BASE_SEQUENCE_AT: usize = 53;

/// "No producer" / "no sequence" values Kafka uses in non-idempotent batches.
pub const NO_PRODUCER_ID: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch a producer writes (the broker fills it in).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Every field of a v2 batch header, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field (the batch is `batch_length + 12` long).
    pub batch_length: i32,
    /// Leader epoch stamped by the broker; -1 from producers.
    pub partition_leader_epoch: i32,
    /// Always 2 for this format.
    pub magic: i8,
    /// CRC32C of everything from the attributes to the end.
    pub crc: u32,
    /// Codec, timestamp type, transactional, control, delete horizon.
    pub attributes: BatchAttributes,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon).
    pub base_timestamp: i64,
    /// Largest record timestamp (the append time for log-append-time).
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the header fields from the first 61 bytes of a batch. Every bit
    /// pattern is a header; validity is checked by the batch reader.
    pub fn read(b: &[u8; HEADER_LEN]) -> BatchHeader {
        BatchHeader {
            base_offset: i64::from_be_bytes(arr(b, 0)),
            batch_length: i32::from_be_bytes(arr(b, LENGTH_AT)),
            partition_leader_epoch: i32::from_be_bytes(arr(b, 12)),
            magic: b[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(arr(b, CRC_AT)),
            attributes: BatchAttributes(i16::from_be_bytes(arr(b, ATTRIBUTES_AT))),
            last_offset_delta: i32::from_be_bytes(arr(b, 23)),
            base_timestamp: i64::from_be_bytes(arr(b, 27)),
            max_timestamp: i64::from_be_bytes(arr(b, 35)),
            producer_id: i64::from_be_bytes(arr(b, PRODUCER_ID_AT)),
            producer_epoch: i16::from_be_bytes(arr(b, PRODUCER_EPOCH_AT)),
            base_sequence: i32::from_be_bytes(arr(b, BASE_SEQUENCE_AT)),
            record_count: i32::from_be_bytes(arr(b, 57)),
        }
    }

    /// Writes every field, including `crc` as given, into 61 bytes.
    pub fn write(&self, b: &mut [u8; HEADER_LEN]) {
        b[0..8].copy_from_slice(&self.base_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.batch_length.to_be_bytes());
        b[12..16].copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        b[16] = self.magic as u8;
        b[17..21].copy_from_slice(&self.crc.to_be_bytes());
        b[21..23].copy_from_slice(&self.attributes.0.to_be_bytes());
        b[23..27].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        b[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        b[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        b[43..51].copy_from_slice(&self.producer_id.to_be_bytes());
        b[51..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        b[53..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        b[57..61].copy_from_slice(&self.record_count.to_be_bytes());
    }

    /// Offset of the batch's last record.
    pub const fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// The batch's total size on the wire.
    pub const fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }
}

/// CRC32C (Castagnoli) over a whole batch's covered bytes (from the
/// attributes to the end); `batch` is the full batch from its base offset.
pub fn batch_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default())
}

fn arr<const N: usize>(b: &[u8; HEADER_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Compression;

    #[test]
    fn every_field_round_trips_at_its_offset() {
        let h = BatchHeader {
            base_offset: 0x0102_0304_0506_0708,
            batch_length: 0x1112_1314,
            partition_leader_epoch: 0x2122_2324,
            magic: 2,
            crc: 0x3132_3334,
            attributes: BatchAttributes::new(Compression::Lz4).with_transactional(true),
            last_offset_delta: 0x4142_4344,
            base_timestamp: 0x5152_5354_5556_5758,
            max_timestamp: 0x6162_6364_6566_6768,
            producer_id: 0x7172_7374_7576_7778,
            producer_epoch: 0x0a0b,
            base_sequence: 0x0c0d_0e0f,
            record_count: 0x1a1b_1c1d,
        };
        let mut b = [0u8; HEADER_LEN];
        h.write(&mut b);
        assert_eq!(BatchHeader::read(&b), h);
        assert_eq!(b[16], 2);
        assert_eq!(&b[21..23], &[0x00, 0x13]);
        assert_eq!(&b[43..45], &[0x71, 0x72]);
        assert_eq!(&b[57..61], &[0x1a, 0x1b, 0x1c, 0x1d]);
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The standard CRC-32C check value.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let mut batch = vec![0u8; ATTRIBUTES_AT];
        batch.extend_from_slice(b"123456789");
        assert_eq!(batch_crc(&batch), 0xe306_9283);
        assert_eq!(batch_crc(&[1, 2, 3]), 0);
    }
}
