//! Tagged fields this code does not know.

use bytes::Bytes;

/// A tagged field whose tag the generated code does not know (sent by a
/// newer peer). Kept as raw bytes so that re-encoding a decoded message
/// reproduces the input exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawTaggedField {
    /// The tag number.
    pub tag: u32,
    /// The field's value, as it was on the wire.
    pub data: Bytes,
}
