//! LZ4 in the standard frame format (what Kafka calls LZ4 since 0.10),
//! through lz4_flex's frame API.

use super::bounded::read_bounded;
use super::{Compression, CompressionError};
use bytes::{BufMut, BytesMut};
use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
use std::io::Write;

const CODEC: Compression = Compression::Lz4;

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), CompressionError> {
    // What Java's KafkaLZ4BlockOutputStream writes: 64 KiB independent
    // blocks, no block or content checksums, no content size.
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut enc = FrameEncoder::with_frame_info(info, out.writer());
    enc.write_all(input)
        .map_err(|source| CompressionError::Compress {
            codec: CODEC,
            source,
        })?;
    enc.finish()
        .map(|_| ())
        .map_err(|e| CompressionError::Compress {
            codec: CODEC,
            source: e.into(),
        })
}

pub(super) fn decompress(input: &[u8], max_len: usize) -> Result<Vec<u8>, CompressionError> {
    read_bounded(
        CODEC,
        FrameDecoder::new(input),
        max_len,
        input.len().saturating_mul(3),
    )
}

/// Offset of the frame descriptor (after the 4-byte magic).
const DESCRIPTOR_START: usize = 4;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_DICT_ID: u8 = 0x01;

pub(super) fn decompress_with_broken_header_checksum(
    input: &[u8],
    max_len: usize,
) -> Result<Vec<u8>, CompressionError> {
    let Some(&flg) = input.get(DESCRIPTOR_START) else {
        return decompress(input, max_len);
    };
    let mut desc_len = 2;
    if flg & FLG_CONTENT_SIZE != 0 {
        desc_len += 8;
    }
    if flg & FLG_DICT_ID != 0 {
        desc_len += 4;
    }
    let hc_at = DESCRIPTOR_START + desc_len;
    let Some(descriptor) = input.get(DESCRIPTOR_START..hc_at) else {
        return decompress(input, max_len);
    };
    if hc_at >= input.len() {
        return decompress(input, max_len);
    }
    let good = (xxh32(descriptor, 0) >> 8) as u8;
    let mut fixed = input.to_vec();
    if let Some(b) = fixed.get_mut(hc_at) {
        *b = good;
    }
    decompress(&fixed, max_len)
}

// xxHash32, needed only to repair legacy frame headers (lz4_flex keeps its
// hasher private). Straight from the public specification.
const P1: u32 = 2_654_435_761;
const P2: u32 = 2_246_822_519;
const P3: u32 = 3_266_489_917;
const P4: u32 = 668_265_263;
const P5: u32 = 374_761_393;

fn xxh32(data: &[u8], seed: u32) -> u32 {
    let round = |acc: u32, lane: u32| {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    };
    let lane = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        let mut stripes = data.chunks_exact(16);
        for s in &mut stripes {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, lane(&s[i * 4..i * 4 + 4]));
            }
        }
        rest = stripes.remainder();
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    let mut words = rest.chunks_exact(4);
    for w in &mut words {
        h = h
            .wrapping_add(lane(w).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh32_matches_reference_vectors() {
        // Vectors from the xxHash reference implementation.
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition", 0),
            0xE229_3B2F
        );
    }

    #[test]
    fn broken_legacy_header_checksum_is_repaired() {
        let data = b"legacy lz4 frame written by Kafka 0.8 and 0.9".repeat(20);
        let mut out = BytesMut::new();
        compress(&data, &mut out).unwrap();
        let mut broken = out.to_vec();
        // Kafka 0.8/0.9 hashed magic + descriptor: emulate that.
        let hc_at = DESCRIPTOR_START + 2;
        broken[hc_at] = (xxh32(&broken[..hc_at], 0) >> 8) as u8;
        assert_ne!(broken[hc_at], out[hc_at], "test needs a different checksum");
        assert!(decompress(&broken, 1 << 20).is_err());
        let back = decompress_with_broken_header_checksum(&broken, 1 << 20).unwrap();
        assert_eq!(back, data);
    }
}
