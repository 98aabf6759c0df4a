#![doc = include_str!("../README.md")]

#[cfg(test)]
mod codec_tests;
pub mod compression;
pub mod error;
pub mod generated;
pub mod message;
pub mod primitives;
pub mod records;
#[cfg(test)]
mod test_support;
pub mod version;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use generated::{ApiKey, ErrorCode, RequestHeader, ResponseHeader};
pub use message::{Decodable, Encodable, Message, Request, Route, decode_request, decode_response};
pub use primitives::{RawTaggedField, StrBytes, TaggedFieldsSeen, Uuid};
pub use version::VersionRange;
