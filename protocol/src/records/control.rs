//! Control records: the transaction markers a coordinator writes.
//!
//! A control batch has the control attribute bit set and holds one record
//! whose key is `version: int16, type: int16` (0 = abort, 1 = commit) and
//! whose value is `version: int16, coordinator_epoch: int32`.

use super::error::RecordsError;
use super::record::Record;

/// What a control record marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The producer's open transaction was aborted.
    Abort,
    /// The producer's open transaction was committed.
    Commit,
    /// A type this client does not know (future Kafka versions).
    Unknown(i16),
}

impl ControlRecordType {
    /// The wire value.
    pub const fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The type with wire value `id`.
    pub const fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Unknown(other),
        }
    }
}

/// A decoded control record (end-transaction marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// Version of the key schema (0).
    pub version: i16,
    /// Abort or commit.
    pub kind: ControlRecordType,
    /// Epoch of the transaction coordinator that wrote it (-1 if the record
    /// has no value).
    pub coordinator_epoch: i32,
}

impl ControlRecord {
    /// A version-0 marker.
    pub const fn new(kind: ControlRecordType, coordinator_epoch: i32) -> Self {
        ControlRecord {
            version: 0,
            kind,
            coordinator_epoch,
        }
    }

    /// Reads the marker from a record of a control batch.
    pub fn parse(record: &Record) -> Result<ControlRecord, RecordsError> {
        let key = record
            .key()
            .ok_or(RecordsError::InvalidControlRecord("null key"))?;
        let [v0, v1, t0, t1, ..] = *key else {
            return Err(RecordsError::InvalidControlRecord(
                "key shorter than 4 bytes",
            ));
        };
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(RecordsError::InvalidControlRecord("negative key version"));
        }
        let kind = ControlRecordType::from_id(i16::from_be_bytes([t0, t1]));
        let coordinator_epoch = match record.value() {
            None => -1,
            Some(&[_, _, e0, e1, e2, e3, ..]) => i32::from_be_bytes([e0, e1, e2, e3]),
            Some(_) => {
                return Err(RecordsError::InvalidControlRecord(
                    "value shorter than 6 bytes",
                ));
            }
        };
        Ok(ControlRecord {
            version,
            kind,
            coordinator_epoch,
        })
    }

    /// The record key as written on the wire.
    pub fn key_bytes(&self) -> [u8; 4] {
        let [v0, v1] = self.version.to_be_bytes();
        let [t0, t1] = self.kind.id().to_be_bytes();
        [v0, v1, t0, t1]
    }

    /// The record value as written on the wire (value version 0).
    pub fn value_bytes(&self) -> [u8; 6] {
        let [e0, e1, e2, e3] = self.coordinator_epoch.to_be_bytes();
        [0, 0, e0, e1, e2, e3]
    }
}
