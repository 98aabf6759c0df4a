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
mod outbox;
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

/// Fuzzing entry point, not part of the API: feeds `data` to a connection's
/// reader as if a broker sent it, with four requests in flight. The first
/// byte picks how many bytes arrive per read. Must never panic, never
/// allocate beyond the frame limit, and never return more responses than
/// were in flight.
#[doc(hidden)]
pub fn fuzz_response_stream(data: &[u8]) -> usize {
    let Some((&chunk, stream)) = data.split_first() else {
        return 0;
    };
    let chunk = usize::from(chunk).max(1);
    let mut codec: codec::Codec<()> = codec::Codec::new(4096);
    for _ in 0..4 {
        let mut frame = bytes::BytesMut::from(&[0u8, 0, 0, 8, 0, 3, 0, 1, 0, 0, 0, 0][..]);
        codec.start(&mut frame, ());
    }
    let mut matched = 0;
    for piece in stream.chunks(chunk) {
        codec.read_buffer().extend_from_slice(piece);
        loop {
            match codec.next_response() {
                Ok(Some(_)) => matched += 1,
                Ok(None) => break,
                Err(_) => return matched, // the driver drops the connection here
            }
        }
    }
    assert!(matched <= 4, "more responses than requests");
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("a:1"), Ok(("a", 1)));
        assert_eq!(split_host_port("[::1]:9092"), Ok(("::1", 9092)));
        assert!(split_host_port("a").is_err());
        assert!(split_host_port(":1").is_err());
        assert!(split_host_port("a:99999").is_err());
    }

    #[test]
    fn fuzz_entry_matches_valid_streams_and_survives_garbage() {
        let mut data = vec![3u8];
        for id in 0..4i32 {
            data.extend_from_slice(&6i32.to_be_bytes());
            data.extend_from_slice(&id.to_be_bytes());
            data.extend_from_slice(&[0xab, 0xcd]);
        }
        assert_eq!(fuzz_response_stream(&data), 4);
        assert_eq!(fuzz_response_stream(&[1, 0xff, 0xff, 0xff, 0xff]), 0);
        assert_eq!(fuzz_response_stream(&[]), 0);
    }
}
