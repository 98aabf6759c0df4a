//! Reading a decoder's output with a hard cap on its size.

use super::{Compression, CompressionError};
use std::io::Read;

/// Largest buffer reserved up front from a hint in the (hostile) input.
const MAX_PREALLOC: usize = 1 << 20;

/// Reads all of `reader` into a new vector, failing with
/// [`CompressionError::TooLarge`] as soon as it yields more than `max_len`
/// bytes. `hint` (e.g. compressed size × typical ratio) sizes the first
/// allocation, capped so a lying hint cannot reserve much.
#[cfg_attr(
    not(any(feature = "gzip", feature = "lz4", feature = "zstd")),
    allow(dead_code)
)]
pub(super) fn read_bounded(
    codec: Compression,
    reader: impl Read,
    max_len: usize,
    hint: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::with_capacity(hint.min(max_len).min(MAX_PREALLOC));
    let cap = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| CompressionError::corrupt(codec, e))?;
    if out.len() > max_len {
        return Err(CompressionError::TooLarge {
            codec,
            limit: max_len,
        });
    }
    Ok(out)
}
