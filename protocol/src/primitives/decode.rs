//! Readers for the wire's primitive types.
//!
//! Every reader takes the remaining input as `&mut Bytes`, checks the bytes it
//! needs are there before touching them, and slices (never copies) strings
//! and byte buffers. Errors are bare [`DecodeErrorKind`]s; generated code adds
//! the message, field and version.

use bytes::{Buf, Bytes};

use super::StrBytes;
use super::Uuid;
use super::varint::get_uvarint32;
use crate::error::DecodeErrorKind;

/// Most memory an array decoder reserves up front; longer arrays grow as
/// their elements actually arrive (each one having consumed input).
pub const MAX_PREALLOC_BYTES: usize = 64 * 1024;

/// How many elements of `T` to reserve for an array whose count (already
/// checked against the remaining input) is `count`.
#[inline]
pub const fn prealloc<T>(count: usize) -> usize {
    let size = if std::mem::size_of::<T>() == 0 {
        1
    } else {
        std::mem::size_of::<T>()
    };
    let cap = MAX_PREALLOC_BYTES / size;
    if count < cap { count } else { cap }
}

/// An unsigned varint, with the one-byte case (almost every length, count
/// and tag) inline.
#[inline]
fn get_uvarint(buf: &mut Bytes) -> Result<u32, DecodeErrorKind> {
    match buf.first() {
        Some(&b) if b < 0x80 => {
            buf.advance(1);
            Ok(u32::from(b))
        }
        _ => Ok(get_uvarint32(buf)?),
    }
}

/// Splits `N` bytes off the front as an array (no double bounds check, no
/// panic path).
#[inline]
fn take<const N: usize>(buf: &mut Bytes) -> Result<[u8; N], DecodeErrorKind> {
    match buf.first_chunk::<N>() {
        Some(&bytes) => {
            buf.advance(N);
            Ok(bytes)
        }
        None => Err(DecodeErrorKind::Truncated {
            needed: N,
            remaining: buf.len(),
        }),
    }
}

#[inline]
fn need(buf: &Bytes, n: usize) -> Result<(), DecodeErrorKind> {
    if buf.remaining() < n {
        Err(DecodeErrorKind::Truncated {
            needed: n,
            remaining: buf.remaining(),
        })
    } else {
        Ok(())
    }
}

/// Reads a boolean (any non-zero byte is true, as in Kafka).
#[inline]
pub fn get_bool(buf: &mut Bytes) -> Result<bool, DecodeErrorKind> {
    let [b] = take::<1>(buf)?;
    Ok(b != 0)
}

/// Reads an `int8`.
#[inline]
pub fn get_i8(buf: &mut Bytes) -> Result<i8, DecodeErrorKind> {
    Ok(i8::from_be_bytes(take(buf)?))
}

/// Reads a big-endian `int16`.
#[inline]
pub fn get_i16(buf: &mut Bytes) -> Result<i16, DecodeErrorKind> {
    Ok(i16::from_be_bytes(take(buf)?))
}

/// Reads a big-endian `uint16`.
#[inline]
pub fn get_u16(buf: &mut Bytes) -> Result<u16, DecodeErrorKind> {
    Ok(u16::from_be_bytes(take(buf)?))
}

/// Reads a big-endian `int32`.
#[inline]
pub fn get_i32(buf: &mut Bytes) -> Result<i32, DecodeErrorKind> {
    Ok(i32::from_be_bytes(take(buf)?))
}

/// Reads a big-endian `uint32`.
#[inline]
pub fn get_u32(buf: &mut Bytes) -> Result<u32, DecodeErrorKind> {
    Ok(u32::from_be_bytes(take(buf)?))
}

/// Reads a big-endian `int64`.
#[inline]
pub fn get_i64(buf: &mut Bytes) -> Result<i64, DecodeErrorKind> {
    Ok(i64::from_be_bytes(take(buf)?))
}

/// Reads a big-endian IEEE-754 `float64`.
#[inline]
pub fn get_f64(buf: &mut Bytes) -> Result<f64, DecodeErrorKind> {
    Ok(f64::from_be_bytes(take(buf)?))
}

/// Reads a 16-byte UUID.
#[inline]
pub fn get_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeErrorKind> {
    Ok(Uuid(take(buf)?))
}

/// Reads a length prefix: `int16`/`int32` (classic) or unsigned varint
/// length + 1 (compact). `None` means null (negative classic length, compact 0).
#[inline]
fn get_len(buf: &mut Bytes, flexible: bool, wide: bool) -> Result<Option<usize>, DecodeErrorKind> {
    if flexible {
        let n = get_uvarint(buf)?;
        Ok(n.checked_sub(1).map(|n| n as usize))
    } else {
        let n = if wide {
            get_i32(buf)?
        } else {
            i32::from(get_i16(buf)?)
        };
        Ok(usize::try_from(n).ok())
    }
}

#[inline]
fn split(buf: &mut Bytes, len: usize) -> Result<Bytes, DecodeErrorKind> {
    need(buf, len)?;
    Ok(buf.split_to(len))
}

/// Compact null is 0 and classic null is -1; both are reported as -1.
#[inline]
fn null_error() -> DecodeErrorKind {
    DecodeErrorKind::NegativeLength(-1)
}

/// Reads a string that may be null.
#[inline]
pub fn get_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
) -> Result<Option<StrBytes>, DecodeErrorKind> {
    match get_len(buf, flexible, false)? {
        None => Ok(None),
        Some(len) => {
            let raw = split(buf, len)?;
            StrBytes::from_utf8(raw)
                .map(Some)
                .map_err(|_| DecodeErrorKind::InvalidUtf8)
        }
    }
}

/// Reads a string that must not be null.
#[inline]
pub fn get_string(buf: &mut Bytes, flexible: bool) -> Result<StrBytes, DecodeErrorKind> {
    get_nullable_string(buf, flexible)?.ok_or_else(null_error)
}

/// Reads a byte buffer (also `records`) that may be null.
#[inline]
pub fn get_nullable_bytes(
    buf: &mut Bytes,
    flexible: bool,
) -> Result<Option<Bytes>, DecodeErrorKind> {
    match get_len(buf, flexible, true)? {
        None => Ok(None),
        Some(len) => split(buf, len).map(Some),
    }
}

/// Reads a byte buffer that must not be null.
#[inline]
pub fn get_bytes(buf: &mut Bytes, flexible: bool) -> Result<Bytes, DecodeErrorKind> {
    get_nullable_bytes(buf, flexible)?.ok_or_else(null_error)
}

/// Reads an array count that may be null, and checks that `count` elements
/// of at least `min_size` bytes each fit in what remains.
#[inline]
pub fn get_nullable_array_len(
    buf: &mut Bytes,
    flexible: bool,
    min_size: usize,
) -> Result<Option<usize>, DecodeErrorKind> {
    let Some(count) = get_len(buf, flexible, true)? else {
        return Ok(None);
    };
    let needed = count.saturating_mul(min_size.max(1));
    if needed > buf.remaining() {
        return Err(DecodeErrorKind::TooManyElements {
            count,
            needed,
            remaining: buf.remaining(),
        });
    }
    Ok(Some(count))
}

/// Reads an array count that must not be null (see [`get_nullable_array_len`]).
#[inline]
pub fn get_array_len(
    buf: &mut Bytes,
    flexible: bool,
    min_size: usize,
) -> Result<usize, DecodeErrorKind> {
    get_nullable_array_len(buf, flexible, min_size)?.ok_or_else(null_error)
}

/// Reads the presence byte of a nullable struct: `-1` null, anything else
/// present.
#[inline]
pub fn get_struct_present(buf: &mut Bytes) -> Result<bool, DecodeErrorKind> {
    Ok(get_i8(buf)? >= 0)
}

/// Reads the number of tagged fields; each needs at least two bytes (tag and
/// size), so the count is checked against what remains.
#[inline]
pub fn get_tag_count(buf: &mut Bytes) -> Result<usize, DecodeErrorKind> {
    let count = get_uvarint(buf)? as usize;
    let needed = count.saturating_mul(2);
    if needed > buf.remaining() {
        return Err(DecodeErrorKind::TooManyElements {
            count,
            needed,
            remaining: buf.remaining(),
        });
    }
    Ok(count)
}

/// Reads one tagged field's tag and size and splits off its value.
#[inline]
pub fn get_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes), DecodeErrorKind> {
    let tag = get_uvarint(buf)?;
    let size = get_uvarint(buf)? as usize;
    Ok((tag, split(buf, size)?))
}

/// Checks that a known tagged field's decoder consumed its whole value.
#[inline]
pub fn tagged_field_done(tag: u32, declared: usize, rest: &Bytes) -> Result<(), DecodeErrorKind> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(DecodeErrorKind::TaggedFieldSize {
            tag,
            declared,
            left: rest.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_and_compact_strings() {
        let mut b = Bytes::from_static(&[0, 3, b'a', b'b', b'c', 4, b'x', b'y', b'z']);
        assert_eq!(get_string(&mut b, false).unwrap(), "abc");
        assert_eq!(get_string(&mut b, true).unwrap(), "xyz");
        assert!(b.is_empty());
        let mut null = Bytes::from_static(&[0xff, 0xff, 0]);
        assert_eq!(get_nullable_string(&mut null, false).unwrap(), None);
        assert_eq!(get_nullable_string(&mut null, true).unwrap(), None);
    }

    #[test]
    fn hostile_lengths_are_errors() {
        // Null where null is not allowed.
        assert_eq!(
            get_string(&mut Bytes::from_static(&[0xff, 0xff]), false),
            Err(DecodeErrorKind::NegativeLength(-1))
        );
        // Length beyond the input.
        assert_eq!(
            get_bytes(&mut Bytes::from_static(&[0, 0, 0, 9, 1]), false),
            Err(DecodeErrorKind::Truncated {
                needed: 9,
                remaining: 1
            })
        );
        // Two billion 4-byte elements promised by a 6-byte input.
        assert!(matches!(
            get_array_len(
                &mut Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]),
                false,
                4
            ),
            Err(DecodeErrorKind::TooManyElements { .. })
        ));
        assert_eq!(
            get_string(&mut Bytes::from_static(&[0, 2, 0xc3, 0x28]), false),
            Err(DecodeErrorKind::InvalidUtf8)
        );
        assert!(matches!(
            get_tag_count(&mut Bytes::from_static(&[5, 0, 0])),
            Err(DecodeErrorKind::TooManyElements { .. })
        ));
        assert!(matches!(
            get_i64(&mut Bytes::from_static(&[1, 2])),
            Err(DecodeErrorKind::Truncated { .. })
        ));
    }

    #[test]
    fn preallocation_is_capped_in_bytes() {
        assert_eq!(prealloc::<u8>(10), 10);
        assert_eq!(prealloc::<u64>(1_000_000), MAX_PREALLOC_BYTES / 8);
        assert_eq!(prealloc::<[u8; 1024]>(1_000), 64);
    }

    #[test]
    fn strings_share_the_input() {
        let input = Bytes::from_static(&[0, 2, b'h', b'i']);
        let mut b = input.clone();
        let s = get_string(&mut b, false).unwrap();
        assert_eq!(s.as_bytes().as_ptr(), input[2..].as_ptr());
    }
}
