//! SaslHandshake + SaslAuthenticate over a connection, and KIP-368
//! re-authentication before the broker's session lifetime runs out.

use std::time::Duration;

use bytes::Bytes;
use klamm_protocol::generated::{SaslAuthenticateRequest, SaslHandshakeRequest};
use klamm_protocol::{ErrorCode, StrBytes};

use super::{Mechanism, OAuthBearer, Plain, SaslError, Scram, ScramHash};
use crate::config::{SaslConfig, SaslMechanism};
use crate::conn::connection::{Connection, WeakConnection};
use crate::error::Error;

/// More rounds than any mechanism needs; a broker that keeps challenging is broken.
const MAX_ROUNDS: usize = 8;

/// Authenticates `conn`; returns the session lifetime the broker set, if any.
pub(crate) async fn authenticate(
    conn: &Connection,
    sasl: &SaslConfig,
) -> Result<Option<Duration>, Error> {
    let name = sasl.mechanism.name();
    let broker = conn.broker().label();
    let auth_err = |reason: String| Error::Authentication {
        mechanism: name.to_owned(),
        broker: broker.clone(),
        reason,
    };
    let handshake_version = conn.version_for::<SaslHandshakeRequest>()?;
    if handshake_version < 1 {
        return Err(auth_err(
            "the broker only speaks SaslHandshake v0 (raw SASL tokens), which klamm does not support".into(),
        ));
    }
    let handshake = conn
        .send_auth(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static(name)),
            handshake_version,
        )
        .await?;
    if ErrorCode::from_code(handshake.error_code) != ErrorCode::None {
        let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(auth_err(format!(
            "the broker does not enable {name} ({}); it offers [{}]",
            ErrorCode::from_code(handshake.error_code).name(),
            offered.join(", ")
        )));
    }

    let mut mechanism: Box<dyn Mechanism> = match sasl.mechanism {
        SaslMechanism::Plain => Box::new(Plain::new(&sasl.username, &sasl.password)),
        SaslMechanism::ScramSha256 => Box::new(
            Scram::new(ScramHash::Sha256, &sasl.username, &sasl.password)
                .map_err(|e| auth_err(e.0))?,
        ),
        SaslMechanism::ScramSha512 => Box::new(
            Scram::new(ScramHash::Sha512, &sasl.username, &sasl.password)
                .map_err(|e| auth_err(e.0))?,
        ),
        SaslMechanism::OAuthBearer => {
            let provider = sasl
                .token_provider
                .as_ref()
                .ok_or_else(|| auth_err("no token provider configured".into()))?;
            let token = provider
                .token()
                .await
                .map_err(|e| auth_err(format!("token provider failed: {e}")))?;
            Box::new(OAuthBearer::new(&token).map_err(|e: SaslError| auth_err(e.0))?)
        }
    };

    let version = conn.version_for::<SaslAuthenticateRequest>()?;
    let mut outgoing = mechanism.start();
    for _ in 0..MAX_ROUNDS {
        let response = conn
            .send_auth(
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(outgoing)),
                version,
            )
            .await?;
        let code = ErrorCode::from_code(response.error_code);
        if code != ErrorCode::None {
            let message = response
                .error_message
                .as_ref()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_else(|| code.name().to_owned());
            return Err(auth_err(message));
        }
        match mechanism
            .step(&response.auth_bytes)
            .map_err(|e| auth_err(e.0))?
        {
            Some(next) => outgoing = next,
            None => {
                tracing::debug!(%broker, mechanism = name, lifetime_ms = response.session_lifetime_ms, "authenticated");
                let lifetime = u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis);
                return Ok(lifetime);
            }
        }
    }
    Err(auth_err(format!("no result after {MAX_ROUNDS} rounds")))
}

/// Re-authenticates `conn` before each session lifetime runs out (KIP-368):
/// at a random point between 85% and 95% of it, the driver stops taking
/// ordinary requests, the SASL exchange runs, then traffic resumes. The task
/// holds only a weak reference, so it ends with the connection.
pub(crate) fn schedule_reauthentication(conn: &Connection, sasl: SaslConfig, lifetime: Duration) {
    let weak = conn.downgrade();
    tokio::spawn(reauthenticate_loop(weak, sasl, lifetime));
}

async fn reauthenticate_loop(weak: WeakConnection, sasl: SaslConfig, mut lifetime: Duration) {
    loop {
        let mut unit = [0u8; 1];
        let _ = getrandom::fill(&mut unit);
        let fraction = 0.85 + 0.10 * f64::from(unit[0]) / 255.0;
        tokio::time::sleep(lifetime.mul_f64(fraction)).await;
        let Some(conn) = weak.upgrade() else {
            return;
        };
        if conn.is_closed() {
            return;
        }
        conn.driver.pause();
        let result = authenticate(&conn, &sasl).await;
        conn.driver.resume();
        match result {
            Ok(Some(next)) => {
                tracing::debug!(broker = %conn.broker().label(), "re-authenticated");
                lifetime = next;
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(broker = %conn.broker().label(), error = %e, "re-authentication failed");
                conn.driver.poison(format!("re-authentication failed: {e}"));
                return;
            }
        }
    }
}
