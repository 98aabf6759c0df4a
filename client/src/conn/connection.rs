//! [`Connection`]: a negotiated, authenticated connection to one broker that
//! sends typed requests at the best common version.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use klamm_protocol::{
    ApiKey, Decodable, Encodable, Message, Request, RequestHeader, ResponseHeader, StrBytes,
    decode_response,
};

use super::driver::{DriverHandle, WeakDriverHandle};
use super::versions::VersionTable;
use crate::error::Error;

/// Which traffic a pooled connection carries. Each kind gets its own socket per
/// broker so a long fetch poll never delays a heartbeat or a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ConnKind {
    /// Produce requests.
    Produce,
    /// Fetch requests (long polls).
    Fetch,
    /// Group coordination (join, sync, heartbeat, commit).
    Group,
    /// Everything else: metadata, admin, coordinator lookups.
    Other,
}

/// Identity of the broker a connection talks to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerAddr {
    /// Node id; bootstrap addresses get negative ids (`-1`, `-2`, ...).
    pub id: i32,
    /// Host name or address, resolved on each connect.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl BrokerAddr {
    /// A broker address.
    pub fn new(id: i32, host: impl Into<String>, port: u16) -> Self {
        Self {
            id,
            host: host.into(),
            port,
        }
    }

    /// `id N at host:port`, the label errors and logs use.
    pub fn label(&self) -> String {
        format!("id {} at {}:{}", self.id, self.host, self.port)
    }
}

/// A live connection to one broker. Cheap to clone; all clones share one
/// socket and pipeline their requests on it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub(crate) driver: DriverHandle,
    pub(crate) versions: Arc<VersionTable>,
    pub(crate) broker: Arc<BrokerAddr>,
    pub(crate) client_id: StrBytes,
    pub(crate) request_timeout: Duration,
}

impl Connection {
    /// The broker this connection talks to.
    pub fn broker(&self) -> &BrokerAddr {
        &self.broker
    }

    /// The versions the broker announced.
    pub fn versions(&self) -> &VersionTable {
        &self.versions
    }

    /// The version `R` would be sent at.
    pub fn version_for<R: Request>(&self) -> Result<i16, Error> {
        self.versions.negotiate::<R>(self.driver.broker())
    }

    /// True once the connection has failed or been closed; the pool replaces it.
    pub fn is_closed(&self) -> bool {
        self.driver.is_closed()
    }

    pub(crate) fn downgrade(&self) -> WeakConnection {
        WeakConnection {
            driver: self.driver.downgrade(),
            versions: self.versions.clone(),
            broker: self.broker.clone(),
            client_id: self.client_id.clone(),
            request_timeout: self.request_timeout,
        }
    }

    /// Sends `request` at the best common version and waits for its response.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response, Error> {
        let version = self.version_for::<R>()?;
        self.send_at(request, version, self.request_timeout).await
    }

    /// Sends at the best common version with a longer timeout (for requests
    /// the broker holds on purpose, such as a Fetch with `max_wait_ms`).
    pub async fn send_with_timeout<R: Request>(
        &self,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response, Error> {
        let version = self.version_for::<R>()?;
        self.send_at(request, version, timeout).await
    }

    /// Sends `request` at an explicit `version`.
    pub async fn send_at<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, Error> {
        let frame = self.encode(request, version)?;
        let response = self
            .driver
            .round_trip(frame, R::KEY.name(), timeout, false)
            .await?;
        self.decode::<R>(response, version)
    }

    /// Sends a request that gets no response (a Produce with acks=0) at the
    /// best common version; returns once it is queued for the socket. A
    /// response the broker sends anyway is dropped.
    pub async fn send_one_way<R: Request>(&self, request: &R) -> Result<(), Error> {
        let version = self.version_for::<R>()?;
        let frame = self.encode(request, version)?;
        self.driver
            .one_way(frame, R::KEY.name(), self.request_timeout)
            .await
    }

    /// Sends during a handshake or re-authentication: bypasses a paused driver.
    pub(crate) async fn send_auth<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, Error> {
        let frame = self.encode(request, version)?;
        let response = self
            .driver
            .round_trip(frame, R::KEY.name(), self.request_timeout, true)
            .await?;
        self.decode::<R>(response, version)
    }

    /// Encodes header and body into one frame with a placeholder correlation id.
    pub(crate) fn encode<R: Request>(&self, request: &R, version: i16) -> Result<BytesMut, Error> {
        encode_request(request, version, &self.client_id)
    }

    /// Decodes a response frame; a frame that does not decode poisons the
    /// connection, since the stream can no longer be trusted.
    pub(crate) fn decode<R: Request>(
        &self,
        frame: Bytes,
        version: i16,
    ) -> Result<R::Response, Error> {
        decode_frame::<R>(frame, version).map_err(|source| {
            self.driver.poison(format!(
                "{} v{version} response did not decode: {source}",
                R::KEY.name()
            ));
            Error::Decode {
                broker: self.driver.broker().to_string(),
                api: R::KEY.name(),
                version,
                source,
            }
        })
    }
}

/// A [`Connection`] that does not keep it open.
#[derive(Debug, Clone)]
pub(crate) struct WeakConnection {
    driver: WeakDriverHandle,
    versions: Arc<VersionTable>,
    broker: Arc<BrokerAddr>,
    client_id: StrBytes,
    request_timeout: Duration,
}

impl WeakConnection {
    pub(crate) fn upgrade(&self) -> Option<Connection> {
        Some(Connection {
            driver: self.driver.upgrade()?,
            versions: self.versions.clone(),
            broker: self.broker.clone(),
            client_id: self.client_id.clone(),
            request_timeout: self.request_timeout,
        })
    }
}

/// Encodes a request frame: size, header (correlation id 0, patched by the
/// driver), body.
pub(crate) fn encode_request<R: Request>(
    request: &R,
    version: i16,
    client_id: &StrBytes,
) -> Result<BytesMut, Error> {
    let key = R::KEY;
    let encode_err = |source| Error::Encode {
        api: key.name(),
        version,
        source,
    };
    let mut buf = BytesMut::with_capacity(128);
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(key.as_i16())
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(client_id.clone()))
        .encode(&mut buf, key.request_header_version(version))
        .map_err(encode_err)?;
    request.encode(&mut buf, version).map_err(encode_err)?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| Error::Encode {
        api: key.name(),
        version,
        source: klamm_protocol::EncodeError::new(
            <R as Message>::NAME,
            "",
            version,
            klamm_protocol::EncodeErrorKind::TooLong {
                len: buf.len() - 4,
                max: i32::MAX as usize,
            },
        ),
    })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

/// Decodes a response frame (header then body) at the request's version.
pub(crate) fn decode_frame<R: Request>(
    mut frame: Bytes,
    version: i16,
) -> Result<R::Response, klamm_protocol::DecodeError> {
    let key: ApiKey = R::KEY;
    ResponseHeader::decode(&mut frame, key.response_header_version(version))?;
    decode_response::<R>(frame, version)
}
