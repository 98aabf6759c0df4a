//! Connections to brokers: frames, the sans-io codec, the tokio driver, version
//! negotiation, TLS and SASL handshakes, and the per-broker pool.
//!
//! ```text
//! Pool ──get(broker, kind)──▶ Connector::connect: DNS → TCP → [TLS] → ApiVersions → [SASL]
//!                                          │
//! Connection::send(req) ── encode ──▶ driver task (codec: correlation ids, frames) ──▶ socket
//!              ▲                                    │
//!              └──────── decode ◀── response frame ─┘
//! ```

mod codec;
mod connection;
mod driver;
mod frame;
mod handshake;
mod pool;
pub(crate) mod sasl;
#[cfg(feature = "tls")]
mod tls;
mod versions;

pub use connection::{BrokerAddr, ConnKind, Connection};
pub use frame::FrameError;
pub use versions::VersionTable;

pub(crate) use handshake::Connector;
pub(crate) use pool::Pool;

/// Splits `host:port` (or `[v6]:port`) into its parts.
pub(crate) fn split_host_port(addr: &str) -> Result<(&str, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("`{addr}` is not host:port"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(format!("`{addr}` has no host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{addr}` has no valid port"))?;
    Ok((host, port))
}
