//! One mock broker: accepts connections and answers requests in order.

use bytes::{BufMut, Bytes, BytesMut};
use klamm_protocol::generated::{AnyRequest, AnyResponse};
use klamm_protocol::{ApiKey, Decodable, Encodable, RequestHeader, ResponseHeader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::sasl::SaslSession;
use super::{Fault, Shared, handlers, lock};

/// Largest request the mock accepts.
const MAX_REQUEST: usize = 64 << 20;

/// Wraps accepted sockets in TLS when the cluster was started with a certificate.
#[cfg(feature = "tls")]
pub(super) type Acceptor = Option<tokio_rustls::TlsAcceptor>;
/// Without the `tls` feature the mock speaks plain TCP only.
#[cfg(not(feature = "tls"))]
pub(super) type Acceptor = Option<std::convert::Infallible>;

pub(super) async fn serve(listener: TcpListener, broker: i32, state: Shared, acceptor: Acceptor) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        match &acceptor {
            #[cfg(feature = "tls")]
            Some(tls) => {
                let tls = tls.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    if let Ok(stream) = tls.accept(stream).await {
                        connection(stream, broker, state).await;
                    }
                });
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            None => {
                tokio::spawn(connection(stream, broker, state.clone()));
            }
        }
    }
}

/// Reads one request frame; `None` at end of stream or on a frame the mock refuses.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Bytes> {
    let len = stream.read_i32().await.ok()?;
    let len = usize::try_from(len).ok().filter(|l| *l <= MAX_REQUEST)?;
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

async fn connection<S>(mut stream: S, broker: i32, state: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut sasl = SaslSession::default();
    while let Some(mut frame) = read_frame(&mut stream).await {
        let Some(head) = frame.get(..4) else { return };
        let (key, version) = (
            i16::from_be_bytes([head[0], head[1]]),
            i16::from_be_bytes([head[2], head[3]]),
        );
        let Some(key) = ApiKey::from_i16(key) else {
            return;
        };
        let Ok(header) = RequestHeader::decode(&mut frame, key.request_header_version(version))
        else {
            return;
        };
        let correlation_id = header.correlation_id;

        let fault = {
            let mut s = lock(&state);
            *s.counts.entry((broker, key)).or_default() += 1;
            s.take_fault(broker, key)
        };
        let mut injected = None;
        match fault {
            Some(Fault::Disconnect) => return,
            Some(Fault::Garbage) => {
                let _ = stream.write_all(&(-7i32).to_be_bytes()).await;
                return;
            }
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::Error(code)) => injected = Some(code),
            Some(Fault::Truncate) | None => {}
        }
        let truncate = fault == Some(Fault::Truncate);

        // ApiVersions may be answered at a different version (v0 on UNSUPPORTED_VERSION).
        let answer = if key == ApiKey::ApiVersions {
            Some(handlers::api_versions(&state, version))
        } else {
            let Ok(request) = AnyRequest::decode(key, &mut frame, version) else {
                return;
            };
            let allowed = sasl.authenticated(&state)
                || matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
            if !allowed {
                return; // Kafka closes unauthenticated connections that skip SASL
            }
            respond(&state, &mut sasl, broker, version, injected, &request).map(|r| (r, version))
        };
        let Some((response, response_version)) = answer else {
            return; // no handler: behave like a broker that drops the connection
        };

        let mut out = BytesMut::with_capacity(256);
        out.put_i32(0);
        let encoded = ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut out, key.response_header_version(response_version))
            .and_then(|()| response.encode(&mut out, response_version));
        if encoded.is_err() {
            return;
        }
        let size = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&size.to_be_bytes());
        let bytes = if truncate {
            &out[..out.len() / 2]
        } else {
            &out[..]
        };
        if stream.write_all(bytes).await.is_err() || truncate {
            return;
        }
        if sasl.should_close() {
            return;
        }
    }
}

fn respond(
    state: &Shared,
    sasl: &mut SaslSession,
    broker: i32,
    version: i16,
    injected: Option<klamm_protocol::ErrorCode>,
    request: &AnyRequest,
) -> Option<AnyResponse> {
    match request {
        AnyRequest::Metadata(r) => Some(AnyResponse::Metadata(Box::new(handlers::metadata(
            state, version, injected, r,
        )))),
        AnyRequest::FindCoordinator(r) => Some(AnyResponse::FindCoordinator(Box::new(
            handlers::find_coordinator(state, version, injected, r),
        ))),
        AnyRequest::CreateTopics(r) => Some(AnyResponse::CreateTopics(Box::new(
            handlers::create_topics(state, broker, injected, r),
        ))),
        AnyRequest::SaslHandshake(r) => Some(AnyResponse::SaslHandshake(Box::new(
            sasl.handshake(state, r),
        ))),
        AnyRequest::SaslAuthenticate(r) => Some(AnyResponse::SaslAuthenticate(Box::new(
            sasl.authenticate(state, r),
        ))),
        other => {
            let (handler, ctx) = {
                let s = lock(state);
                let handler = s.handlers.get(&other.api_key())?.clone();
                (handler, s.context(broker, version, injected))
            };
            handler(&ctx, other)
        }
    }
}
