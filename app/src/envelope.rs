//! The wire format: `{"schema": "Content:1", "data": {...}}`.
//!
//! Plain JSON so that services in any language can read and write it; the
//! schema reference travels with every message, so a consumer can tell a
//! message it understands from one it does not before decoding the data.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::schema::{Schema, SchemaRef};

/// Why a record's value did not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The record has no value (a tombstone).
    #[error("the record has no value (null), not a schema envelope")]
    NullValue,
    /// The value is not a JSON object with `schema` (a string) and `data`.
    #[error(
        "the record value is not a schema envelope {{\"schema\": \"ID:VERSION\", \"data\": ...}}: {0}"
    )]
    NotEnvelope(#[source] serde_json::Error),
    /// The value is not JSON at all (untyped JSON handlers).
    #[error("the record value is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The envelope's `schema` is not `ID:VERSION`.
    #[error(transparent)]
    BadSchemaRef(#[from] crate::schema::SchemaRefError),
    /// The message carries another schema (id or version) than the handler's
    /// type.
    #[error("schema mismatch: expected {expected}, the message carries `{found}`")]
    SchemaMismatch {
        /// The handler's type.
        expected: SchemaRef,
        /// What the message says.
        found: String,
    },
    /// The schema matches but `data` does not fit the type.
    #[error("the data of a {schema} message does not match its type: {source}")]
    Data {
        /// The schema the message carried.
        schema: SchemaRef,
        /// serde's explanation (path, line, column).
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Serialize)]
struct Out<'a, T: Schema> {
    schema: SchemaText<T>,
    data: &'a T,
}

/// `ID:VERSION` written straight into the output (escaped by serde_json),
/// without formatting it into a string per message first.
struct SchemaText<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Schema> Serialize for SchemaText<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}:{}", T::ID, T::VERSION))
    }
}

/// A decoded envelope whose data is still raw JSON text.
#[derive(Debug, Deserialize)]
pub struct RawEnvelope<'a> {
    /// The schema reference as sent (`ID:VERSION`, not yet checked).
    #[serde(borrow)]
    pub schema: std::borrow::Cow<'a, str>,
    /// The data, unparsed.
    #[serde(borrow)]
    pub data: &'a RawValue,
}

/// Appends `message` as an envelope to `out`.
pub fn encode_into<T: Schema>(message: &T, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    serde_json::to_writer(
        out,
        &Out {
            schema: SchemaText::<T>(std::marker::PhantomData),
            data: message,
        },
    )
}

/// `message` as an envelope.
pub fn encode<T: Schema>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    encode_into(message, &mut out)?;
    Ok(out)
}

/// Reads the envelope without looking at the data.
pub fn decode_raw(value: Option<&[u8]>) -> Result<RawEnvelope<'_>, DecodeError> {
    let value = value.ok_or(DecodeError::NullValue)?;
    serde_json::from_slice(value).map_err(DecodeError::NotEnvelope)
}

/// Decodes a `T`, checking the schema id and version first.
pub fn decode<T: Schema>(value: Option<&[u8]>) -> Result<T, DecodeError> {
    let raw = decode_raw(value)?;
    let expected = T::schema_ref();
    if !expected.matches(&raw.schema) {
        return Err(DecodeError::SchemaMismatch {
            expected,
            found: raw.schema.into_owned(),
        });
    }
    serde_json::from_str(raw.data.get()).map_err(|source| DecodeError::Data {
        schema: expected,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Content {
        id: u64,
        title: String,
    }
    crate::schema!(Content, "Content", 1);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ContentV2 {
        id: u64,
    }
    crate::schema!(ContentV2, "Content", 2);

    #[test]
    fn wire_format_is_schema_and_data() {
        let m = Content {
            id: 7,
            title: "hi \"there\"".into(),
        };
        let bytes = encode(&m).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"schema": "Content:1", "data": {"id": 7, "title": "hi \"there\""}})
        );
        assert_eq!(decode::<Content>(Some(&bytes)).unwrap(), m);
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Quoted(u8);
    crate::schema!(Quoted, "odd\"id\\", 3);

    #[test]
    fn schema_ids_are_escaped() {
        let bytes = encode(&Quoted(1)).unwrap();
        assert_eq!(bytes, br#"{"schema":"odd\"id\\:3","data":1}"#);
        assert_eq!(decode::<Quoted>(Some(&bytes)).unwrap(), Quoted(1));
    }

    #[test]
    fn accepts_envelopes_written_elsewhere() {
        // Another service's encoder: different key order, whitespace, escapes.
        let text = br#" { "data" : {"title":"\u00e9","id":3} , "schema" : "Content:1" } "#;
        let m = decode::<Content>(Some(text)).unwrap();
        assert_eq!(m.title, "é");
    }

    #[test]
    fn mismatch_names_both_sides() {
        let bytes = encode(&Content {
            id: 1,
            title: "t".into(),
        })
        .unwrap();
        let err = decode::<ContentV2>(Some(&bytes)).unwrap_err();
        match &err {
            DecodeError::SchemaMismatch { expected, found } => {
                assert_eq!(expected.to_string(), "Content:2");
                assert_eq!(found, "Content:1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "schema mismatch: expected Content:2, the message carries `Content:1`"
        );
    }

    #[test]
    fn bad_values_are_typed_errors() {
        assert!(matches!(
            decode::<Content>(None),
            Err(DecodeError::NullValue)
        ));
        for bad in [
            &b"not json"[..],
            b"{}",
            b"{\"schema\": 1, \"data\": {}}",
            b"{\"schema\": \"Content:1\"}",
            b"[1,2]",
            b"{\"schema\": \"Content:1\", \"data\": {",
        ] {
            assert!(
                matches!(
                    decode::<Content>(Some(bad)),
                    Err(DecodeError::NotEnvelope(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let wrong_data = br#"{"schema":"Content:1","data":{"id":"x"}}"#;
        assert!(matches!(
            decode::<Content>(Some(wrong_data)),
            Err(DecodeError::Data { .. })
        ));
    }
}
