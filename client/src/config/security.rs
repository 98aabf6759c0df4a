//! TLS and SASL settings, as a builder or from `ssl.*` / `sasl.*` properties.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::Properties;
use crate::error::Error;

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum CaSource {
    /// The operating system's store.
    #[default]
    System,
    /// A PEM bundle on disk.
    PemFile(PathBuf),
    /// A PEM bundle in memory.
    Pem(Vec<u8>),
}

/// A client certificate and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientCert {
    /// PEM files on disk.
    Files { cert: PathBuf, key: PathBuf },
    /// PEM in memory.
    Pem { cert: Vec<u8>, key: Vec<u8> },
}

/// TLS settings. Hostname verification is on by default.
///
/// Properties: `ssl.ca.location` (PEM bundle; otherwise the system roots),
/// `ssl.truststore.location` with `ssl.truststore.type=PEM`,
/// `ssl.certificate.location` + `ssl.key.location` (PEM client certificate and
/// unencrypted key), `ssl.endpoint.identification.algorithm` (`https`, the
/// default, or empty / `none` to skip the hostname check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub(crate) ca: CaSource,
    pub(crate) client_cert: Option<ClientCert>,
    pub(crate) verify_hostname: bool,
    pub(crate) server_name: Option<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca: CaSource::System,
            client_cert: None,
            verify_hostname: true,
            server_name: None,
        }
    }
}

impl TlsConfig {
    /// TLS trusting the system roots, verifying hostnames.
    pub fn new() -> Self {
        Self::default()
    }
    /// Trusts the CA certificates in this PEM file instead of the system roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = CaSource::PemFile(path.into());
        self
    }
    /// Trusts the CA certificates in this PEM text instead of the system roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = CaSource::Pem(pem.into());
        self
    }
    /// Presents this client certificate chain and key (PEM files).
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(ClientCert::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }
    /// Presents this client certificate chain and key (PEM text).
    pub fn client_cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.client_cert = Some(ClientCert::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }
    /// Whether the certificate must name the host we connect to (default true).
    /// The chain is verified either way.
    pub fn verify_hostname(mut self, on: bool) -> Self {
        self.verify_hostname = on;
        self
    }
    /// Sends and verifies this name (SNI) instead of each broker's host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Takes `ssl.*` properties; `None` when there are none.
    pub(crate) fn from_properties(props: &mut Properties) -> Result<Option<Self>, Error> {
        let entries = props.take_prefixed("ssl.");
        if entries.is_empty() {
            return Ok(None);
        }
        let mut tls = Self::default();
        let (mut cert, mut key, mut truststore, mut truststore_type) = (None, None, None, None);
        for (k, v) in entries {
            match k.as_str() {
                "ssl.ca.location" => tls.ca = CaSource::PemFile(v.into()),
                "ssl.truststore.location" => truststore = Some(v),
                "ssl.truststore.type" => truststore_type = Some(v),
                "ssl.certificate.location" => cert = Some(v),
                "ssl.key.location" => key = Some(v),
                "ssl.endpoint.identification.algorithm" => {
                    tls.verify_hostname = match v.trim().to_ascii_lowercase().as_str() {
                        "https" => true,
                        "" | "none" => false,
                        other => {
                            return Err(Error::config(
                                k,
                                format!("`{other}` is not `https` or empty"),
                            ));
                        }
                    }
                }
                "ssl.key.password" => {
                    return Err(Error::config(
                        k,
                        "encrypted private keys are not supported; decrypt the key to unencrypted PKCS#8 PEM",
                    ));
                }
                _ => return Err(Error::config(k, "unknown or unsupported TLS property")),
            }
        }
        if let Some(path) = truststore {
            match truststore_type
                .as_deref()
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                Some("PEM") => tls.ca = CaSource::PemFile(path.into()),
                _ => {
                    return Err(Error::config(
                        "ssl.truststore.type",
                        "only PEM trust stores are supported (set ssl.truststore.type=PEM or use ssl.ca.location)",
                    ));
                }
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => {
                tls.client_cert = Some(ClientCert::Files {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(Error::config(
                    "ssl.key.location",
                    "missing; ssl.certificate.location needs it",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "ssl.certificate.location",
                    "missing; ssl.key.location needs it",
                ));
            }
        }
        Ok(Some(tls))
    }
}

/// A SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN`: username and password in the clear (use TLS).
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628) with a token from a [`TokenProvider`].
    OAuthBearer,
}

impl SaslMechanism {
    /// The name Kafka uses in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Self::Plain),
            "SCRAM-SHA-256" => Ok(Self::ScramSha256),
            "SCRAM-SHA-512" => Ok(Self::ScramSha512),
            "OAUTHBEARER" => Ok(Self::OAuthBearer),
            other => Err(format!(
                "`{other}` is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
            )),
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An OAuth bearer token and how long it stays valid.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthToken {
    /// The token (usually a JWT).
    pub value: String,
    /// How long from now the token is valid, when known; the client
    /// re-authenticates before it runs out.
    pub lifetime: Option<Duration>,
    /// SASL extensions (`key=value`) sent with the token.
    pub extensions: Vec<(String, String)>,
}

impl OAuthToken {
    /// A token with an optional lifetime and no extensions.
    pub fn new(value: impl Into<String>, lifetime: Option<Duration>) -> Self {
        Self {
            value: value.into(),
            lifetime,
            extensions: Vec::new(),
        }
    }

    /// Adds a SASL extension.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((key.into(), value.into()));
        self
    }
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("value", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// The future a [`TokenProvider`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<OAuthToken, String>> + Send + 'a>>;

/// Supplies OAUTHBEARER tokens; called on every (re-)authentication.
pub trait TokenProvider: Send + Sync + 'static {
    /// A fresh (or cached, still valid) token; the error text ends up in
    /// [`Error::Authentication`].
    fn token(&self) -> TokenFuture<'_>;
}

/// SASL settings.
///
/// Properties: `sasl.mechanism` (or librdkafka's `sasl.mechanisms`),
/// `sasl.username`, `sasl.password`, or Java's `sasl.jaas.config` with
/// `username="..." password="..."`. OAUTHBEARER needs a [`TokenProvider`], set
/// through the builder.
#[derive(Clone)]
pub struct SaslConfig {
    pub(crate) mechanism: SaslMechanism,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) token_provider: Option<Arc<dyn TokenProvider>>,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("token_provider", &self.token_provider.is_some())
            .finish()
    }
}

impl SaslConfig {
    fn with_credentials(mechanism: SaslMechanism, username: String, password: String) -> Self {
        Self {
            mechanism,
            username,
            password,
            token_provider: None,
        }
    }
    /// `PLAIN` with these credentials.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_credentials(SaslMechanism::Plain, username.into(), password.into())
    }
    /// `SCRAM-SHA-256` with these credentials.
    pub fn scram_sha256(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_credentials(SaslMechanism::ScramSha256, username.into(), password.into())
    }
    /// `SCRAM-SHA-512` with these credentials.
    pub fn scram_sha512(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_credentials(SaslMechanism::ScramSha512, username.into(), password.into())
    }
    /// `OAUTHBEARER` with tokens from `provider`.
    pub fn oauthbearer(provider: impl TokenProvider) -> Self {
        Self {
            mechanism: SaslMechanism::OAuthBearer,
            username: String::new(),
            password: String::new(),
            token_provider: Some(Arc::new(provider)),
        }
    }
    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        match self.mechanism {
            SaslMechanism::OAuthBearer if self.token_provider.is_none() => Err(Error::config(
                "sasl.mechanism",
                "OAUTHBEARER needs a token provider: build with SaslConfig::oauthbearer",
            )),
            SaslMechanism::OAuthBearer => Ok(()),
            _ if self.username.is_empty() => {
                Err(Error::config("sasl.username", "missing or empty"))
            }
            _ => Ok(()),
        }
    }

    /// Takes `sasl.*` properties; `None` when there are none.
    pub(crate) fn from_properties(props: &mut Properties) -> Result<Option<Self>, Error> {
        let entries = props.take_prefixed("sasl.");
        if entries.is_empty() {
            return Ok(None);
        }
        let (mut mechanism, mut username, mut password) = (None, None, None);
        for (k, v) in entries {
            match k.as_str() {
                "sasl.mechanism" | "sasl.mechanisms" => {
                    mechanism = Some(SaslMechanism::parse(&v).map_err(|r| Error::config(&k, r))?)
                }
                "sasl.username" => username = Some(v),
                "sasl.password" => password = Some(v),
                "sasl.jaas.config" => {
                    let (u, p) = parse_jaas(&v).map_err(|r| Error::config(&k, r))?;
                    username = Some(u);
                    password = Some(p);
                }
                _ => return Err(Error::config(k, "unknown or unsupported SASL property")),
            }
        }
        let mechanism = mechanism.unwrap_or(SaslMechanism::Plain);
        let config = Self::with_credentials(
            mechanism,
            username.unwrap_or_default(),
            password.unwrap_or_default(),
        );
        Ok(Some(config))
    }
}

/// Reads `username="..."` and `password="..."` out of a Java JAAS line such as
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`.
fn parse_jaas(line: &str) -> Result<(String, String), String> {
    fn value(line: &str, key: &str) -> Option<String> {
        let mut rest = line;
        while let Some(pos) = rest.find(key) {
            let before_ok = rest[..pos].chars().last().is_none_or(|c| c.is_whitespace());
            let after = rest[pos + key.len()..].trim_start();
            if before_ok {
                if let Some(after) = after.strip_prefix('=') {
                    let after = after.trim_start().strip_prefix('"')?;
                    let end = after.find('"')?;
                    return Some(after[..end].to_owned());
                }
            }
            rest = &rest[pos + key.len()..];
        }
        None
    }
    let user = value(line, "username").ok_or("no username=\"...\" found")?;
    let pass = value(line, "password").ok_or("no password=\"...\" found")?;
    Ok((user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaas_line_yields_credentials() {
        let (u, p) = parse_jaas(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3 cr=t";"#,
        )
        .unwrap();
        assert_eq!((u.as_str(), p.as_str()), ("alice", "s3 cr=t"));
        assert!(parse_jaas("PlainLoginModule required;").is_err());
    }

    #[test]
    fn tls_properties() {
        let mut props: Properties = [
            ("ssl.ca.location", "/ca.pem"),
            ("ssl.endpoint.identification.algorithm", ""),
        ]
        .into_iter()
        .collect();
        let tls = TlsConfig::from_properties(&mut props).unwrap().unwrap();
        assert_eq!(tls.ca, CaSource::PemFile("/ca.pem".into()));
        assert!(!tls.verify_hostname);
        let mut props: Properties = [("ssl.truststore.location", "/t.jks")]
            .into_iter()
            .collect();
        let e = TlsConfig::from_properties(&mut props).unwrap_err();
        assert!(e.to_string().contains("ssl.truststore.type"), "{e}");
        let mut props: Properties = [("ssl.certificate.location", "/c.pem")]
            .into_iter()
            .collect();
        let e = TlsConfig::from_properties(&mut props).unwrap_err();
        assert!(e.to_string().contains("ssl.key.location"), "{e}");
    }

    #[test]
    fn oauthbearer_needs_a_provider() {
        let mut props: Properties = [("sasl.mechanism", "OAUTHBEARER")].into_iter().collect();
        let sasl = SaslConfig::from_properties(&mut props).unwrap().unwrap();
        let e = sasl.validate().unwrap_err();
        assert!(e.to_string().contains("token provider"), "{e}");
        let mut props: Properties = [("sasl.mechanism", "GSSAPI")].into_iter().collect();
        let e = SaslConfig::from_properties(&mut props).unwrap_err();
        assert!(e.to_string().contains("sasl.mechanism"), "{e}");
    }

    #[test]
    fn debug_hides_secrets() {
        let s = format!("{:?}", SaslConfig::plain("u", "hunter2"));
        assert!(!s.contains("hunter2"));
    }
}
