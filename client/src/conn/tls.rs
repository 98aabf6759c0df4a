//! TLS with rustls. The crypto provider is pure Rust (`rustls-rustcrypto`) so
//! a musl build needs no C toolchain; see the crate README.
//!
//! Hostname verification is on by default. Turning it off
//! (`ssl.endpoint.identification.algorithm=`) still verifies the chain.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::TlsConfig;
use crate::config::security::{CaSource, ClientCert};
use crate::error::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls_rustcrypto::provider())
}

/// Builds the rustls configuration once per client.
pub(crate) fn client_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    let roots = Arc::new(load_roots(&tls.ca)?);
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("security.protocol", format!("TLS setup: {e}")))?;
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| Error::config("ssl.ca.location", format!("no usable CA certificate: {e}")))?;
    let builder = if tls.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
    };
    let config = match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let (chain, key) = load_client_cert(cert)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::config("ssl.key.location", format!("unusable client key: {e}"))
            })?
        }
    };
    Ok(Arc::new(config))
}

fn load_roots(ca: &CaSource) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match ca {
        CaSource::System => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(Error::config(
                    "ssl.ca.location",
                    format!(
                        "no system CA certificates found ({} errors); set ssl.ca.location",
                        found.errors.len()
                    ),
                ));
            }
            found.certs
        }
        CaSource::PemFile(path) => CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| Error::config("ssl.ca.location", format!("{}: {e}", path.display())))?,
        CaSource::Pem(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| Error::config("ssl.ca.location", format!("CA PEM: {e}")))?,
    };
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::config(
            "ssl.ca.location",
            "contains no usable CA certificate",
        ));
    }
    Ok(roots)
}

fn load_client_cert(
    cert: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let (chain, key) = match cert {
        ClientCert::Files { cert, key } => (
            CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::config(
                        "ssl.certificate.location",
                        format!("{}: {e}", cert.display()),
                    )
                })?,
            PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::config("ssl.key.location", format!("{}: {e}", key.display()))
            })?,
        ),
        ClientCert::Pem { cert, key } => (
            CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::config("ssl.certificate.location", format!("certificate PEM: {e}"))
                })?,
            PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| Error::config("ssl.key.location", format!("key PEM: {e}")))?,
        ),
    };
    if chain.is_empty() {
        return Err(Error::config(
            "ssl.certificate.location",
            "contains no certificate",
        ));
    }
    Ok((chain, key))
}

/// Runs the TLS handshake; failures say why in words an operator can act on.
pub(crate) async fn handshake(
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
    broker: &str,
) -> Result<TlsStream<TcpStream>, Error> {
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| Error::Tls {
        broker: broker.to_owned(),
        reason: format!("`{server_name}` is not a valid TLS server name: {e}"),
    })?;
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| Error::Tls {
            broker: broker.to_owned(),
            reason: explain(&e, server_name),
        })?;
    tracing::debug!(%broker, "TLS established");
    Ok(stream)
}

/// Turns a handshake error into a reason.
fn explain(err: &std::io::Error, server_name: &str) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return format!("connection failed during the handshake: {err}");
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "unknown CA: the broker's certificate is not signed by a trusted CA (check ssl.ca.location)".into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "name mismatch: the broker's certificate is not valid for `{server_name}` \
             (fix the certificate's SAN, or set ssl.endpoint.identification.algorithm= to skip the check)"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the broker's certificate has expired".into(),
        rustls::Error::InvalidCertificate(other) => format!("invalid broker certificate: {other:?}"),
        other => other.to_string(),
    }
}

/// Verifies the chain but not the name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the name only after the chain verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
