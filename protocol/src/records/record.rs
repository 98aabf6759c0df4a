//! One record, as a consumer sees it, and the v2 record wire format.
//!
//! ```text
//! length          varint   bytes after this field
//! attributes      int8     unused, 0
//! timestampDelta  varlong  from the batch's base timestamp
//! offsetDelta     varint   from the batch's base offset
//! keyLength       varint   -1 = null key
//! key             bytes
//! valueLength     varint   -1 = null value
//! value           bytes
//! headerCount     varint
//!   keyLength     varint   header keys are never null
//!   key           bytes    (UTF-8)
//!   valueLength   varint   -1 = null value
//!   value         bytes
//! ```

use super::attributes::TimestampType;
use super::error::RecordsError;
use crate::primitives::varint::{
    get_varint32, get_varint64, put_varint32, put_varint64, varint_len,
};
use bytes::{BufMut, Bytes};

/// One record header. Kafka allows several with the same key and null
/// values; [`Headers`] keeps them all, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The key; UTF-8 by Kafka's contract (see [`Header::key_str`]).
    pub key: Bytes,
    /// The value, or `None` for a null value.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header from a key and an optional value.
    pub fn new(key: impl Into<Bytes>, value: Option<impl Into<Bytes>>) -> Header {
        Header {
            key: key.into(),
            value: value.map(Into::into),
        }
    }

    /// The key as text, if it is valid UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// Where a field sits inside a record's bytes; `start == NULL` for null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    const NULL_START: u32 = u32::MAX;
    pub(crate) const NULL: Span = Span {
        start: Self::NULL_START,
        end: Self::NULL_START,
    };

    /// A span; callers guarantee `start <= end <= u32::MAX - 1` (record
    /// and message lengths are `i32`).
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    fn is_null(self) -> bool {
        self.start == Self::NULL_START
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A decoded record. It holds one reference-counted slice of the batch's
/// (decompressed) buffer; key, value and headers are ranges of it, so
/// decoding copies nothing and [`Record::key_bytes`] /
/// [`Record::value_bytes`] hand out zero-copy `Bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset in the partition.
    pub offset: i64,
    /// Absolute timestamp in ms (-1 when the producer set none, magic 0).
    pub timestamp: i64,
    /// Which clock `timestamp` comes from.
    pub timestamp_type: TimestampType,
    /// The record's own attribute byte (unused by Kafka since v2; the
    /// message attributes for legacy records).
    pub attributes: i8,
    buf: Bytes,
    key: Span,
    value: Span,
    headers: Span,
    header_count: u32,
}

impl Record {
    pub(crate) fn from_parts(
        offset: i64,
        timestamp: i64,
        timestamp_type: TimestampType,
        attributes: i8,
        buf: Bytes,
        key: Span,
        value: Span,
    ) -> Record {
        Record {
            offset,
            timestamp,
            timestamp_type,
            attributes,
            buf,
            key,
            value,
            headers: Span::default(),
            header_count: 0,
        }
    }

    fn field(&self, s: Span) -> Option<&[u8]> {
        if s.is_null() {
            None
        } else {
            self.buf.get(s.range())
        }
    }

    fn field_bytes(&self, s: Span) -> Option<Bytes> {
        if s.is_null() {
            None
        } else {
            Some(self.buf.slice(s.range()))
        }
    }

    /// The key, or `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.field(self.key)
    }

    /// The value, or `None` for a null value (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.field(self.value)
    }

    /// The key as a zero-copy `Bytes` slice.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.field_bytes(self.key)
    }

    /// The value as a zero-copy `Bytes` slice.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.field_bytes(self.value)
    }

    /// Number of headers (duplicates counted).
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers in wire order, borrowed.
    pub fn headers(&self) -> HeadersIter<'_> {
        let raw = if self.header_count == 0 {
            &[][..]
        } else {
            self.buf.get(self.headers.range()).unwrap_or_default()
        };
        HeadersIter {
            raw,
            left: self.header_count,
        }
    }

    /// Values of every header named `key`, in order.
    pub fn header_values<'a>(
        &'a self,
        key: &'a [u8],
    ) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        self.headers()
            .filter(move |h| h.key == key)
            .map(|h| h.value)
    }

    /// The headers as owned [`Header`]s holding zero-copy slices.
    pub fn headers_vec(&self) -> Vec<Header> {
        let base = self.buf.as_ptr() as usize;
        let slice = |s: &[u8]| {
            let at = s.as_ptr() as usize - base;
            self.buf.slice(at..at + s.len())
        };
        self.headers()
            .map(|h| Header {
                key: slice(h.key),
                value: h.value.map(slice),
            })
            .collect()
    }
}

/// One header, borrowed from its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// The key (UTF-8 by Kafka's contract).
    pub key: &'a [u8],
    /// The value, or `None` for a null value.
    pub value: Option<&'a [u8]>,
}

impl<'a> HeaderRef<'a> {
    /// The key as text, if it is valid UTF-8.
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key).ok()
    }
}

/// Iterator over a record's headers (see [`Record::headers`]).
#[derive(Debug, Clone)]
pub struct HeadersIter<'a> {
    raw: &'a [u8],
    left: u32,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = HeaderRef<'a>;

    fn next(&mut self) -> Option<HeaderRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the record was decoded, so this
        // cannot fail; on a bug we end the iteration rather than panic.
        let all = self.raw;
        let mut cur = all;
        let (k0, k1, v) = parse_header(&mut cur, all.len()).ok()?;
        self.raw = cur;
        Some(HeaderRef {
            key: all.get(k0..k1)?,
            value: v.and_then(|(a, b)| all.get(a..b)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

type Pair = (usize, usize);

/// Parses one header from `cur`, returning key and value spans relative to
/// the position where `cur` had `base_len` bytes left.
fn parse_header(
    cur: &mut &[u8],
    base_len: usize,
) -> Result<(usize, usize, Option<Pair>), RecordsError> {
    let klen = get_varint32(cur).map_err(RecordsError::varint("header key length"))?;
    let k = take_span(cur, base_len, klen, "header key", false)?.ok_or(
        RecordsError::InvalidLength {
            what: "header key",
            length: i64::from(klen),
        },
    )?;
    let vlen = get_varint32(cur).map_err(RecordsError::varint("header value length"))?;
    let v = take_span(cur, base_len, vlen, "header value", true)?;
    Ok((k.0, k.1, v))
}

/// Skips `len` bytes of `cur` (-1 = null when `nullable`), returning their
/// span relative to `base_len`.
#[inline]
fn take_span(
    cur: &mut &[u8],
    base_len: usize,
    len: i32,
    field: &'static str,
    nullable: bool,
) -> Result<Option<Pair>, RecordsError> {
    if len == -1 && nullable {
        return Ok(None);
    }
    let Ok(n) = usize::try_from(len) else {
        return Err(RecordsError::InvalidLength {
            what: field,
            length: i64::from(len),
        });
    };
    let Some(rest) = cur.get(n..) else {
        return Err(RecordsError::Overrun {
            field,
            container: "record",
        });
    };
    let start = base_len - cur.len();
    *cur = rest;
    Ok(Some((start, start + n)))
}

fn span(p: Option<Pair>) -> Span {
    p.map_or(Span::NULL, |(a, b)| Span::new(a, b))
}

/// Batch-level context needed to turn deltas into absolute values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext {
    pub(crate) base_offset: i64,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) timestamp_type: TimestampType,
}

/// Decodes the record starting at `data[*pos..]`, advancing `*pos`.
/// `data` is the batch's whole records section; the record shares it.
#[inline]
pub(crate) fn decode_record(
    data: &Bytes,
    pos: &mut usize,
    ctx: &RecordContext,
) -> Result<Record, RecordsError> {
    let all = data.get(*pos..).unwrap_or_default();
    let mut cur = all;
    let len = get_varint32(&mut cur).map_err(RecordsError::varint("length"))?;
    let Ok(len) = usize::try_from(len) else {
        return Err(RecordsError::InvalidLength {
            what: "record",
            length: i64::from(len),
        });
    };
    let Some(body) = cur.get(..len) else {
        return Err(RecordsError::Overrun {
            field: "record",
            container: "batch",
        });
    };
    let body_start = *pos + (all.len() - cur.len());
    let Some((&attributes, mut rest)) = body.split_first() else {
        return Err(RecordsError::Overrun {
            field: "attributes",
            container: "record",
        });
    };
    let ts_delta = get_varint64(&mut rest).map_err(RecordsError::varint("timestamp delta"))?;
    let off_delta = get_varint32(&mut rest).map_err(RecordsError::varint("offset delta"))?;
    let klen = get_varint32(&mut rest).map_err(RecordsError::varint("key length"))?;
    let key = take_span(&mut rest, len, klen, "key", true)?;
    let vlen = get_varint32(&mut rest).map_err(RecordsError::varint("value length"))?;
    let value = take_span(&mut rest, len, vlen, "value", true)?;
    let hcount = get_varint32(&mut rest).map_err(RecordsError::varint("header count"))?;
    // Each header needs at least two bytes (two varint lengths).
    let Ok(hcount) = u32::try_from(hcount) else {
        return Err(RecordsError::InvalidLength {
            what: "header count",
            length: i64::from(hcount),
        });
    };
    if hcount as usize > rest.len() / 2 {
        return Err(RecordsError::Overrun {
            field: "headers",
            container: "record",
        });
    }
    let headers_start = len - rest.len();
    for _ in 0..hcount {
        parse_header(&mut rest, len)?;
    }
    if !rest.is_empty() {
        return Err(RecordsError::RecordLengthMismatch {
            declared: len,
            used: len - rest.len(),
        });
    }
    *pos = body_start + len;
    let timestamp = match ctx.timestamp_type {
        TimestampType::LogAppendTime => ctx.max_timestamp,
        TimestampType::CreateTime => ctx.base_timestamp.wrapping_add(ts_delta),
    };
    Ok(Record {
        offset: ctx.base_offset.wrapping_add(i64::from(off_delta)),
        timestamp,
        timestamp_type: ctx.timestamp_type,
        attributes: attributes as i8,
        buf: data.slice(body_start..body_start + len),
        key: span(key),
        value: span(value),
        headers: Span::new(headers_start, len),
        header_count: hcount,
    })
}

/// Bytes of a length-prefixed optional field (`-1` for null).
#[inline]
const fn opt_len(len: Option<usize>) -> usize {
    match len {
        None => 1,
        Some(n) => varint_len(n as i64) + n,
    }
}

/// Size of a record's body (everything after its length varint).
#[inline]
pub(crate) fn body_len(
    ts_delta: i64,
    off_delta: i32,
    key_len: Option<usize>,
    value_len: Option<usize>,
    headers: &[Header],
) -> usize {
    let mut n = 1
        + varint_len(ts_delta)
        + varint_len(off_delta as i64)
        + opt_len(key_len)
        + opt_len(value_len);
    n += varint_len(headers.len() as i64);
    for h in headers {
        n += opt_len(Some(h.key.len())) + opt_len(h.value.as_ref().map(|v| v.len()));
    }
    n
}

/// Size of a whole record, length prefix included.
#[inline]
pub(crate) fn record_len(
    ts_delta: i64,
    off_delta: i32,
    key_len: Option<usize>,
    value_len: Option<usize>,
    headers: &[Header],
) -> usize {
    let body = body_len(ts_delta, off_delta, key_len, value_len, headers);
    varint_len(body as i64) + body
}

/// Writes one record into `buf`, which must have room for exactly its
/// [`record_len`]; lengths must already be checked to fit in an i32.
#[inline]
pub(crate) fn encode_record(
    buf: &mut impl BufMut,
    body_len: usize,
    ts_delta: i64,
    off_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    put_varint32(buf, body_len as i32);
    buf.put_u8(0);
    put_varint64(buf, ts_delta);
    put_varint32(buf, off_delta);
    put_opt(buf, key);
    put_opt(buf, value);
    put_varint32(buf, headers.len() as i32);
    for h in headers {
        put_opt(buf, Some(&h.key));
        put_opt(buf, h.value.as_deref());
    }
}

#[inline]
fn put_opt(buf: &mut impl BufMut, v: Option<&[u8]>) {
    match v {
        None => put_varint32(buf, -1),
        Some(b) => {
            put_varint32(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}
