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

/// A decoded record. Key, value and header bytes are slices of the batch's
/// (decompressed) buffer: no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset in the partition.
    pub offset: i64,
    /// Absolute timestamp in ms (-1 when the producer set none, magic 0).
    pub timestamp: i64,
    /// Which clock `timestamp` comes from.
    pub timestamp_type: TimestampType,
    /// The record's own attribute byte (unused by Kafka; kept for fidelity).
    pub attributes: i8,
    /// The key, or `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, or `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in wire order.
    pub headers: Headers,
}

/// A record's headers: a validated view of their wire bytes, iterated
/// lazily so decoding a record allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    raw: Bytes,
    count: u32,
}

impl Headers {
    /// Number of headers (duplicates counted).
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the record has no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in wire order.
    pub fn iter(&self) -> HeadersIter {
        HeadersIter {
            raw: self.raw.clone(),
            left: self.count,
        }
    }

    /// The headers collected into a vector.
    pub fn to_vec(&self) -> Vec<Header> {
        self.iter().collect()
    }

    /// Values of every header named `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = Option<Bytes>> + 'a {
        self.iter().filter(move |h| h.key == key).map(|h| h.value)
    }
}

impl IntoIterator for &Headers {
    type Item = Header;
    type IntoIter = HeadersIter;
    fn into_iter(self) -> HeadersIter {
        self.iter()
    }
}

/// Iterator over [`Headers`].
#[derive(Debug, Clone)]
pub struct HeadersIter {
    raw: Bytes,
    left: u32,
}

impl Iterator for HeadersIter {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the record was decoded, so these
        // reads cannot fail; on a bug we end the iteration rather than panic.
        let mut cur = &self.raw[..];
        let total = cur.len();
        let (k0, k1, v) = parse_header(&mut cur, total).ok()?;
        let used = total - cur.len();
        let key = self.raw.slice(k0..k1);
        let value = v.map(|(a, b)| self.raw.slice(a..b));
        self.raw = self.raw.slice(used..);
        Some(Header { key, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

type Span = (usize, usize);

/// Parses one header from `cur`, returning key and value spans relative to
/// the position where `cur` had `base_len` bytes left.
fn parse_header(
    cur: &mut &[u8],
    base_len: usize,
) -> Result<(usize, usize, Option<Span>), RecordsError> {
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
fn take_span(
    cur: &mut &[u8],
    base_len: usize,
    len: i32,
    field: &'static str,
    nullable: bool,
) -> Result<Option<Span>, RecordsError> {
    if len == -1 && nullable {
        return Ok(None);
    }
    let Ok(n) = usize::try_from(len) else {
        return Err(RecordsError::InvalidLength {
            what: field,
            length: i64::from(len),
        });
    };
    if n > cur.len() {
        return Err(RecordsError::Overrun {
            field,
            container: "record",
        });
    }
    let start = base_len - cur.len();
    *cur = &cur[n..];
    Ok(Some((start, start + n)))
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
/// `data` is the batch's whole records section; slices share it.
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
    if len > cur.len() {
        return Err(RecordsError::Overrun {
            field: "record",
            container: "batch",
        });
    }
    let body_start = all.len() - cur.len();
    let mut body = &cur[..len];
    let base = *pos + body_start;
    let attributes = match body.split_first() {
        Some((&a, rest)) => {
            body = rest;
            a as i8
        }
        None => {
            return Err(RecordsError::Overrun {
                field: "attributes",
                container: "record",
            });
        }
    };
    let ts_delta = get_varint64(&mut body).map_err(RecordsError::varint("timestamp delta"))?;
    let off_delta = get_varint32(&mut body).map_err(RecordsError::varint("offset delta"))?;
    let klen = get_varint32(&mut body).map_err(RecordsError::varint("key length"))?;
    let key = take_span(&mut body, len, klen, "key", true)?;
    let vlen = get_varint32(&mut body).map_err(RecordsError::varint("value length"))?;
    let value = take_span(&mut body, len, vlen, "value", true)?;
    let hcount = get_varint32(&mut body).map_err(RecordsError::varint("header count"))?;
    // Each header needs at least two bytes (two varint lengths).
    let Ok(hcount) = u32::try_from(hcount) else {
        return Err(RecordsError::InvalidLength {
            what: "header count",
            length: i64::from(hcount),
        });
    };
    if hcount as usize > body.len() / 2 {
        return Err(RecordsError::Overrun {
            field: "headers",
            container: "record",
        });
    }
    let headers_start = len - body.len();
    for _ in 0..hcount {
        parse_header(&mut body, len)?;
    }
    let headers_end = len - body.len();
    if !body.is_empty() {
        return Err(RecordsError::RecordLengthMismatch {
            declared: len,
            used: headers_end,
        });
    }
    *pos = base + len;
    let slice = |(a, b): Span| data.slice(base + a..base + b);
    let timestamp = match ctx.timestamp_type {
        TimestampType::LogAppendTime => ctx.max_timestamp,
        TimestampType::CreateTime => ctx.base_timestamp.wrapping_add(ts_delta),
    };
    Ok(Record {
        offset: ctx.base_offset.wrapping_add(i64::from(off_delta)),
        timestamp,
        timestamp_type: ctx.timestamp_type,
        attributes,
        key: key.map(slice),
        value: value.map(slice),
        headers: if hcount == 0 {
            Headers::default()
        } else {
            Headers {
                raw: slice((headers_start, headers_end)),
                count: hcount,
            }
        },
    })
}

/// Bytes of a length-prefixed optional field (`-1` for null).
const fn opt_len(len: Option<usize>) -> usize {
    match len {
        None => 1,
        Some(n) => varint_len(n as i64) + n,
    }
}

/// Size of a record's body (everything after its length varint).
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

fn put_opt(buf: &mut impl BufMut, v: Option<&[u8]>) {
    match v {
        None => put_varint32(buf, -1),
        Some(b) => {
            // Callers checked every length fits in an i32.
            put_varint32(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}

/// Writes one record; lengths must already be checked to fit in an i32.
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
    buf.put_i8(0);
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
