//! Group and transaction coordinators: FindCoordinator, cached, retried while
//! the coordinator moves (NOT_COORDINATOR), is unavailable or still loading.

use klamm_protocol::generated::FindCoordinatorRequest;
use klamm_protocol::{ErrorCode, StrBytes};
use tokio::time::Instant;

use super::{Client, any_connection};
use crate::backoff::Backoff;
use crate::conn::{BrokerAddr, ConnKind};
use crate::error::{Error, ErrorContext};

/// What a coordinator coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CoordinatorKey {
    /// A consumer group id.
    Group(String),
    /// A transactional id.
    Transaction(String),
}

impl CoordinatorKey {
    fn key_type(&self) -> i8 {
        match self {
            Self::Group(_) => 0,
            Self::Transaction(_) => 1,
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Group(k) | Self::Transaction(k) => k,
        }
    }
}

/// The coordinator for `key`, from cache or FindCoordinator.
pub(super) async fn find(client: &Client, key: &CoordinatorKey) -> Result<BrokerAddr, Error> {
    if let Some(addr) = client
        .inner
        .coordinators
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
    {
        return Ok(addr.clone());
    }
    let config = client.config();
    let deadline = Instant::now() + config.request_timeout();
    let mut backoff = Backoff::new(
        config
            .reconnect_backoff()
            .max(std::time::Duration::from_millis(50)),
        config.reconnect_backoff_max(),
    );
    loop {
        let attempt = lookup(client, key).await;
        let err = match attempt {
            Ok(addr) => {
                tracing::debug!(?key, coordinator = %addr.label(), "coordinator found");
                client
                    .inner
                    .coordinators
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), addr.clone());
                return Ok(addr);
            }
            Err(e) => e,
        };
        let advice = crate::retry::classify(&err);
        let delay = backoff.next_delay();
        if !advice.retriable || Instant::now() + delay > deadline {
            return Err(err);
        }
        tracing::warn!(?key, error = %err, reason = advice.reason, retry_in = ?delay, "coordinator lookup failed, retrying");
        client.report(&err);
        tokio::time::sleep(delay).await;
    }
}

async fn lookup(client: &Client, key: &CoordinatorKey) -> Result<BrokerAddr, Error> {
    let conn = any_connection(&client.inner, ConnKind::Other).await?;
    let version = conn.version_for::<FindCoordinatorRequest>()?;
    let name = StrBytes::from(key.key());
    // v4 batches keys; earlier versions take one key.
    let request = if version >= 4 {
        FindCoordinatorRequest::default()
            .with_key_type(key.key_type())
            .with_coordinator_keys(vec![name])
    } else {
        FindCoordinatorRequest::default()
            .with_key_type(key.key_type())
            .with_key(name)
    };
    let response = conn
        .send_at(&request, version, client.config().request_timeout())
        .await?;
    let (code, message, node, host, port) = if version >= 4 {
        let c = response
            .coordinators
            .first()
            .ok_or_else(|| Error::MetadataMissing {
                what: format!("coordinator entry for {key:?} in FindCoordinator response"),
            })?;
        (
            c.error_code,
            c.error_message.clone(),
            c.node_id,
            c.host.clone(),
            c.port,
        )
    } else {
        (
            response.error_code,
            response.error_message.clone(),
            response.node_id,
            response.host.clone(),
            response.port,
        )
    };
    let code = ErrorCode::from_code(code);
    if code != ErrorCode::None {
        return Err(Error::Broker {
            api: "FindCoordinator",
            code,
            message: message.map(|m| m.as_str().to_owned()),
            context: ErrorContext::broker(conn.broker().id),
        });
    }
    let port = u16::try_from(port).map_err(|_| Error::MetadataMissing {
        what: format!("valid port for coordinator {node} (got {port})"),
    })?;
    Ok(BrokerAddr::new(node, host.as_str(), port))
}
