//! The traits every generated message implements, and request routing.

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::generated::ApiKey;
use crate::version::VersionRange;

/// Writes a value at a given version. Implemented by every generated
/// message and nested struct.
pub trait Encodable {
    /// Appends the value's wire form for `version` to `buf`.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;
}

/// Reads a value at a given version. Implemented by every generated message
/// and nested struct. Strings and byte fields share `buf`'s memory.
pub trait Decodable: Sized {
    /// Reads one value from the front of `buf`, advancing it.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// A top-level schema: a request, a response, a header or a data schema.
pub trait Message: Encodable + Decodable {
    /// Kafka's name for it (`ProduceRequest`).
    const NAME: &'static str;
    /// Versions it exists in.
    const VERSIONS: VersionRange;
    /// Versions using compact encodings and tagged fields, if any.
    const FLEXIBLE_VERSIONS: Option<VersionRange>;
}

/// Where a client must send a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// Any broker (typically the least loaded one).
    AnyBroker,
    /// The active controller (via any broker that forwards in KRaft mode,
    /// or the controller id from `Metadata`).
    Controller,
    /// The group coordinator found with `FindCoordinator` (key type group).
    GroupCoordinator,
    /// The transaction coordinator found with `FindCoordinator` (key type transaction).
    TxnCoordinator,
    /// The leader of the partitions the request names.
    PartitionLeader,
}

/// A request: its API key, its versions, where it goes and what answers it.
pub trait Request: Message {
    /// The API this request belongs to.
    const KEY: ApiKey;
    /// Where a client must send it.
    const ROUTE: Route;
    /// The response type.
    type Response: Message;
}

/// Decodes a whole body (everything after the header) and rejects trailing
/// bytes.
pub fn decode_body<T: Decodable>(
    mut body: Bytes,
    version: i16,
    name: &'static str,
) -> Result<T, DecodeError> {
    let value = T::decode(&mut body, version)?;
    if body.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::new(
            name,
            "",
            version,
            DecodeErrorKind::TrailingBytes(body.len()),
        ))
    }
}

/// Decodes a whole request body for `R`, rejecting trailing bytes.
pub fn decode_request<R: Request>(body: Bytes, version: i16) -> Result<R, DecodeError> {
    decode_body(body, version, R::NAME)
}

/// Decodes a whole response body to `R`, rejecting trailing bytes.
pub fn decode_response<R: Request>(body: Bytes, version: i16) -> Result<R::Response, DecodeError> {
    decode_body(body, version, <R::Response as Message>::NAME)
}

impl ApiKey {
    /// Whether `version` of this API uses flexible encodings.
    pub const fn is_flexible(self, version: i16) -> bool {
        match self.first_flexible_version() {
            Some(first) => version >= first,
            None => false,
        }
    }

    /// The request header version for `version` of this API: 2 for flexible
    /// versions, else 1 (0 only for ControlledShutdown v0, which predates
    /// the client id).
    pub const fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else if matches!(self, ApiKey::ControlledShutdown) && version == 0 {
            0
        } else {
            1
        }
    }

    /// The response header version for `version` of this API: 1 for
    /// flexible versions, else 0. ApiVersions always answers with header
    /// v0 so that a client can read the answer whatever version it sent.
    pub const fn response_header_version(self, version: i16) -> i16 {
        if matches!(self, ApiKey::ApiVersions) {
            0
        } else if self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::{
        ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, ProduceRequest,
    };

    #[test]
    fn header_versions() {
        assert_eq!(ApiKey::Metadata.request_header_version(8), 1);
        assert_eq!(ApiKey::Metadata.request_header_version(9), 2);
        assert_eq!(ApiKey::Metadata.response_header_version(8), 0);
        assert_eq!(ApiKey::Metadata.response_header_version(9), 1);
        assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
        assert_eq!(ApiKey::ControlledShutdown.request_header_version(0), 0);
        assert_eq!(ApiKey::Produce.request_header_version(8), 1);
    }

    #[test]
    fn request_metadata() {
        assert_eq!(ProduceRequest::KEY, ApiKey::Produce);
        assert_eq!(ProduceRequest::ROUTE, Route::PartitionLeader);
        assert_eq!(MetadataRequest::ROUTE, Route::AnyBroker);
        assert_eq!(ApiVersionsRequest::KEY.as_i16(), 18);
        assert_eq!(ApiKey::from_i16(3), Some(ApiKey::Metadata));
        assert_eq!(ApiKey::from_i16(-5), None);
        assert!(ApiKey::Produce.has_messages() && !ApiKey::LeaderAndIsr.has_messages());
        assert_eq!(
            <ApiVersionsResponse as Message>::NAME,
            "ApiVersionsResponse"
        );
    }

    #[test]
    fn whole_body_decode_rejects_trailing_bytes() {
        let mut buf = BytesMut::new();
        ApiVersionsRequest::default().encode(&mut buf, 0).unwrap();
        buf.extend_from_slice(&[0xde, 0xad]);
        let err = decode_request::<ApiVersionsRequest>(buf.freeze(), 0).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::TrailingBytes(2));
        assert_eq!(err.message, "ApiVersionsRequest");
    }
}
