//! The wire's building blocks: fixed-width integers, varints, strings, bytes
//! and arrays, each read with its length checked against what remains.

pub mod decode;
pub mod encode;
mod str_bytes;
mod tagged;
mod uuid;
pub mod varint;

pub use str_bytes::StrBytes;
pub use tagged::{RawTaggedField, TaggedFieldsSeen};
pub use uuid::Uuid;
