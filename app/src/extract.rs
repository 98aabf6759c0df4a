//! What a handler's parameters can be: [`FromRecord`] for the first,
//! [`FromContext`] for the others.

use bytes::Bytes;
use klamm::consumer::Message;
use klamm::protocol::records::Header;

use crate::app::App;
use crate::context::Context;
use crate::envelope::{self, DecodeError};
use crate::schema::{Schema, SchemaRef};

/// A handler's first parameter: what the record is decoded into.
///
/// - any [`Schema`] type: the envelope's schema id and version are checked
///   against the type's, then the data is decoded
///   ([`DecodeError::SchemaMismatch`] when they differ);
/// - [`Bytes`]: the raw value;
/// - [`Message`]: the raw record (topic, partition, offset, key, headers);
/// - [`serde_json::Value`]: the whole value as JSON, unchecked;
/// - [`Untyped`]: the envelope's schema reference and its data as JSON.
pub trait FromRecord: Sized + Send + 'static {
    /// Decodes `message`.
    fn from_record(message: &Message) -> Result<Self, DecodeError>;
}

impl<T: Schema> FromRecord for T {
    fn from_record(message: &Message) -> Result<Self, DecodeError> {
        envelope::decode(message.value())
    }
}

impl FromRecord for Bytes {
    fn from_record(message: &Message) -> Result<Self, DecodeError> {
        message.value_bytes().ok_or(DecodeError::NullValue)
    }
}

impl FromRecord for Message {
    fn from_record(message: &Message) -> Result<Self, DecodeError> {
        Ok(message.clone())
    }
}

impl FromRecord for serde_json::Value {
    fn from_record(message: &Message) -> Result<Self, DecodeError> {
        let value = message.value().ok_or(DecodeError::NullValue)?;
        serde_json::from_slice(value).map_err(DecodeError::NotJson)
    }
}

/// An envelope whose data was not decoded into a type.
#[derive(Debug, Clone, PartialEq)]
pub struct Untyped {
    /// The schema the message says it carries.
    pub schema: SchemaRef,
    /// The data.
    pub data: serde_json::Value,
}

impl FromRecord for Untyped {
    fn from_record(message: &Message) -> Result<Self, DecodeError> {
        let raw = envelope::decode_raw(message.value())?;
        let schema: SchemaRef = raw.schema.parse()?;
        let data = serde_json::from_str(raw.data.get()).map_err(DecodeError::NotEnvelope)?;
        Ok(Untyped { schema, data })
    }
}

/// A handler's further parameters, taken from the [`Context`].
pub trait FromContext: Sized + Send + 'static {
    /// Takes the parameter from `ctx`.
    fn from_context(ctx: &Context) -> Self;
}

impl FromContext for Context {
    fn from_context(ctx: &Context) -> Self {
        ctx.clone()
    }
}

impl FromContext for App {
    fn from_context(ctx: &Context) -> Self {
        ctx.app().clone()
    }
}

/// The consumed record's headers (Kafka allows repeated keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The value of the last header named `key` (`Some(None)`: a null value).
    pub fn get(&self, key: &str) -> Option<Option<&[u8]>> {
        self.0
            .iter()
            .rev()
            .find(|h| h.key.as_ref() == key.as_bytes())
            .map(|h| h.value.as_deref())
    }

    /// The value of the last header named `key` as text, if it is UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

impl FromContext for Headers {
    fn from_context(ctx: &Context) -> Self {
        Headers(ctx.message().headers_vec())
    }
}

/// Where the record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// The topic.
    pub topic: String,
    /// The stream (the topic without the app's prefix).
    pub stream: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch).
    pub timestamp: i64,
    /// The key.
    pub key: Option<Bytes>,
}

impl FromContext for RecordMeta {
    fn from_context(ctx: &Context) -> Self {
        let m = ctx.message();
        RecordMeta {
            topic: m.topic().to_owned(),
            stream: ctx.stream().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp(),
            key: m.key_bytes(),
        }
    }
}
