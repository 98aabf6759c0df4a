//! Why a record batch or message set could not be read or written.

use crate::compression::CompressionError;
use crate::primitives::varint::VarintError;

/// A record batch (or legacy message set) that could not be decoded or
/// encoded. Every variant names what was wrong; none is a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The input ends inside a batch: a fetch response cut at its size
    /// limit. Not corruption; fetch again (with a larger limit if this was
    /// the first batch).
    #[error("incomplete batch: needs {needed} bytes, {available} available")]
    Incomplete {
        /// Bytes the batch needs, from its start (0 if its length is not yet
        /// readable).
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// A batch or message length that no valid batch can have.
    #[error("impossible {what} length {length}")]
    InvalidLength {
        /// Which length.
        what: &'static str,
        /// The value read.
        length: i64,
    },
    /// A magic byte other than 0, 1 or 2.
    #[error("unknown record batch magic {0}")]
    UnknownMagic(i8),
    /// The stored checksum does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC stored in the batch.
        stored: u32,
        /// CRC of the bytes received.
        computed: u32,
    },
    /// The attributes name a codec id Kafka does not define.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    /// Decompressing the records failed (corrupt, too large, or the codec is
    /// not compiled in).
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// A varint in a record is truncated or overflows.
    #[error("bad varint in record {field}: {source}")]
    Varint {
        /// The record field being read.
        field: &'static str,
        /// What was wrong with it.
        #[source]
        source: VarintError,
    },
    /// A field ends past the end of its record or batch.
    #[error("record {field} runs past the end of its {container}")]
    Overrun {
        /// The field being read.
        field: &'static str,
        /// What it should have fit in ("record", "batch", "message").
        container: &'static str,
    },
    /// A record's fields do not fill exactly its declared length.
    #[error("record declares {declared} bytes but its fields use {used}")]
    RecordLengthMismatch {
        /// Length in the record's prefix.
        declared: usize,
        /// Bytes its fields used.
        used: usize,
    },
    /// The batch's record count disagrees with the records present.
    #[error("batch declares {declared} records, bytes hold {found}{}", if *.trailing { " and trailing bytes" } else { "" })]
    RecordCountMismatch {
        /// Count in the batch header.
        declared: i32,
        /// Records actually decoded.
        found: i64,
        /// Bytes remained after the declared count.
        trailing: bool,
    },
    /// A control record whose key or value is not a known marker.
    #[error("malformed control record: {0}")]
    InvalidControlRecord(&'static str),
    /// A compressed legacy message inside a compressed wrapper.
    #[error("legacy compressed message nested inside another")]
    NestedCompression,
    /// Encoding: a batch cannot hold more records (offset delta overflow).
    #[error("batch is full: record count would overflow")]
    TooManyRecords,
    /// Encoding: a key, value or header longer than a varint length allows.
    #[error("{field} too long to encode ({len} bytes)")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

impl RecordsError {
    /// True for [`RecordsError::Incomplete`]: the input was cut, not corrupt.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, RecordsError::Incomplete { .. })
    }

    pub(crate) fn varint(field: &'static str) -> impl FnOnce(VarintError) -> RecordsError {
        move |source| RecordsError::Varint { field, source }
    }
}
