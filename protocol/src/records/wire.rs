//! A v2 batch as received: header decoded, records still compressed.

use super::attributes::TimestampType;
use super::error::RecordsError;
use super::header::{BatchHeader, HEADER_LEN, LOG_OVERHEAD, MIN_BATCH_LENGTH, batch_crc};
use super::record::{Record, RecordContext, decode_record};
use crate::compression::{Compression, decompress};
use bytes::Bytes;

/// One v2 record batch whose header is decoded and whose records are still
/// the (possibly compressed) bytes received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireBatch {
    header: BatchHeader,
    compression: Compression,
    /// The whole batch, from its base offset.
    raw: Bytes,
}

impl WireBatch {
    /// Parses exactly one v2 batch. Checks magic, lengths and codec; the CRC
    /// is checked separately by [`Self::verify_crc`].
    pub fn parse(raw: Bytes) -> Result<WireBatch, RecordsError> {
        let Some(h) = raw.first_chunk::<HEADER_LEN>() else {
            return Err(RecordsError::Incomplete {
                needed: HEADER_LEN,
                available: raw.len(),
            });
        };
        let header = BatchHeader::read(h);
        if header.magic != 2 {
            return Err(RecordsError::UnknownMagic(header.magic));
        }
        let length = usize::try_from(header.batch_length).unwrap_or(0);
        if length < MIN_BATCH_LENGTH {
            return Err(RecordsError::InvalidLength {
                what: "batch",
                length: i64::from(header.batch_length),
            });
        }
        if LOG_OVERHEAD + length != raw.len() {
            return Err(RecordsError::InvalidLength {
                what: "batch",
                length: i64::from(header.batch_length),
            });
        }
        let id = header.attributes.compression_id();
        let compression = Compression::from_id(id).ok_or(RecordsError::UnknownCompression(id))?;
        if header.record_count < 0 {
            return Err(RecordsError::InvalidLength {
                what: "record count",
                length: i64::from(header.record_count),
            });
        }
        Ok(WireBatch {
            header,
            compression,
            raw,
        })
    }

    /// Every header field.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The codec of the records section.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The whole batch as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The records section, still compressed.
    pub fn payload(&self) -> Bytes {
        self.raw.slice(HEADER_LEN..)
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record (also right when compaction removed it).
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// True for a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.header.attributes.is_control()
    }

    /// True for a transactional batch.
    pub fn is_transactional(&self) -> bool {
        self.header.attributes.is_transactional()
    }

    /// Checks the stored CRC32C against the bytes.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let computed = batch_crc(&self.raw);
        if computed != self.header.crc {
            return Err(RecordsError::CrcMismatch {
                stored: self.header.crc,
                computed,
            });
        }
        Ok(())
    }

    /// Decompresses the records once (refusing more than `max_decompressed`
    /// bytes) and returns a lazy iterator over them. Uncompressed batches
    /// are sliced, not copied.
    pub fn records(&self, max_decompressed: usize) -> Result<V2Records, RecordsError> {
        let payload = self.payload();
        let data = match self.compression {
            Compression::None => payload,
            codec => decompress(codec, &payload, max_decompressed)?,
        };
        let timestamp_type = self.header.attributes.timestamp_type();
        Ok(V2Records {
            data,
            pos: 0,
            declared: self.header.record_count,
            found: 0,
            ctx: RecordContext {
                base_offset: self.header.base_offset,
                base_timestamp: self.header.base_timestamp,
                max_timestamp: self.header.max_timestamp,
                // With the delete-horizon bit the base timestamp is the
                // horizon, yet Kafka still adds record deltas to it: so do we.
                timestamp_type,
            },
            finished: false,
        })
    }
}

/// Lazy iterator over a v2 batch's records. Checks that the bytes hold
/// exactly the declared number of records.
#[derive(Debug, Clone)]
pub struct V2Records {
    data: Bytes,
    pos: usize,
    declared: i32,
    found: i32,
    ctx: RecordContext,
    finished: bool,
}

impl V2Records {
    /// The decompressed records section.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The timestamp type records carry.
    pub fn timestamp_type(&self) -> TimestampType {
        self.ctx.timestamp_type
    }

    fn fail(&mut self, e: RecordsError) -> Option<Result<Record, RecordsError>> {
        self.finished = true;
        Some(Err(e))
    }
}

impl Iterator for V2Records {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let more_bytes = self.pos < self.data.len();
        if self.found == self.declared {
            self.finished = true;
            if more_bytes {
                return Some(Err(RecordsError::RecordCountMismatch {
                    declared: self.declared,
                    found: i64::from(self.found),
                    trailing: true,
                }));
            }
            return None;
        }
        if !more_bytes {
            let e = RecordsError::RecordCountMismatch {
                declared: self.declared,
                found: i64::from(self.found),
                trailing: false,
            };
            return self.fail(e);
        }
        match decode_record(&self.data, &mut self.pos, &self.ctx) {
            Ok(r) => {
                self.found += 1;
                Some(Ok(r))
            }
            Err(e) => self.fail(e),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let left = usize::try_from(self.declared - self.found).unwrap_or(0);
        (0, Some(left.saturating_add(1)))
    }
}
