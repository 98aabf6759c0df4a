//! Zstandard through the C libzstd: the opt-in `zstd-c` feature, which
//! replaces the pure-Rust backend in both directions. Needs a C toolchain;
//! faster, and compresses at Kafka's default level 3.

use super::bounded::read_bounded;
use super::{Compression, CompressionError};
use bytes::{BufMut, BytesMut};

const CODEC: Compression = Compression::Zstd;

pub(super) fn compress(
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressionError> {
    let level = level.unwrap_or(3); // Kafka's and libzstd's default
    if !(-131_072..=22).contains(&level) {
        return Err(CompressionError::InvalidLevel {
            codec: CODEC,
            level,
        });
    }
    libzstd::stream::copy_encode(input, out.writer(), level).map_err(|source| {
        CompressionError::Compress {
            codec: CODEC,
            source,
        }
    })
}

pub(super) fn decompress(input: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    // The streaming decoder handles concatenated frames and stops at the
    // cap; it never sizes a buffer from the frame header.
    let dec = libzstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| CompressionError::corrupt(CODEC, e))?;
    read_bounded(CODEC, dec, max_len, input.len().saturating_mul(4))
}
