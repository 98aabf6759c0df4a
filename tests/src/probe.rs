//! A hand-built ApiVersions v0 probe and a raw request helper over plain TCP.
//!
//! Independent of the client under test on purpose: the harness must be able
//! to tell "the broker is up" even when Klamm's own connection code is broken.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response the probe accepts; ApiVersions answers are a few hundred bytes.
const MAX_RESPONSE: usize = 1 << 20;
/// Correlation id of every probe request ("KLMM", easy to spot in captures).
const CORRELATION_ID: i32 = 0x4B4C_4D4D;
const API_VERSIONS: i16 = 18;

/// What went wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Could not resolve, connect, write or read.
    #[error("{addr}: {source}")]
    Io {
        /// The address probed.
        addr: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The broker closed the connection before a whole response arrived.
    #[error("{addr}: connection closed before a whole response arrived")]
    Closed {
        /// The address probed.
        addr: String,
    },
    /// The response did not have the expected shape.
    #[error("{addr}: malformed response: {reason}")]
    Malformed {
        /// The address probed.
        addr: String,
        /// What did not fit.
        reason: String,
    },
    /// ApiVersions answered with a non-zero error code.
    #[error("{addr}: ApiVersions error code {code}")]
    ErrorCode {
        /// The address probed.
        addr: String,
        /// Kafka's error code.
        code: i16,
    },
}

/// One entry of an ApiVersions answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API key.
    pub api_key: i16,
    /// Lowest version the broker accepts.
    pub min_version: i16,
    /// Highest version the broker accepts.
    pub max_version: i16,
}

/// Sends one request with a v1 request header (non-flexible APIs) and returns
/// the response payload after the correlation id (response header v0).
pub fn request_v1(
    addr: &str,
    api_key: i16,
    api_version: i16,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ProbeError> {
    let io = |source| ProbeError::Io {
        addr: addr.to_owned(),
        source,
    };
    let client_id = b"klamm-tests";
    let mut frame = Vec::with_capacity(4 + 10 + client_id.len() + body.len());
    let size = 10 + client_id.len() + body.len();
    frame.extend_from_slice(&i32::try_from(size).unwrap_or(i32::MAX).to_be_bytes());
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&api_version.to_be_bytes());
    frame.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    frame.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    frame.extend_from_slice(client_id);
    frame.extend_from_slice(body);

    let sockaddr =
        addr.to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| ProbeError::Malformed {
                addr: addr.to_owned(),
                reason: "address resolves to nothing".into(),
            })?;
    let mut stream = TcpStream::connect_timeout(&sockaddr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(&frame).map_err(io)?;

    let mut size = [0u8; 4];
    read_all(&mut stream, &mut size, addr)?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|&n| (4..=MAX_RESPONSE).contains(&n))
        .ok_or_else(|| ProbeError::Malformed {
            addr: addr.to_owned(),
            reason: format!("response size {size}"),
        })?;
    let mut payload = vec![0u8; size];
    read_all(&mut stream, &mut payload, addr)?;
    let (cid, rest) = payload.split_at(4);
    let cid = i32::from_be_bytes([cid[0], cid[1], cid[2], cid[3]]);
    if cid != CORRELATION_ID {
        return Err(ProbeError::Malformed {
            addr: addr.to_owned(),
            reason: format!("correlation id {cid}, sent {CORRELATION_ID}"),
        });
    }
    Ok(rest.to_vec())
}

fn read_all(stream: &mut TcpStream, buf: &mut [u8], addr: &str) -> Result<(), ProbeError> {
    stream.read_exact(buf).map_err(|source| {
        if source.kind() == std::io::ErrorKind::UnexpectedEof
            || source.kind() == std::io::ErrorKind::ConnectionReset
        {
            ProbeError::Closed {
                addr: addr.to_owned(),
            }
        } else {
            ProbeError::Io {
                addr: addr.to_owned(),
                source,
            }
        }
    })
}

/// Asks `addr` for its supported API versions with ApiVersions v0.
pub fn api_versions(addr: &str, timeout: Duration) -> Result<Vec<ApiVersionRange>, ProbeError> {
    let body = request_v1(addr, API_VERSIONS, 0, &[], timeout)?;
    decode_api_versions_v0(&body).map_err(|reason| match reason {
        Decoded::Code(code) => ProbeError::ErrorCode {
            addr: addr.to_owned(),
            code,
        },
        Decoded::Malformed(reason) => ProbeError::Malformed {
            addr: addr.to_owned(),
            reason,
        },
    })
}

enum Decoded {
    Code(i16),
    Malformed(String),
}

/// error_code int16, then an int32 count of (api_key, min, max) int16 triples.
fn decode_api_versions_v0(body: &[u8]) -> Result<Vec<ApiVersionRange>, Decoded> {
    let i16_at = |at: usize| {
        body.get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
    };
    let code = i16_at(0).ok_or_else(|| Decoded::Malformed("no error code".into()))?;
    if code != 0 {
        return Err(Decoded::Code(code));
    }
    let count = body
        .get(2..6)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Decoded::Malformed("no api count".into()))?;
    let count = usize::try_from(count)
        .ok()
        .filter(|&n| 6 + n * 6 <= body.len())
        .ok_or_else(|| Decoded::Malformed(format!("{count} apis in {} bytes", body.len())))?;
    (0..count)
        .map(|i| {
            let at = 6 + i * 6;
            match (i16_at(at), i16_at(at + 2), i16_at(at + 4)) {
                (Some(api_key), Some(min_version), Some(max_version)) => Ok(ApiVersionRange {
                    api_key,
                    min_version,
                    max_version,
                }),
                _ => Err(Decoded::Malformed(format!("entry {i} truncated"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entries() {
        let body = [0, 0, 0, 0, 0, 2, 0, 18, 0, 0, 0, 4, 0, 3, 0, 0, 0, 12];
        let apis = decode_api_versions_v0(&body).ok().unwrap();
        assert_eq!(
            apis,
            vec![
                ApiVersionRange {
                    api_key: 18,
                    min_version: 0,
                    max_version: 4
                },
                ApiVersionRange {
                    api_key: 3,
                    min_version: 0,
                    max_version: 12
                },
            ]
        );
    }

    #[test]
    fn rejects_a_count_larger_than_the_body() {
        let body = [0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 18];
        assert!(matches!(
            decode_api_versions_v0(&body),
            Err(Decoded::Malformed(_))
        ));
    }

    #[test]
    fn reports_the_error_code() {
        assert!(matches!(
            decode_api_versions_v0(&[0, 35, 0, 0, 0, 0]),
            Err(Decoded::Code(35))
        ));
    }
}
