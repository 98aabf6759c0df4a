//! Output of consumed records: raw, JSON, or a kcat-style format string.

use std::io::Write;

use klamm::consumer::Message;
use serde_json::json;

/// Backslash escapes in user-given delimiters and formats: `\n`, `\t`, `\r`,
/// `\0`, `\\`; anything else stays as written.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// One piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    KeyLen,
    Value,
    ValueLen,
    Timestamp,
    Headers,
}

/// A parsed kcat-style format string (`%t %p %o %k %K %s %S %T %h %%`).
#[derive(Debug, Clone)]
pub(crate) struct Format {
    pieces: Vec<Piece>,
}

impl Format {
    /// Parses `spec` after unescaping; an unknown `%x` is an error naming it.
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        let spec = unescape(spec);
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut chars = spec.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                let mut buf = [0u8; 4];
                text.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let piece = match chars.next() {
                Some('%') => {
                    text.push(b'%');
                    continue;
                }
                Some('t') => Piece::Topic,
                Some('p') => Piece::Partition,
                Some('o') => Piece::Offset,
                Some('k') => Piece::Key,
                Some('K') => Piece::KeyLen,
                Some('s') => Piece::Value,
                Some('S') => Piece::ValueLen,
                Some('T') => Piece::Timestamp,
                Some('h') => Piece::Headers,
                Some(other) => return Err(format!("unknown format token %{other}")),
                None => return Err("the format ends with a lone %".into()),
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// Writes one message.
    pub(crate) fn write(&self, out: &mut impl Write, m: &Message) -> std::io::Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.write_all(t)?,
                Piece::Topic => out.write_all(m.topic().as_bytes())?,
                Piece::Partition => write!(out, "{}", m.partition())?,
                Piece::Offset => write!(out, "{}", m.offset())?,
                Piece::Key => out.write_all(m.key().unwrap_or_default())?,
                Piece::KeyLen => write!(out, "{}", m.key().map_or(-1, |k| k.len() as i64))?,
                Piece::Value => out.write_all(m.value().unwrap_or_default())?,
                Piece::ValueLen => write!(out, "{}", m.value().map_or(-1, |v| v.len() as i64))?,
                Piece::Timestamp => write!(out, "{}", m.timestamp())?,
                Piece::Headers => {
                    for (i, h) in m.headers().enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        out.write_all(h.key)?;
                        out.write_all(b"=")?;
                        out.write_all(h.value.unwrap_or_default())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Bytes as JSON: a string when UTF-8, else an array of numbers; null stays null.
fn bytes_json(b: Option<&[u8]>) -> serde_json::Value {
    match b {
        None => serde_json::Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => json!(s),
            Err(_) => json!(b),
        },
    }
}

/// One message as a JSON object.
pub(crate) fn message_json(m: &Message) -> serde_json::Value {
    json!({
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "timestamp": m.timestamp(),
        "key": bytes_json(m.key()),
        "value": bytes_json(m.value()),
        "headers": m.headers().map(|h| json!([bytes_json(Some(h.key)), bytes_json(h.value)])).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_common_sequences() {
        assert_eq!(unescape(r"a\nb\tc\\d\0"), "a\nb\tc\\d\0");
        assert_eq!(unescape(r"\x"), r"\x");
        assert_eq!(unescape("|"), "|");
    }

    #[test]
    fn parses_format_tokens() {
        let f = Format::parse(r"%t/%p@%o %k=%s (%S) %% %T %h\n").unwrap();
        assert_eq!(f.pieces.first(), Some(&Piece::Topic));
        assert!(f.pieces.contains(&Piece::Headers));
        assert_eq!(f.pieces.last(), Some(&Piece::Text(b"\n".to_vec())));
        assert!(f.pieces.contains(&Piece::Text(b") % ".to_vec())));
        assert_eq!(Format::parse("%x").unwrap_err(), "unknown format token %x");
        assert!(Format::parse("abc%").is_err());
    }
}
