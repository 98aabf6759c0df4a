//! Bringing a fresh socket to a usable [`Connection`]: TCP (DNS resolved on
//! every connect), optional TLS, ApiVersions, optional SASL. Only then is the
//! connection handed out.

use std::sync::Arc;

use klamm_protocol::generated::ApiVersionsRequest;
use klamm_protocol::{ApiKey, ErrorCode, Message, StrBytes, VersionRange};
use tokio::net::TcpStream;
use tracing::Instrument as _;

use super::connection::{BrokerAddr, Connection, decode_frame, encode_request};
use super::driver::{self, DriverConfig, DriverHandle};
use super::versions::VersionTable;
use crate::config::ClientConfig;
use crate::error::{Error, ErrorContext};

/// Opens connections with one client's settings. Built once per client, so the
/// TLS configuration (CA bundle, client certificate) is loaded only once.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    config: Arc<ClientConfig>,
    client_id: StrBytes,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Connector {
    pub(crate) fn new(config: Arc<ClientConfig>) -> Result<Self, Error> {
        #[cfg(feature = "tls")]
        let tls = match config.tls() {
            Some(tls) => Some(super::tls::client_config(tls)?),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        if config.tls().is_some() {
            return Err(Error::config(
                "security.protocol",
                "TLS was requested but klamm was built without its `tls` feature",
            ));
        }
        Ok(Self {
            client_id: StrBytes::from(config.client_id()),
            config,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    pub(crate) fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Connects, negotiates versions and authenticates, within
    /// `socket.connection.setup.timeout.ms`.
    pub(crate) async fn connect(&self, broker: &BrokerAddr) -> Result<Connection, Error> {
        let label = broker.label();
        let span = tracing::debug_span!("connect", broker = %label);
        let timeout = self.config.connect_timeout();
        let attempt = self.connect_inner(broker).instrument(span);
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::Connect {
                addr: format!("{}:{}", broker.host, broker.port),
                source: Arc::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connection setup took longer than {timeout:?}"),
                )),
            }),
        }
    }

    async fn connect_inner(&self, broker: &BrokerAddr) -> Result<Connection, Error> {
        let addr = format!("{}:{}", broker.host, broker.port);
        let connect_err = |e: std::io::Error| Error::Connect {
            addr: addr.clone(),
            source: Arc::new(e),
        };
        // Resolve on every connect: a broker's address may change while its name does not.
        let resolved: Vec<_> = tokio::net::lookup_host((broker.host.as_str(), broker.port))
            .await
            .map_err(connect_err)?
            .collect();
        let mut last_err =
            std::io::Error::new(std::io::ErrorKind::NotFound, "name resolved to no address");
        let mut tcp = None;
        for sock in resolved {
            match TcpStream::connect(sock).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        let tcp = tcp.ok_or_else(|| connect_err(last_err))?;
        // Requests are small and latency-bound; Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
        tracing::debug!(broker = %broker.label(), "tcp connected");

        let driver_config = DriverConfig {
            broker: Arc::from(broker.label()),
            max_frame_size: self.config.max_frame_size(),
            pipeline_limit: self.config.pipeline_limit(),
            idle_timeout: self.config.connections_max_idle(),
        };
        let driver = match self.tls_for(broker)? {
            #[cfg(feature = "tls")]
            Some((tls, name)) => {
                let stream = super::tls::handshake(tcp, tls, &name, &broker.label()).await?;
                driver::spawn(stream, driver_config)
            }
            _ => driver::spawn(tcp, driver_config),
        };
        self.finish(driver, broker).await
    }

    #[cfg(feature = "tls")]
    fn tls_for(
        &self,
        broker: &BrokerAddr,
    ) -> Result<Option<(Arc<rustls::ClientConfig>, String)>, Error> {
        Ok(self.tls.as_ref().map(|tls| {
            let name = self
                .config
                .tls()
                .and_then(|t| t.server_name.clone())
                .unwrap_or_else(|| broker.host.clone());
            (tls.clone(), name)
        }))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_for(&self, _broker: &BrokerAddr) -> Result<Option<()>, Error> {
        Ok(None)
    }

    /// Runs ApiVersions and SASL over a started driver.
    pub(crate) async fn finish(
        &self,
        driver: DriverHandle,
        broker: &BrokerAddr,
    ) -> Result<Connection, Error> {
        let versions =
            negotiate_versions(&driver, &self.client_id, self.config.request_timeout()).await;
        let versions = match versions {
            Ok(v) => v,
            Err(e) => {
                driver.poison(format!("handshake failed: {e}"));
                return Err(e);
            }
        };
        tracing::debug!(broker = %broker.label(), apis = versions.iter().count(), "versions negotiated");
        let conn = Connection {
            driver,
            versions: Arc::new(versions),
            broker: Arc::new(broker.clone()),
            client_id: self.client_id.clone(),
            request_timeout: self.config.request_timeout(),
        };
        if let Some(sasl) = self.config.sasl() {
            match super::sasl::authenticate(&conn, sasl).await {
                Ok(lifetime) => {
                    if let Some(lifetime) = lifetime {
                        super::sasl::schedule_reauthentication(&conn, sasl.clone(), lifetime);
                    }
                }
                Err(e) => {
                    conn.driver.poison(format!("authentication failed: {e}"));
                    return Err(e);
                }
            }
        }
        Ok(conn)
    }
}

/// ApiVersions at our highest version; when the broker answers
/// UNSUPPORTED_VERSION (in a v0 body, carrying its own ApiVersions range),
/// retry at the highest version it offers, or v0.
pub(crate) async fn negotiate_versions(
    driver: &DriverHandle,
    client_id: &StrBytes,
    timeout: std::time::Duration,
) -> Result<VersionTable, Error> {
    let ours: VersionRange = <ApiVersionsRequest as Message>::VERSIONS;
    let mut version = ours.max;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static("klamm"))
        .with_client_software_version(StrBytes::from_static(env!("CARGO_PKG_VERSION")));
    loop {
        let frame = encode_request(&request, version, client_id)?;
        let raw = driver
            .round_trip(frame, "ApiVersions", timeout, true)
            .await?;
        let response = match decode_frame::<ApiVersionsRequest>(raw.clone(), version) {
            Ok(r) => r,
            // A broker that does not know our version answers in v0 layout.
            Err(first) => match decode_frame::<ApiVersionsRequest>(raw, 0) {
                Ok(r) if ErrorCode::from_code(r.error_code) == ErrorCode::UnsupportedVersion => r,
                _ => {
                    return Err(Error::Decode {
                        broker: driver.broker().to_string(),
                        api: "ApiVersions",
                        version,
                        source: first,
                    });
                }
            },
        };
        match ErrorCode::from_code(response.error_code) {
            ErrorCode::None => return Ok(VersionTable::from_response(&response)),
            ErrorCode::UnsupportedVersion if version > 0 => {
                let theirs = VersionTable::from_response(&response).get(ApiKey::ApiVersions);
                let next = theirs
                    .and_then(|t| ours.highest_common(&t))
                    .filter(|v| *v < version)
                    .unwrap_or(0);
                tracing::debug!(broker = %driver.broker(), from = version, to = next, "ApiVersions version rejected, retrying lower");
                version = next;
            }
            code => {
                return Err(Error::Broker {
                    api: "ApiVersions",
                    code,
                    message: None,
                    context: ErrorContext::default(),
                });
            }
        }
    }
}
