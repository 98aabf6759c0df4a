//! Gzip through flate2's pure-Rust (miniz_oxide) backend.

use super::bounded::read_bounded;
use super::{Compression, CompressionError};
use bytes::{BufMut, BytesMut};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::io::Write;

const CODEC: Compression = Compression::Gzip;

pub(super) fn compress(
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressionError> {
    let level = match level {
        None => flate2::Compression::default(),
        Some(l @ 0..=9) => flate2::Compression::new(l as u32),
        Some(level) => {
            return Err(CompressionError::InvalidLevel {
                codec: CODEC,
                level,
            });
        }
    };
    let mut enc = GzEncoder::new(out.writer(), level);
    enc.write_all(input)
        .and_then(|()| enc.try_finish())
        .map_err(|source| CompressionError::Compress {
            codec: CODEC,
            source,
        })
}

pub(super) fn decompress(input: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    // Java's GZIPInputStream reads concatenated members; so do we.
    read_bounded(
        CODEC,
        MultiGzDecoder::new(input),
        max_len,
        input.len().saturating_mul(4),
    )
}
