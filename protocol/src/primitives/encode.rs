//! Writers for the wire's primitive types.
//!
//! Lengths are known from the values themselves, so nothing is measured
//! twice: there is no size pass. Errors are bare [`EncodeErrorKind`]s;
//! generated code adds the message, field and version.

use bytes::{BufMut, BytesMut};

use super::RawTaggedField;
use super::varint::put_uvarint;
use crate::error::EncodeErrorKind;

#[inline]
fn put_len(
    buf: &mut BytesMut,
    len: usize,
    flexible: bool,
    max: usize,
) -> Result<(), EncodeErrorKind> {
    if len > max {
        return Err(EncodeErrorKind::TooLong { len, max });
    }
    if flexible {
        if len < 0x7f {
            // One-byte varint: the common case for lengths and counts.
            buf.put_u8(len as u8 + 1);
        } else {
            put_uvarint(buf, len as u64 + 1);
        }
    } else if max == i16::MAX as usize {
        buf.put_i16(len as i16);
    } else {
        buf.put_i32(len as i32);
    }
    Ok(())
}

#[inline]
fn put_null(buf: &mut BytesMut, flexible: bool, wide: bool) {
    if flexible {
        buf.put_u8(0);
    } else if wide {
        buf.put_i32(-1);
    } else {
        buf.put_i16(-1);
    }
}

/// Writes a non-null string (classic: `int16` length; compact: varint length + 1).
#[inline]
pub fn put_string(buf: &mut BytesMut, s: &str, flexible: bool) -> Result<(), EncodeErrorKind> {
    put_len(buf, s.len(), flexible, i16::MAX as usize)?;
    buf.put_slice(s.as_bytes());
    Ok(())
}

/// Writes a string that may be null.
#[inline]
pub fn put_nullable_string(
    buf: &mut BytesMut,
    s: Option<&str>,
    flexible: bool,
) -> Result<(), EncodeErrorKind> {
    match s {
        Some(s) => put_string(buf, s, flexible),
        None => {
            put_null(buf, flexible, false);
            Ok(())
        }
    }
}

/// Writes a non-null byte buffer (classic: `int32` length).
#[inline]
pub fn put_bytes(buf: &mut BytesMut, b: &[u8], flexible: bool) -> Result<(), EncodeErrorKind> {
    put_len(buf, b.len(), flexible, i32::MAX as usize)?;
    buf.put_slice(b);
    Ok(())
}

/// Writes a byte buffer that may be null.
#[inline]
pub fn put_nullable_bytes(
    buf: &mut BytesMut,
    b: Option<&[u8]>,
    flexible: bool,
) -> Result<(), EncodeErrorKind> {
    match b {
        Some(b) => put_bytes(buf, b, flexible),
        None => {
            put_null(buf, flexible, true);
            Ok(())
        }
    }
}

/// Writes an array count (classic: `int32`).
#[inline]
pub fn put_array_len(
    buf: &mut BytesMut,
    len: usize,
    flexible: bool,
) -> Result<(), EncodeErrorKind> {
    put_len(buf, len, flexible, i32::MAX as usize)
}

/// Writes the count of a null array.
#[inline]
pub fn put_null_array(buf: &mut BytesMut, flexible: bool) {
    put_null(buf, flexible, true);
}

/// Writes one tagged field whose value `write` produces. The value goes to a
/// scratch buffer first because its size precedes it on the wire.
#[inline]
pub fn put_tagged_field<E>(
    buf: &mut BytesMut,
    tag: u32,
    write: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let mut scratch = BytesMut::new();
    write(&mut scratch)?;
    put_uvarint(buf, u64::from(tag));
    put_uvarint(buf, scratch.len() as u64);
    buf.put_slice(&scratch);
    Ok(())
}

/// Writes the preserved unknown tagged fields whose tag is below `below`
/// (all remaining ones when `below` is `None`), advancing `next` past them, so
/// known and unknown fields come out in tag order.
#[inline]
pub fn put_unknown_tagged_before(
    buf: &mut BytesMut,
    unknown: &[RawTaggedField],
    next: &mut usize,
    below: Option<u32>,
) {
    if *next >= unknown.len() {
        return;
    }
    while let Some(field) = unknown.get(*next) {
        if below.is_some_and(|b| field.tag >= b) {
            break;
        }
        put_uvarint(buf, u64::from(field.tag));
        put_uvarint(buf, field.data.len() as u64);
        buf.put_slice(&field.data);
        *next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn classic_and_compact_lengths() {
        let mut b = BytesMut::new();
        put_string(&mut b, "ab", false).unwrap();
        put_string(&mut b, "ab", true).unwrap();
        put_nullable_string(&mut b, None, false).unwrap();
        put_nullable_bytes(&mut b, None, true).unwrap();
        put_array_len(&mut b, 1, false).unwrap();
        assert_eq!(
            &b[..],
            &[0, 2, b'a', b'b', 3, b'a', b'b', 0xff, 0xff, 0, 0, 0, 0, 1]
        );
        let long = "x".repeat(40_000);
        assert_eq!(
            put_string(&mut BytesMut::new(), &long, false),
            Err(EncodeErrorKind::TooLong {
                len: 40_000,
                max: 32_767
            })
        );
    }

    #[test]
    fn tagged_fields_keep_tag_order() {
        let unknown = [
            RawTaggedField {
                tag: 1,
                data: Bytes::from_static(b"a"),
            },
            RawTaggedField {
                tag: 5,
                data: Bytes::from_static(b"bc"),
            },
        ];
        let mut b = BytesMut::new();
        let mut next = 0;
        put_unknown_tagged_before(&mut b, &unknown, &mut next, Some(3));
        put_tagged_field(&mut b, 3, |s| {
            s.put_u8(9);
            Ok::<_, EncodeErrorKind>(())
        })
        .unwrap();
        put_unknown_tagged_before(&mut b, &unknown, &mut next, None);
        assert_eq!(&b[..], &[1, 1, b'a', 3, 1, 9, 5, 2, b'b', b'c']);
    }
}
