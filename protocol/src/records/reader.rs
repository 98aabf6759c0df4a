//! Walking the `records` bytes of a fetch response: several batches per
//! partition, any magic, a possibly truncated last batch.
//!
//! ```text
//!  records bytes ──BatchReader──▶ Batch::V2(WireBatch)      ──records()──▶ Record…
//!                     │          Batch::Legacy(LegacyMessage)──records()──▶ Record…
//!                     └─ cut last batch ─▶ Err(Incomplete), then the end
//! ```

use super::error::RecordsError;
use super::header::{LENGTH_AT, LOG_OVERHEAD, MAGIC_AT, MIN_BATCH_LENGTH};
use super::legacy::{LegacyMessage, min_message_size};
use super::record::Record;
use super::wire::{V2Records, WireBatch};
use crate::compression::DEFAULT_MAX_DECOMPRESSED;
use bytes::Bytes;

/// One unit of a `records` byte string: a v2 batch, or a legacy message
/// (which, compressed, holds many records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// A magic-2 record batch.
    V2(WireBatch),
    /// A magic-0 or magic-1 message.
    Legacy(LegacyMessage),
}

impl Batch {
    /// The magic byte (0, 1 or 2).
    pub fn magic(&self) -> i8 {
        match self {
            Batch::V2(_) => 2,
            Batch::Legacy(m) => m.magic,
        }
    }

    /// Offset of the last record (a legacy wrapper's own offset).
    pub fn last_offset(&self) -> i64 {
        match self {
            Batch::V2(b) => b.last_offset(),
            Batch::Legacy(m) => m.offset,
        }
    }

    /// True for a v2 control batch.
    pub fn is_control(&self) -> bool {
        matches!(self, Batch::V2(b) if b.is_control())
    }

    /// Decompresses (once, at most `max_decompressed` bytes) and returns the
    /// records.
    pub fn records(&self, max_decompressed: usize) -> Result<Records, RecordsError> {
        Ok(match self {
            Batch::V2(b) => Records(RecordsInner::V2(b.records(max_decompressed)?)),
            Batch::Legacy(m) => Records(RecordsInner::Legacy(
                m.records(max_decompressed)?.into_iter(),
            )),
        })
    }
}

/// Records of any [`Batch`], in offset order. v2 records are decoded lazily.
#[derive(Debug, Clone)]
pub struct Records(RecordsInner);

#[derive(Debug, Clone)]
enum RecordsInner {
    V2(V2Records),
    Legacy(std::vec::IntoIter<Record>),
}

impl Iterator for Records {
    type Item = Result<Record, RecordsError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            RecordsInner::V2(r) => r.next(),
            RecordsInner::Legacy(r) => r.next().map(Ok),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            RecordsInner::V2(r) => r.size_hint(),
            RecordsInner::Legacy(r) => r.size_hint(),
        }
    }
}

/// Iterates the batches of a `records` byte string.
///
/// Yields each batch (CRC verified unless turned off); a truncated last
/// batch yields one [`RecordsError::Incomplete`] and ends the iteration;
/// any other error also ends it (framing after corruption is not trusted).
#[derive(Debug, Clone)]
pub struct BatchReader {
    data: Bytes,
    verify_crc: bool,
    done: bool,
}

impl BatchReader {
    /// A reader over `records` that verifies CRCs.
    pub fn new(records: Bytes) -> Self {
        BatchReader {
            data: records,
            verify_crc: true,
            done: false,
        }
    }

    /// Turns CRC verification on or off (Kafka's `check.crcs`).
    pub fn verify_crc(mut self, on: bool) -> Self {
        self.verify_crc = on;
        self
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> &Bytes {
        &self.data
    }

    /// Every record of every batch, decompressing with the default limit.
    /// Convenience for tests and tools; consumers usually walk batches to
    /// see control batches and offsets.
    pub fn into_records(self) -> impl Iterator<Item = Result<Record, RecordsError>> {
        let mut batches = self;
        let mut current: Option<Records> = None;
        std::iter::from_fn(move || {
            loop {
                if let Some(r) = current.as_mut() {
                    if let Some(item) = r.next() {
                        return Some(item);
                    }
                    current = None;
                }
                match batches.next()? {
                    Ok(b) => match b.records(DEFAULT_MAX_DECOMPRESSED) {
                        Ok(r) => current = Some(r),
                        Err(e) => {
                            batches.done = true;
                            return Some(Err(e));
                        }
                    },
                    Err(e) => return Some(Err(e)),
                }
            }
        })
    }

    fn next_batch(&mut self) -> Result<Batch, RecordsError> {
        let available = self.data.len();
        let Some(&magic) = self.data.get(MAGIC_AT) else {
            return Err(RecordsError::Incomplete {
                needed: 0,
                available,
            });
        };
        let magic = magic as i8;
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.data[LENGTH_AT..LENGTH_AT + 4]);
        let length = i32::from_be_bytes(len);
        let min = match magic {
            2 => MIN_BATCH_LENGTH,
            0 | 1 => min_message_size(magic),
            other => return Err(RecordsError::UnknownMagic(other)),
        };
        let Some(length) = usize::try_from(length).ok().filter(|l| *l >= min) else {
            return Err(RecordsError::InvalidLength {
                what: "batch",
                length: i64::from(length),
            });
        };
        let total = LOG_OVERHEAD + length;
        if total > available {
            return Err(RecordsError::Incomplete {
                needed: total,
                available,
            });
        }
        let raw = self.data.split_to(total);
        if magic == 2 {
            let b = WireBatch::parse(raw)?;
            if self.verify_crc {
                b.verify_crc()?;
            }
            Ok(Batch::V2(b))
        } else {
            let m = LegacyMessage::parse(raw)?;
            if self.verify_crc {
                m.verify_crc()?;
            }
            Ok(Batch::Legacy(m))
        }
    }
}

impl Iterator for BatchReader {
    type Item = Result<Batch, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.data.is_empty() {
            return None;
        }
        let r = self.next_batch();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}
