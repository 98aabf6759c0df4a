//! Legacy message sets (magic 0 and 1), read-only, so a consumer can read
//! data written before Kafka 0.11.
//!
//! ```text
//! offset      int64
//! size        int32    bytes after this field
//! crc         uint32   CRC-32 (IEEE) of magic..end
//! magic       int8     0 or 1
//! attributes  int8     bits 0-2 codec, bit 3 log-append time (magic 1)
//! timestamp   int64    magic 1 only
//! key         int32 length (-1 = null) + bytes
//! value       int32 length (-1 = null) + bytes
//! ```
//!
//! A compressed message (a "wrapper") carries a whole inner message set,
//! compressed, as its value. Inner offsets are absolute in magic 0 and
//! relative (0, 1, …) in magic 1, where the wrapper's offset is that of the
//! last inner message.

use super::attributes::TimestampType;
use super::error::RecordsError;
use super::record::{Record, Span};
use crate::compression::{Compression, decompress};
use bytes::Bytes;

/// offset + size.
const ENTRY_OVERHEAD: usize = 12;
const CRC_AT: usize = 12;
const MAGIC_AT: usize = 16;
/// crc + magic + attributes + key length + value length.
const MIN_MESSAGE_V0: usize = 14;
/// ... plus the timestamp.
const MIN_MESSAGE_V1: usize = 22;
const CODEC_MASK: i8 = 0x07;
const LOG_APPEND_TIME: i8 = 0x08;
/// Timestamp of messages that have none (magic 0).
pub const NO_TIMESTAMP: i64 = -1;

/// Smallest valid size field for a message of this magic.
pub(crate) fn min_message_size(magic: i8) -> usize {
    if magic == 0 {
        MIN_MESSAGE_V0
    } else {
        MIN_MESSAGE_V1
    }
}

/// One top-level legacy message: a plain record or a compressed wrapper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    /// The message's offset (for a wrapper: its last inner message's).
    pub offset: i64,
    /// 0 or 1.
    pub magic: i8,
    /// Stored CRC-32.
    pub crc: u32,
    /// Raw attributes.
    pub attributes: i8,
    /// Timestamp (magic 1), or [`NO_TIMESTAMP`].
    pub timestamp: i64,
    key: Span,
    value: Span,
    raw: Bytes,
}

impl LegacyMessage {
    /// Parses exactly one entry (offset, size, message).
    pub fn parse(raw: Bytes) -> Result<LegacyMessage, RecordsError> {
        let fixed = |at: usize, n: usize| -> Result<&[u8], RecordsError> {
            raw.get(at..at + n).ok_or(RecordsError::Overrun {
                field: "header",
                container: "message",
            })
        };
        let offset = i64::from_be_bytes(arr(fixed(0, 8)?));
        let size = i32::from_be_bytes(arr(fixed(8, 4)?));
        let crc = u32::from_be_bytes(arr(fixed(CRC_AT, 4)?));
        let magic = fixed(MAGIC_AT, 1)?[0] as i8;
        if magic != 0 && magic != 1 {
            return Err(RecordsError::UnknownMagic(magic));
        }
        match usize::try_from(size) {
            Ok(s) if s >= min_message_size(magic) && s + ENTRY_OVERHEAD == raw.len() => {}
            _ => {
                return Err(RecordsError::InvalidLength {
                    what: "message",
                    length: i64::from(size),
                });
            }
        }
        let attributes = fixed(MAGIC_AT + 1, 1)?[0] as i8;
        let mut at = MAGIC_AT + 2;
        let timestamp = if magic == 1 {
            at += 8;
            i64::from_be_bytes(arr(fixed(MAGIC_AT + 2, 8)?))
        } else {
            NO_TIMESTAMP
        };
        let key = take_bytes(&raw, &mut at, "key")?;
        let value = take_bytes(&raw, &mut at, "value")?;
        if at != raw.len() {
            return Err(RecordsError::RecordLengthMismatch {
                declared: raw.len() - ENTRY_OVERHEAD,
                used: at - ENTRY_OVERHEAD,
            });
        }
        let codec = (attributes & CODEC_MASK) as u8;
        // Zstd (4) never existed for legacy messages.
        if codec > 3 {
            return Err(RecordsError::UnknownCompression(codec));
        }
        Ok(LegacyMessage {
            offset,
            magic,
            crc,
            attributes,
            timestamp,
            key,
            value,
            raw,
        })
    }

    /// The key, or `None`.
    pub fn key(&self) -> Option<&[u8]> {
        self.field(self.key)
    }

    /// The value (for a wrapper: the compressed inner set), or `None`.
    pub fn value(&self) -> Option<&[u8]> {
        self.field(self.value)
    }

    fn field(&self, s: Span) -> Option<&[u8]> {
        if s == Span::NULL {
            None
        } else {
            self.raw.get(s.start as usize..s.end as usize)
        }
    }

    /// The whole entry as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The codec (`None` for a plain message).
    pub fn compression(&self) -> Compression {
        Compression::from_id((self.attributes & CODEC_MASK) as u8).unwrap_or_default()
    }

    /// Timestamp type (meaningful for magic 1).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic > 0 && self.attributes & LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Checks the stored CRC-32 (IEEE) against the bytes.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let computed = crc32fast::hash(self.raw.get(MAGIC_AT..).unwrap_or_default());
        if computed != self.crc {
            return Err(RecordsError::CrcMismatch {
                stored: self.crc,
                computed,
            });
        }
        Ok(())
    }

    /// The records this message holds: itself, or a wrapper's inner
    /// messages with absolute offsets (decompressed once, at most
    /// `max_decompressed` bytes). Inner CRCs are verified.
    pub fn records(&self, max_decompressed: usize) -> Result<Vec<Record>, RecordsError> {
        let codec = self.compression();
        if codec == Compression::None {
            return Ok(vec![self.to_record(self.offset, self.timestamp)]);
        }
        let Some(value) = self.value() else {
            return Err(RecordsError::InvalidLength {
                what: "compressed wrapper value",
                length: -1,
            });
        };
        let inner = decompress_legacy(codec, self.magic, value, max_decompressed)?;
        let mut messages = Vec::new();
        let mut rest = inner;
        while !rest.is_empty() {
            let Some(size) = rest.get(8..12) else {
                return Err(RecordsError::Overrun {
                    field: "inner message",
                    container: "wrapper",
                });
            };
            let size = i32::from_be_bytes(arr(size));
            let total = usize::try_from(size)
                .ok()
                .and_then(|s| s.checked_add(ENTRY_OVERHEAD));
            let Some(total) = total.filter(|t| *t <= rest.len()) else {
                return Err(RecordsError::Overrun {
                    field: "inner message",
                    container: "wrapper",
                });
            };
            let m = LegacyMessage::parse(rest.split_to(total))?;
            m.verify_crc()?;
            if m.compression() != Compression::None {
                return Err(RecordsError::NestedCompression);
            }
            messages.push(m);
        }
        let last_inner = messages.last().map_or(0, |m| m.offset);
        let log_append = self.timestamp_type() == TimestampType::LogAppendTime;
        Ok(messages
            .iter()
            .map(|m| {
                let offset = if self.magic == 0 {
                    m.offset
                } else {
                    self.offset.wrapping_sub(last_inner).wrapping_add(m.offset)
                };
                let ts = if log_append {
                    self.timestamp
                } else {
                    m.timestamp
                };
                let mut r = m.to_record(offset, ts);
                r.timestamp_type = self.timestamp_type();
                r
            })
            .collect())
    }

    fn to_record(&self, offset: i64, timestamp: i64) -> Record {
        Record::from_parts(
            offset,
            timestamp,
            self.timestamp_type(),
            self.attributes,
            self.raw.clone(),
            self.key,
            self.value,
        )
    }
}

fn decompress_legacy(
    codec: Compression,
    magic: i8,
    value: &[u8],
    max: usize,
) -> Result<Bytes, RecordsError> {
    #[cfg(feature = "lz4")]
    if codec == Compression::Lz4 && magic == 0 {
        return Ok(crate::compression::decompress_lz4_legacy_v0(value, max)?);
    }
    let _ = magic;
    Ok(decompress(codec, value, max)?)
}

fn take_bytes(raw: &Bytes, at: &mut usize, field: &'static str) -> Result<Span, RecordsError> {
    let Some(len) = raw.get(*at..*at + 4) else {
        return Err(RecordsError::Overrun {
            field,
            container: "message",
        });
    };
    let len = i32::from_be_bytes(arr(len));
    *at += 4;
    if len == -1 {
        return Ok(Span::NULL);
    }
    let Ok(n) = usize::try_from(len) else {
        return Err(RecordsError::InvalidLength {
            what: field,
            length: i64::from(len),
        });
    };
    if n > raw.len() - *at {
        return Err(RecordsError::Overrun {
            field,
            container: "message",
        });
    }
    let s = Span::new(*at, *at + n);
    *at += n;
    Ok(s)
}

fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    s.first_chunk::<N>().copied().unwrap_or([0; N])
}
