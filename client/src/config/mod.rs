//! Client configuration: a typed builder, or Kafka's property names.
//!
//! ```
//! use klamm::config::ClientConfig;
//! let config = ClientConfig::builder()
//!     .bootstrap(["localhost:9092"])
//!     .client_id("demo")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.client_id(), "demo");
//!
//! let config = ClientConfig::from_pairs([
//!     ("bootstrap.servers", "a:9092,b:9092"),
//!     ("request.timeout.ms", "5000"),
//! ])
//! .unwrap();
//! assert_eq!(config.bootstrap().len(), 2);
//! ```

mod properties;
pub(crate) mod security;

use std::time::Duration;

pub use properties::Properties;
pub use security::{OAuthToken, SaslConfig, SaslMechanism, TlsConfig, TokenFuture, TokenProvider};

use crate::error::Error;

/// Settings shared by every part of the client (connections, metadata, pool).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    bootstrap: Vec<String>,
    client_id: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    metadata_max_age: Duration,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    connections_max_idle: Option<Duration>,
    max_frame_size: usize,
    pipeline_limit: usize,
    tls: Option<TlsConfig>,
    sasl: Option<SaslConfig>,
}

impl ClientConfig {
    /// A builder with Kafka's defaults.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// Builds from `(property, value)` pairs; every property must be known.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, Error>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut props: Properties = pairs.into_iter().collect();
        let config = Self::from_properties(&mut props)?;
        props.finish()?;
        Ok(config)
    }

    /// Takes the client's properties out of `props`, leaving the rest (producer,
    /// consumer keys) for the layer above, which calls [`Properties::finish`].
    ///
    /// Known keys: `bootstrap.servers`, `client.id`, `request.timeout.ms`,
    /// `socket.connection.setup.timeout.ms`, `metadata.max.age.ms`,
    /// `reconnect.backoff.ms`, `reconnect.backoff.max.ms`,
    /// `connections.max.idle.ms`, `receive.message.max.bytes`,
    /// `security.protocol`, `ssl.*` (see [`TlsConfig`]), `sasl.*` (see
    /// [`SaslConfig`]).
    pub fn from_properties(props: &mut Properties) -> Result<Self, Error> {
        let mut b = Self::builder();
        if let Some(servers) = props.take("bootstrap.servers") {
            b = b.bootstrap(servers.split(',').map(str::trim).filter(|s| !s.is_empty()));
        }
        if let Some(id) = props.take("client.id") {
            b = b.client_id(id);
        }
        if let Some(d) = props.take_millis("request.timeout.ms")? {
            b = b.request_timeout(d);
        }
        if let Some(d) = props.take_millis("socket.connection.setup.timeout.ms")? {
            b = b.connect_timeout(d);
        }
        if let Some(d) = props.take_millis("metadata.max.age.ms")? {
            b = b.metadata_max_age(d);
        }
        if let Some(d) = props.take_millis("reconnect.backoff.ms")? {
            b = b.reconnect_backoff(d);
        }
        if let Some(d) = props.take_millis("reconnect.backoff.max.ms")? {
            b = b.reconnect_backoff_max(d);
        }
        if let Some(d) = props.take_parsed("connections.max.idle.ms", |s| {
            // Kafka's clients treat -1 as "never close idle connections".
            if s == "-1" {
                Ok(None)
            } else {
                properties::parse_millis(s).map(Some)
            }
        })? {
            b = b.connections_max_idle(d);
        }
        if let Some(n) = props.take_usize("receive.message.max.bytes")? {
            b = b.max_frame_size(n);
        }
        let protocol = props
            .take_parsed("security.protocol", |s| {
                match s.to_ascii_uppercase().as_str() {
                    "PLAINTEXT" => Ok((false, false)),
                    "SSL" => Ok((true, false)),
                    "SASL_PLAINTEXT" => Ok((false, true)),
                    "SASL_SSL" => Ok((true, true)),
                    _ => Err(format!(
                        "`{s}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                    )),
                }
            })?
            .unwrap_or((false, false));
        let tls = TlsConfig::from_properties(props)?;
        let sasl = SaslConfig::from_properties(props)?;
        match (protocol.0, tls) {
            (true, tls) => b = b.tls(tls.unwrap_or_default()),
            (false, Some(_)) => {
                return Err(Error::config(
                    "security.protocol",
                    "ssl.* properties are set but security.protocol is not SSL or SASL_SSL",
                ));
            }
            (false, None) => {}
        }
        match (protocol.1, sasl) {
            (true, Some(sasl)) => b = b.sasl(sasl),
            (true, None) => {
                return Err(Error::config(
                    "sasl.mechanism",
                    "security.protocol asks for SASL but no sasl.mechanism is set",
                ));
            }
            (false, Some(_)) => {
                return Err(Error::config(
                    "security.protocol",
                    "sasl.* properties are set but security.protocol is not SASL_PLAINTEXT or SASL_SSL",
                ));
            }
            (false, None) => {}
        }
        b.build()
    }

    /// Bootstrap addresses (`host:port`).
    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }
    /// The `client.id` sent in every request header.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// How long a request may wait for its response.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// How long a TCP connect plus TLS/SASL handshake may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Metadata older than this is refreshed in the background.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }
    /// First reconnect delay.
    pub fn reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }
    /// Largest reconnect delay.
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }
    /// Idle connections are closed after this long (`None`: never).
    pub fn connections_max_idle(&self) -> Option<Duration> {
        self.connections_max_idle
    }
    /// Largest frame accepted from a broker, in bytes.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }
    /// Requests in flight at once on one connection.
    pub fn pipeline_limit(&self) -> usize {
        self.pipeline_limit
    }
    /// TLS settings, when TLS is on.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }
    /// SASL settings, when SASL is on.
    pub fn sasl(&self) -> Option<&SaslConfig> {
        self.sasl.as_ref()
    }
}

/// Builder for [`ClientConfig`]; defaults are Kafka's.
#[derive(Debug, Clone)]
pub struct ClientConfigBuilder {
    config: ClientConfig,
}

impl Default for ClientConfigBuilder {
    fn default() -> Self {
        Self {
            config: ClientConfig {
                bootstrap: Vec::new(),
                client_id: "klamm".to_owned(),
                request_timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(10),
                metadata_max_age: Duration::from_secs(300),
                reconnect_backoff: Duration::from_millis(50),
                reconnect_backoff_max: Duration::from_secs(1),
                connections_max_idle: Some(Duration::from_secs(540)),
                max_frame_size: 100_000_000,
                pipeline_limit: 100,
                tls: None,
                sasl: None,
            },
        }
    }
}

impl ClientConfigBuilder {
    /// Bootstrap addresses (`host:port`); any one of them is enough.
    pub fn bootstrap<S: Into<String>>(mut self, addrs: impl IntoIterator<Item = S>) -> Self {
        self.config.bootstrap = addrs.into_iter().map(Into::into).collect();
        self
    }
    /// `client.id` (default `klamm`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }
    /// `request.timeout.ms` (default 30 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }
    /// `socket.connection.setup.timeout.ms` (default 10 s), covering TLS and SASL too.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    /// `metadata.max.age.ms` (default 5 min).
    pub fn metadata_max_age(mut self, d: Duration) -> Self {
        self.config.metadata_max_age = d;
        self
    }
    /// `reconnect.backoff.ms` (default 50 ms).
    pub fn reconnect_backoff(mut self, d: Duration) -> Self {
        self.config.reconnect_backoff = d;
        self
    }
    /// `reconnect.backoff.max.ms` (default 1 s).
    pub fn reconnect_backoff_max(mut self, d: Duration) -> Self {
        self.config.reconnect_backoff_max = d;
        self
    }
    /// `connections.max.idle.ms` (default 9 min; `None` never closes).
    pub fn connections_max_idle(mut self, d: Option<Duration>) -> Self {
        self.config.connections_max_idle = d;
        self
    }
    /// `receive.message.max.bytes`: largest frame accepted (default 100 MB).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame_size = bytes;
        self
    }
    /// Requests pipelined on one connection before callers wait (default 100).
    pub fn pipeline_limit(mut self, n: usize) -> Self {
        self.config.pipeline_limit = n;
        self
    }
    /// Turns TLS on.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }
    /// Turns SASL on.
    pub fn sasl(mut self, sasl: SaslConfig) -> Self {
        self.config.sasl = Some(sasl);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<ClientConfig, Error> {
        let c = self.config;
        if c.bootstrap.is_empty() {
            return Err(Error::config("bootstrap.servers", "no address given"));
        }
        for addr in &c.bootstrap {
            crate::conn::split_host_port(addr)
                .map_err(|reason| Error::config("bootstrap.servers", reason))?;
        }
        if c.request_timeout.is_zero() {
            return Err(Error::config("request.timeout.ms", "must be positive"));
        }
        if c.connect_timeout.is_zero() {
            return Err(Error::config(
                "socket.connection.setup.timeout.ms",
                "must be positive",
            ));
        }
        if c.pipeline_limit == 0 {
            return Err(Error::config("pipeline_limit", "must be at least 1"));
        }
        if c.max_frame_size < 64 || c.max_frame_size > i32::MAX as usize {
            return Err(Error::config(
                "receive.message.max.bytes",
                format!("{} is outside 64..=2147483647", c.max_frame_size),
            ));
        }
        if c.reconnect_backoff_max < c.reconnect_backoff {
            return Err(Error::config(
                "reconnect.backoff.max.ms",
                "is smaller than reconnect.backoff.ms",
            ));
        }
        if let Some(sasl) = &c.sasl {
            sasl.validate()?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_map_to_settings() {
        let c = ClientConfig::from_pairs([
            ("bootstrap.servers", "a:1, b:2"),
            ("client.id", "me"),
            ("request.timeout.ms", "1234"),
            ("metadata.max.age.ms", "1000"),
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "100"),
            ("connections.max.idle.ms", "-1"),
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap(), ["a:1", "b:2"]);
        assert_eq!(c.client_id(), "me");
        assert_eq!(c.request_timeout(), Duration::from_millis(1234));
        assert_eq!(c.metadata_max_age(), Duration::from_secs(1));
        assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(100));
        assert_eq!(c.connections_max_idle(), None);
        assert!(c.tls().is_none());
        assert_eq!(c.sasl().unwrap().mechanism(), SaslMechanism::ScramSha512);
    }

    #[test]
    fn unknown_and_invalid_properties_are_named() {
        let e =
            ClientConfig::from_pairs([("bootstrap.servers", "a:1"), ("bootstrap.server", "b:1")])
                .unwrap_err();
        assert!(e.to_string().contains("`bootstrap.server`"), "{e}");
        let e = ClientConfig::from_pairs([("bootstrap.servers", "a")]).unwrap_err();
        assert!(e.to_string().contains("bootstrap.servers"), "{e}");
        let e =
            ClientConfig::from_pairs([("bootstrap.servers", "a:1"), ("security.protocol", "TLS")])
                .unwrap_err();
        assert!(e.to_string().contains("security.protocol"), "{e}");
        let e = ClientConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("sasl.username"), "{e}");
        let e = ClientConfig::from_pairs([("bootstrap.servers", "a:1"), ("ssl.bogus", "x")])
            .unwrap_err();
        assert!(e.to_string().contains("ssl.bogus"), "{e}");
    }

    #[test]
    fn leftovers_stay_for_the_layer_above() {
        let mut props: Properties = [("bootstrap.servers", "a:1"), ("linger.ms", "5")]
            .into_iter()
            .collect();
        ClientConfig::from_properties(&mut props).unwrap();
        assert_eq!(props.take("linger.ms").as_deref(), Some("5"));
        props.finish().unwrap();
    }
}
