//! Snappy: writes the xerial (snappy-java) framing Kafka's Java client
//! writes; reads xerial-framed and raw snappy (librdkafka may write either).

use super::{Compression, CompressionError};
use bytes::{BufMut, BytesMut};

const CODEC: Compression = Compression::Snappy;

/// snappy-java's stream header: magic, then version and compatible version.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size.
const XERIAL_BLOCK: usize = 32 * 1024;

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), CompressionError> {
    out.put_slice(&XERIAL_MAGIC);
    out.put_i32(1); // version
    out.put_i32(1); // minimum compatible version
    let mut enc = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK) {
        let len_at = out.len();
        out.put_u32(0);
        let max = snap::raw::max_compress_len(block.len());
        out.resize(len_at + 4 + max, 0);
        let n = enc.compress(block, &mut out[len_at + 4..]).map_err(|e| {
            CompressionError::Compress {
                codec: CODEC,
                source: e.into(),
            }
        })?;
        out.truncate(len_at + 4 + n);
        // n <= max_compress_len(32 KiB), far below u32::MAX.
        out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Ok(())
}

pub(super) fn decompress(input: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let mut dec = snap::raw::Decoder::new();
    if input.len() >= XERIAL_HEADER_LEN && input[..XERIAL_MAGIC.len()] == XERIAL_MAGIC {
        let mut rest = &input[XERIAL_HEADER_LEN..];
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(corrupt("xerial block length truncated"));
            };
            let len = u32::from_be_bytes(*len) as usize;
            let Some((block, tail)) = tail.split_at_checked(len) else {
                return Err(corrupt("xerial block longer than the input"));
            };
            decompress_block(&mut dec, block, &mut out, max_len)?;
            rest = tail;
        }
    } else {
        decompress_block(&mut dec, input, &mut out, max_len)?;
    }
    Ok(out)
}

fn decompress_block(
    dec: &mut snap::raw::Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), CompressionError> {
    // The raw format states its decompressed length up front: check it
    // against the budget before allocating anything.
    let n = snap::raw::decompress_len(block).map_err(|e| CompressionError::corrupt(CODEC, e))?;
    let start = out.len();
    if n > max_len.saturating_sub(start) {
        return Err(CompressionError::TooLarge {
            codec: CODEC,
            limit: max_len,
        });
    }
    out.resize(start + n, 0);
    let written = dec
        .decompress(block, &mut out[start..])
        .map_err(|e| CompressionError::corrupt(CODEC, e))?;
    out.truncate(start + written);
    Ok(())
}

fn corrupt(what: &'static str) -> CompressionError {
    CompressionError::corrupt(
        CODEC,
        std::io::Error::new(std::io::ErrorKind::InvalidData, what),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_xerial_framing_in_32k_blocks() {
        let data = vec![7u8; 70_000];
        let mut out = BytesMut::new();
        compress(&data, &mut out).unwrap();
        assert_eq!(&out[..8], &XERIAL_MAGIC);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Three blocks: 32 KiB, 32 KiB, the rest.
        let mut rest = &out[16..];
        let mut blocks = 0;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            rest = &rest[4 + len..];
            blocks += 1;
        }
        assert_eq!(blocks, 3);
        assert_eq!(decompress(&out, data.len()).unwrap(), data);
    }

    #[test]
    fn reads_raw_snappy() {
        let data = b"raw snappy as librdkafka writes it ".repeat(50);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(&raw, data.len()).unwrap(), data);
        assert!(matches!(
            decompress(&raw, data.len() - 1),
            Err(CompressionError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncated_xerial_block_is_corrupt() {
        let mut out = BytesMut::new();
        compress(b"hello hello hello hello", &mut out).unwrap();
        let cut = &out[..out.len() - 2];
        assert!(matches!(
            decompress(cut, 1000),
            Err(CompressionError::Corrupt { .. })
        ));
        let cut = &out[..XERIAL_HEADER_LEN + 2];
        assert!(matches!(
            decompress(cut, 1000),
            Err(CompressionError::Corrupt { .. })
        ));
    }
}
