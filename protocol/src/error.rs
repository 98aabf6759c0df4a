//! Errors from encoding and decoding messages.
//!
//! Each error names the message (or nested struct), the field and the version
//! being processed, so a failure in a 300-field response points at the byte
//! that was wrong instead of just saying "bad input".

use crate::primitives::varint::VarintError;

/// Why a value could not be encoded at the requested version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The message does not exist at this version.
    #[error("version not supported by this message")]
    UnsupportedVersion,
    /// The field holds a non-default value but this version has no such
    /// field, and the schema does not mark it ignorable.
    #[error("field has a non-default value but does not exist in this version")]
    FieldNotInVersion,
    /// The field is null but this version cannot carry null.
    #[error("field is null but this version does not allow null")]
    NullNotAllowed,
    /// A string, byte buffer or array is longer than the wire format can say.
    #[error("length {len} exceeds the maximum {max}")]
    TooLong {
        /// Length of the value.
        len: usize,
        /// Largest length the encoding can express.
        max: usize,
    },
}

/// A value could not be encoded: which message, field and version, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {message}.{field} at version {version}: {kind}")]
pub struct EncodeError {
    /// Message or nested struct name (Kafka's spelling).
    pub message: &'static str,
    /// Field name (Kafka's spelling); empty when the error is about the message.
    pub field: &'static str,
    /// Version being encoded.
    pub version: i16,
    /// What went wrong.
    pub kind: EncodeErrorKind,
}

impl EncodeError {
    /// Builds an error with its context.
    pub fn new(
        message: &'static str,
        field: &'static str,
        version: i16,
        kind: EncodeErrorKind,
    ) -> Self {
        Self {
            message,
            field,
            version,
            kind,
        }
    }
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The message does not exist at this version.
    #[error("version not supported by this message")]
    UnsupportedVersion,
    /// The input ended before the value did.
    #[error("truncated: needed {needed} bytes, {remaining} remain")]
    Truncated {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A length or count is negative (or null) where null is not allowed.
    #[error("negative length {0} where null is not allowed")]
    NegativeLength(i64),
    /// An array count promises more elements than the remaining bytes can hold.
    #[error("array of {count} elements needs at least {needed} bytes, {remaining} remain")]
    TooManyElements {
        /// Element count read from the wire.
        count: usize,
        /// Minimum bytes those elements need.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A varint is malformed.
    #[error(transparent)]
    Varint(#[from] VarintError),
    /// A known tagged field's value did not fill exactly its declared size.
    #[error("tagged field {tag} declared {declared} bytes, value left {left} unread")]
    TaggedFieldSize {
        /// Tag number.
        tag: u32,
        /// Declared size in bytes.
        declared: usize,
        /// Bytes left unread by the field's decoder.
        left: usize,
    },
    /// Bytes remain after a complete body.
    #[error("{0} trailing bytes after the body")]
    TrailingBytes(usize),
}

/// Bytes could not be decoded: which message, field and version, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {message}.{field} at version {version}: {kind}")]
pub struct DecodeError {
    /// Message or nested struct name (Kafka's spelling).
    pub message: &'static str,
    /// Field name (Kafka's spelling); empty when the error is about the message.
    pub field: &'static str,
    /// Version being decoded.
    pub version: i16,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// Builds an error with its context.
    pub fn new(
        message: &'static str,
        field: &'static str,
        version: i16,
        kind: DecodeErrorKind,
    ) -> Self {
        Self {
            message,
            field,
            version,
            kind,
        }
    }
}
