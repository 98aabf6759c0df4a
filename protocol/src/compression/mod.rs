//! Compression codecs for record batches, each behind its own cargo feature.
//!
//! ```text
//!  builder ──uncompressed records──▶ compress(codec, level) ──▶ batch payload
//!  batch payload ──▶ decompress(codec, max_len) ──▶ records (one allocation)
//! ```
//!
//! Every codec is pure Rust. Decompression is always bounded: output past
//! `max_len` bytes is an error ([`CompressionError::TooLarge`]), never an
//! out-of-memory, so a small hostile batch cannot inflate into gigabytes.

mod bounded;
mod codec;
mod error;
#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(all(feature = "zstd", not(feature = "zstd-c")))]
mod zstd;
#[cfg(feature = "zstd-c")]
#[path = "zstd_c.rs"]
mod zstd;

pub use codec::Compression;
pub use error::CompressionError;

use bytes::{Bytes, BytesMut};

/// Default cap on the size of one decompressed batch: 64 MiB.
///
/// Kafka's largest default `message.max.bytes` is about 1 MiB compressed;
/// 64 MiB leaves room for very compressible data while keeping a hostile
/// batch from exhausting memory.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// Compresses `input` with `codec`, appending the result to `out`.
///
/// `level` is the codec's own level where it has one (gzip 0-9; zstd levels
/// are accepted but the pure-Rust encoder implements only its fastest level).
/// `None` means the codec's default. [`Compression::None`] copies `input`.
pub fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressionError> {
    let _ = level; // unused when every leveled codec is compiled out
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(level, input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(level, input, out),
        #[allow(unreachable_patterns)]
        other => Err(CompressionError::Disabled { codec: other }),
    }
}

/// Decompresses `input` produced by `codec`, refusing output larger than
/// `max_len` bytes.
///
/// [`Compression::None`] returns a copy of `input` (callers normally skip
/// this call for uncompressed batches and slice the input instead).
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_len: usize,
) -> Result<Bytes, CompressionError> {
    let _ = max_len;
    let out = match codec {
        Compression::None => {
            if input.len() > max_len {
                return Err(CompressionError::TooLarge {
                    codec,
                    limit: max_len,
                });
            }
            input.to_vec()
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, max_len)?,
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, max_len)?,
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, max_len)?,
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, max_len)?,
        #[allow(unreachable_patterns)]
        other => return Err(CompressionError::Disabled { codec: other }),
    };
    Ok(Bytes::from(out))
}

/// Decompresses an LZ4 payload from a legacy magic-0 message.
///
/// Kafka before 0.10 (and librdkafka writing magic 0, for compatibility)
/// computed the LZ4 frame's header checksum over the magic number as well as
/// the descriptor, which a conforming decoder rejects. This repairs the
/// checksum byte before decoding.
#[cfg(feature = "lz4")]
pub fn decompress_lz4_legacy_v0(input: &[u8], max_len: usize) -> Result<Bytes, CompressionError> {
    lz4::decompress_with_broken_header_checksum(input, max_len).map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // Compressible but not trivial: repeated records with a counter.
        let mut v = Vec::new();
        for i in 0..5_000u32 {
            v.extend_from_slice(format!("key-{i:05} value payload {}\n", i % 17).as_bytes());
        }
        v
    }

    #[test]
    fn every_enabled_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            if !codec.is_enabled() {
                continue;
            }
            let mut out = BytesMut::new();
            compress(codec, None, &data, &mut out).unwrap();
            if codec != Compression::None {
                assert!(out.len() < data.len() / 2, "{codec:?} did not compress");
            }
            let back = decompress(codec, &out, data.len()).unwrap();
            assert_eq!(&back[..], &data[..], "{codec:?}");
            // Empty input round-trips too.
            let mut empty = BytesMut::new();
            compress(codec, None, &[], &mut empty).unwrap();
            assert!(
                decompress(codec, &empty, 10).unwrap().is_empty(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn decompression_past_the_limit_is_an_error() {
        // 1 MiB of zeros compresses to almost nothing: a miniature bomb.
        let data = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            if !codec.is_enabled() {
                continue;
            }
            let mut out = BytesMut::new();
            compress(codec, None, &data, &mut out).unwrap();
            let err = decompress(codec, &out, 4096).unwrap_err();
            assert!(
                matches!(err, CompressionError::TooLarge { limit: 4096, .. }),
                "{codec:?}: {err}"
            );
            // Exactly at the limit is fine.
            assert_eq!(
                decompress(codec, &out, data.len()).unwrap().len(),
                data.len()
            );
        }
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let junk = [
            0xdeu8, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        for codec in Compression::ALL {
            if !codec.is_enabled() || codec == Compression::None {
                continue;
            }
            let err = decompress(codec, &junk, 1 << 20).unwrap_err();
            // Raw snappy reads the junk's first bytes as a (huge) length.
            assert!(
                matches!(
                    err,
                    CompressionError::Corrupt { .. } | CompressionError::TooLarge { .. }
                ),
                "{codec:?}: {err}"
            );
        }
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_level_is_applied_and_checked() {
        let data = sample();
        let mut fast = BytesMut::new();
        let mut best = BytesMut::new();
        compress(Compression::Gzip, Some(1), &data, &mut fast).unwrap();
        compress(Compression::Gzip, Some(9), &data, &mut best).unwrap();
        assert!(best.len() <= fast.len());
        let err = compress(Compression::Gzip, Some(10), &data, &mut fast).unwrap_err();
        assert!(matches!(
            err,
            CompressionError::InvalidLevel { level: 10, .. }
        ));
    }
}
