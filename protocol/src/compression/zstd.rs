//! Zstandard through ruzstd, a pure-Rust implementation (the default; see
//! `zstd_c.rs` for the opt-in C backend).

use super::bounded::read_bounded;
use super::{Compression, CompressionError};
use bytes::{BufMut, BytesMut};
use ruzstd::decoding::StreamingDecoder;
use ruzstd::encoding::{CompressionLevel, compress as zstd_compress};
use std::io::{self, Read};

const CODEC: Compression = Compression::Zstd;

/// ruzstd implements only "uncompressed" and its fastest level (about zstd
/// level 1), so every Kafka zstd level maps to the fastest; the output is
/// standard zstd that every peer reads.
pub(super) fn compress(
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressionError> {
    if let Some(level) = level {
        // Kafka accepts zstd's full range (negative levels are "fast").
        if !(-131_072..=22).contains(&level) {
            return Err(CompressionError::InvalidLevel {
                codec: CODEC,
                level,
            });
        }
    }
    zstd_compress(input, out.writer(), CompressionLevel::Fastest);
    Ok(())
}

pub(super) fn decompress(input: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    // A payload may hold several frames back to back; read them all.
    read_bounded(
        CODEC,
        Frames {
            rest: input,
            current: None,
        },
        max_len,
        input.len().saturating_mul(4),
    )
}

/// A reader over consecutive zstd frames.
struct Frames<'a> {
    rest: &'a [u8],
    current: Option<StreamingDecoder<&'a [u8], ruzstd::decoding::FrameDecoder>>,
}

impl Read for Frames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(dec) = self.current.as_mut() {
                let n = dec.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let done = self.current.take();
                if let Some(done) = done {
                    self.rest = done.into_inner();
                }
            }
            if self.rest.is_empty() {
                return Ok(0);
            }
            let dec = StreamingDecoder::new(self.rest)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            self.current = Some(dec);
        }
    }
}
