//! The codec identifiers Kafka stores in a batch's attributes.

/// A compression codec, as numbered in the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// Gzip (RFC 1952).
    Gzip,
    /// Snappy; written with the xerial framing Java uses, read framed or raw.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard (record batch v2 only).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with wire id `id` (0-4), if there is one.
    pub const fn from_id(id: u8) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The wire id stored in the attributes.
    pub const fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's configuration name (`compression.type`).
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress with the codec (its
    /// cargo feature is on).
    pub const fn is_enabled(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = UnknownCompressionName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or(UnknownCompressionName)
    }
}

/// A `compression.type` value that names no codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression type (expected none, gzip, snappy, lz4 or zstd)")]
pub struct UnknownCompressionName;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()), Some(c));
            assert_eq!(c.name().parse::<Compression>(), Ok(c));
        }
        assert_eq!(Compression::from_id(5), None);
        assert_eq!(Compression::from_id(7), None);
        assert_eq!("LZ4".parse::<Compression>(), Ok(Compression::Lz4));
        assert!("brotli".parse::<Compression>().is_err());
    }
}
