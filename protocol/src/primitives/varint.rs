//! Variable-length integers as Kafka writes them.
//!
//! Flexible message versions use *unsigned* varints (LEB128) for lengths,
//! counts and tags; record batches use *signed* zig-zag varints for every
//! per-record field. Both decoders refuse more continuation bytes than the
//! type can hold, so a hostile peer cannot make them loop or overflow.

use bytes::{Buf, BufMut};

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended in the middle of the varint.
    #[error("varint truncated: input ended before its last byte")]
    Truncated,
    /// The varint has more significant bits than the target type holds.
    #[error("varint overflows {bits} bits")]
    Overflow {
        /// Width of the integer being read.
        bits: u32,
    },
}

/// Reads an unsigned LEB128 varint of at most 32 bits.
pub fn get_uvarint32(buf: &mut impl Buf) -> Result<u32, VarintError> {
    let v = get_uvarint_bits(buf, 32)?;
    Ok(v as u32)
}

/// Reads an unsigned LEB128 varint of at most 64 bits.
pub fn get_uvarint64(buf: &mut impl Buf) -> Result<u64, VarintError> {
    get_uvarint_bits(buf, 64)
}

/// Reads a zig-zag encoded signed varint of at most 32 bits.
pub fn get_varint32(buf: &mut impl Buf) -> Result<i32, VarintError> {
    let v = get_uvarint32(buf)?;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Reads a zig-zag encoded signed varint of at most 64 bits.
pub fn get_varint64(buf: &mut impl Buf) -> Result<i64, VarintError> {
    let v = get_uvarint64(buf)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

fn get_uvarint_bits(buf: &mut impl Buf, bits: u32) -> Result<u64, VarintError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        if !buf.has_remaining() {
            return Err(VarintError::Truncated);
        }
        let byte = buf.get_u8();
        let payload = u64::from(byte & 0x7f);
        // Bits that would land above the target width make the value invalid.
        let room = bits.saturating_sub(shift);
        if room == 0 || (room < 7 && payload >> room != 0) {
            return Err(VarintError::Overflow { bits });
        }
        value |= payload << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// Writes an unsigned LEB128 varint.
pub fn put_uvarint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zig-zag encoded signed 32-bit varint.
pub fn put_varint32(buf: &mut impl BufMut, v: i32) {
    put_uvarint(buf, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

/// Writes a zig-zag encoded signed 64-bit varint.
pub fn put_varint64(buf: &mut impl BufMut, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Number of bytes `put_uvarint` writes for `v`.
pub const fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Number of bytes `put_varint64` writes for `v` (also right for i32 values).
pub const fn varint_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn unsigned_round_trip_and_length() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = BytesMut::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), uvarint_len(v), "length of {v}");
            assert_eq!(get_uvarint64(&mut b.freeze()).unwrap(), v);
        }
    }

    #[test]
    fn signed_zigzag_matches_kafka() {
        // Kafka's ByteUtils: -1 encodes as 0x01, 1 as 0x02, -64 as 0x7f.
        for (v, wire) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-64, vec![0x7f]),
        ] {
            let mut b = BytesMut::new();
            put_varint64(&mut b, v);
            assert_eq!(&b[..], &wire[..]);
            assert_eq!(varint_len(v), wire.len());
            assert_eq!(get_varint64(&mut b.clone().freeze()).unwrap(), v);
            assert_eq!(get_varint32(&mut b.freeze()).unwrap(), v as i32);
        }
        for v in [i32::MIN, i32::MAX, -300, 300] {
            let mut b = BytesMut::new();
            put_varint32(&mut b, v);
            assert_eq!(b.len(), varint_len(i64::from(v)));
            assert_eq!(get_varint32(&mut b.freeze()).unwrap(), v);
        }
    }

    #[test]
    fn hostile_varints_are_errors() {
        assert_eq!(
            get_uvarint32(&mut &[0x80u8, 0x80][..]),
            Err(VarintError::Truncated)
        );
        assert_eq!(get_uvarint32(&mut &[][..]), Err(VarintError::Truncated));
        // Six continuation bytes cannot be a 32-bit value.
        let long = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            get_uvarint32(&mut &long[..]),
            Err(VarintError::Overflow { bits: 32 })
        );
        // Fifth byte carrying bits above bit 31.
        let high = [0xffu8, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(
            get_uvarint32(&mut &high[..]),
            Err(VarintError::Overflow { bits: 32 })
        );
        assert_eq!(
            get_uvarint32(&mut &[0xffu8, 0xff, 0xff, 0xff, 0x0f][..]),
            Ok(u32::MAX)
        );
        let eleven = [0xffu8; 11];
        assert_eq!(
            get_uvarint64(&mut &eleven[..]),
            Err(VarintError::Overflow { bits: 64 })
        );
    }
}
