//! The attribute bits of a v2 batch header.

use crate::compression::Compression;

/// Which clock a batch's timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; every record's
    /// timestamp is then the batch's max timestamp.
    LogAppendTime,
}

const CODEC_MASK: i16 = 0x07;
const LOG_APPEND_TIME: i16 = 0x08;
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;
const DELETE_HORIZON: i16 = 0x40;

/// The 16 attribute bits of a v2 batch, kept raw so unknown bits survive a
/// round trip; accessors decode each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BatchAttributes(pub i16);

impl BatchAttributes {
    /// Attributes with the given codec and nothing else set.
    pub const fn new(codec: Compression) -> Self {
        BatchAttributes(codec.id() as i16)
    }

    /// The raw codec id (bits 0-2).
    pub const fn compression_id(self) -> u8 {
        (self.0 & CODEC_MASK) as u8
    }

    /// The codec, or `None` for ids 5-7 which Kafka does not define.
    pub const fn compression(self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    /// Bit 3: create time or log-append time.
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Bit 4: the batch belongs to a transaction.
    pub const fn is_transactional(self) -> bool {
        self.0 & TRANSACTIONAL != 0
    }

    /// Bit 5: the batch holds control records (transaction markers).
    pub const fn is_control(self) -> bool {
        self.0 & CONTROL != 0
    }

    /// Bit 6: the base timestamp is the delete horizon (set by compaction).
    pub const fn has_delete_horizon(self) -> bool {
        self.0 & DELETE_HORIZON != 0
    }

    /// With the codec replaced.
    pub const fn with_compression(self, codec: Compression) -> Self {
        BatchAttributes((self.0 & !CODEC_MASK) | codec.id() as i16)
    }

    /// With the timestamp type replaced.
    pub const fn with_timestamp_type(self, t: TimestampType) -> Self {
        match t {
            TimestampType::CreateTime => BatchAttributes(self.0 & !LOG_APPEND_TIME),
            TimestampType::LogAppendTime => BatchAttributes(self.0 | LOG_APPEND_TIME),
        }
    }

    /// With the transactional bit set or cleared.
    pub const fn with_transactional(self, on: bool) -> Self {
        self.with_bit(TRANSACTIONAL, on)
    }

    /// With the control bit set or cleared.
    pub const fn with_control(self, on: bool) -> Self {
        self.with_bit(CONTROL, on)
    }

    /// With the delete-horizon bit set or cleared.
    pub const fn with_delete_horizon(self, on: bool) -> Self {
        self.with_bit(DELETE_HORIZON, on)
    }

    const fn with_bit(self, bit: i16, on: bool) -> Self {
        if on {
            BatchAttributes(self.0 | bit)
        } else {
            BatchAttributes(self.0 & !bit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bit_is_where_kafka_puts_it() {
        let a = BatchAttributes::new(Compression::Zstd);
        assert_eq!(a.0, 4);
        assert_eq!(a.with_timestamp_type(TimestampType::LogAppendTime).0, 0x0c);
        assert_eq!(a.with_transactional(true).0, 0x14);
        assert_eq!(a.with_control(true).0, 0x24);
        assert_eq!(a.with_delete_horizon(true).0, 0x44);
        let all = a
            .with_timestamp_type(TimestampType::LogAppendTime)
            .with_transactional(true)
            .with_control(true)
            .with_delete_horizon(true);
        assert_eq!(all.compression(), Some(Compression::Zstd));
        assert_eq!(all.timestamp_type(), TimestampType::LogAppendTime);
        assert!(all.is_transactional() && all.is_control() && all.has_delete_horizon());
        let cleared = all
            .with_transactional(false)
            .with_control(false)
            .with_delete_horizon(false);
        assert_eq!(cleared.with_compression(Compression::Gzip).0, 0x09);
        assert_eq!(BatchAttributes(0x07).compression(), None);
        assert_eq!(BatchAttributes(0x07).compression_id(), 7);
    }
}
