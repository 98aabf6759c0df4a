//! Why compressing or decompressing failed.

use super::Compression;

/// A compression or decompression failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The codec's cargo feature is off in this build.
    #[error("{} compression is not enabled in this build", .codec.name())]
    Disabled {
        /// The codec asked for.
        codec: Compression,
    },
    /// Decompressed output would exceed the configured limit.
    #[error("{} data inflates past the {limit}-byte limit", .codec.name())]
    TooLarge {
        /// The codec.
        codec: Compression,
        /// The limit that was hit.
        limit: usize,
    },
    /// The compressed input is malformed.
    #[error("corrupt {} data: {source}", .codec.name())]
    Corrupt {
        /// The codec.
        codec: Compression,
        /// What the codec reported.
        #[source]
        source: std::io::Error,
    },
    /// The compression level is outside the codec's range.
    #[error("{} does not accept compression level {level}", .codec.name())]
    InvalidLevel {
        /// The codec.
        codec: Compression,
        /// The level asked for.
        level: i32,
    },
    /// The encoder failed (it writes to memory, so this means a codec bug).
    #[error("{} compression failed: {source}", .codec.name())]
    Compress {
        /// The codec.
        codec: Compression,
        /// What the codec reported.
        #[source]
        source: std::io::Error,
    },
}

impl CompressionError {
    pub(crate) fn corrupt(codec: Compression, source: impl Into<std::io::Error>) -> Self {
        CompressionError::Corrupt {
            codec,
            source: source.into(),
        }
    }
}
