//! Record batches: the v2 format (magic 2) read and written, legacy message
//! sets (magic 0 and 1) read.
//!
//! ```text
//! produce:  RecordBatchBuilder::append… ─build()─▶ FinishedBatch ─bytes()─▶ request
//!                                   (retry: set_producer_state, CRC redone)
//! fetch:    records bytes ─BatchReader─▶ Batch (WireBatch: header + compressed
//!           payload) ─records(limit)─▶ Record (key/value/headers slice the
//!           decompressed buffer)
//! ```
//!
//! Two forms have distinct names: [`WireBatch`] is a batch as received
//! (header decoded, records still compressed), [`Record`] is a decoded
//! record. [`ControlRecord`] reads transaction markers out of control
//! batches.

mod attributes;
mod builder;
mod control;
mod error;
mod finished;
mod header;
mod legacy;
mod reader;
mod record;
mod wire;

#[cfg(test)]
mod tests;

pub use attributes::{BatchAttributes, TimestampType};
pub use builder::{MAGIC_V2, RecordBatchBuilder};
pub use control::{ControlRecord, ControlRecordType};
pub use error::RecordsError;
pub use finished::FinishedBatch;
pub use header::{
    BatchHeader, HEADER_LEN, LOG_OVERHEAD, MIN_BATCH_LENGTH, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, batch_crc,
};
pub use legacy::{LegacyMessage, NO_TIMESTAMP};
pub use reader::{Batch, BatchReader, Records};
pub use record::{Header, HeaderRef, HeadersIter, Record};
pub use wire::{V2Records, WireBatch};
